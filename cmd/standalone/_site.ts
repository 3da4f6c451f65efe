/**
 * The one site `vaquero standalone` serves, fed by its own releases: a valid release is staged at once (the site's
 * desired record written, as `POST /prepare` would) and the local agent switches to its bundle in-process, read
 * from the same store the release was published to, with no HTTP loop to itself. The engine restarts on the same
 * store, so machines keep their states and rollouts go on. A rejected release, or one without the site, is logged
 * and the last valid release keeps being served. With `--auto-execute`, the hosts a new release changes are rolled
 * out once it is staged.
 */
import { describeError, isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type StagedSite, stageSite } from "../../pkg/api/index.ts";
import { getBundle, prepareRelease, type ReleaseRecord, sha256Bytes } from "../../pkg/control/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";
import type { Store } from "../../pkg/store/index.ts";
import { powerOf, type ServeOptions, type SiteServer, serveSite } from "../common/serve.ts";

/** Who writes standalone's desired records (`by`). */
export const STAGED_BY = "standalone";

/** What the site is built from. */
export interface SiteDeps {
  serve: Omit<ServeOptions, "staged">;
  store: Store;
  log: Logger;
  env: Record<string, string | undefined>;
  /** The site served (`--site`, or the SoT's only one). */
  site: string;
  /** `--auto-execute`: roll out each new release's changed hosts. */
  autoExecute: boolean;
}

/** The site being served, and how it follows new releases. */
export interface StandaloneSite {
  server: SiteServer;
  /**
   * Called for every release stored after start (poll, webhook, `POST /releases`): stages a valid one that has
   * the site and is not already served, and (with `--auto-execute`) rolls out its changed hosts.
   */
  follow(r: ReleaseRecord): Promise<void>;
  stop(): Promise<void>;
}

/** The site's bundle of release `r`, read back from the store and checked against its digest. */
export async function releaseBundle(store: Store, r: ReleaseRecord, site: string): Promise<Bundle> {
  const sha = r.sites[site]?.bundle;
  if (!sha) throw new VaqueroError("SITE_UNKNOWN", `release ${r.id} has no site "${site}"`);
  const bytes = await getBundle(store, sha);
  if (!bytes) throw new VaqueroError("BUNDLE_MISSING", `release ${r.id}: bundle ${sha} of site "${site}" is not in the store`);
  const got = sha256Bytes(bytes);
  if (got !== sha) throw new VaqueroError("BUNDLE_MISMATCH", `bundle ${sha}: its bytes hash to ${got}`);
  const bundle = JSON.parse(new TextDecoder().decode(bytes)) as Bundle;
  if (bundle.site?.id !== site) throw new VaqueroError("BUNDLE_INVALID", `bundle ${sha} is for site ${String(bundle.site?.id)}`);
  return bundle;
}

/** The id of the rollout `--auto-execute` starts for release `id` (the same id again starts nothing new). */
export function autoRolloutId(id: string): string {
  return `release-${id.toLowerCase().replace(/[^a-z0-9]/g, "-")}`.slice(0, 64);
}

/**
 * Stages `first` (a valid release with the site) and serves it; later releases come through `follow`. `isNew`:
 * `first` was compiled by this start (not found stored), so `--auto-execute` rolls out its changed hosts as it
 * would for a release stored while running.
 */
export async function startSite(d: SiteDeps, first: ReleaseRecord, isNew: boolean): Promise<StandaloneSite> {
  const { store, log, site } = d;
  let power: ReturnType<typeof powerOf> | undefined;
  /** Writes the desired record, builds the engine over the store and starts it. */
  const stage = async (r: ReleaseRecord, bundle: Bundle): Promise<StagedSite> => {
    await prepareRelease(store, { release: r.id, sites: [site], by: STAGED_BY, now: new Date() });
    power = powerOf(bundle, d.env);
    const s = stageSite(bundle, r.id, () => new Date(), { store, power: power.power, log, tickMs: 1000 });
    await s.engine.start();
    return s;
  };
  const staged = await stage(first, await releaseBundle(store, first, site));
  let server: SiteServer;
  try {
    server = await serveSite({ ...d.serve, staged });
  } catch (e) {
    await staged.engine.stop();
    await power?.close();
    throw e;
  }
  log.info({ site, release: first.id }, "staged");

  const rollOut = async (r: ReleaseRecord, s: StagedSite): Promise<void> => {
    const changed = new Set(r.sites[site]?.hosts_changed ?? []);
    const hosts = s.bundle.hosts.filter((h) => changed.has(h.name) && !h.never_provision).map((h) => h.name);
    if (!hosts.length) {
      log.info({ release: r.id }, "no host to roll out (--auto-execute)");
      return;
    }
    try {
      const view = await s.engine.startRollout({ hosts, id: autoRolloutId(r.id) });
      log.info({ release: r.id, rollout: view.id, hosts }, "rollout started (--auto-execute)");
    } catch (e) {
      if (!isVaqueroError(e)) throw e;
      log.warn({ release: r.id, hosts, err: describeError(e) }, "rollout refused by the engine (--auto-execute)");
    }
  };

  if (d.autoExecute && isNew && first.previous !== undefined) await rollOut(first, staged);

  return {
    server,
    async follow(r) {
      const current = server.current();
      if (r.status !== "valid") {
        const errors = r.findings.filter((f) => f.severity === "error").slice(0, 5);
        log.error(
          {
            release: r.id,
            findings: r.findings_total,
            first: errors.map((f) => `${f.file}:${f.line}:${f.column}: ${f.code} ${f.message}`),
            serving: current?.release.id,
          },
          "release rejected; still serving the last valid one",
        );
        return;
      }
      if (!r.sites[site]) {
        log.error(
          { release: r.id, site, sites: Object.keys(r.sites), serving: current?.release.id },
          "the release has no site served here",
        );
        return;
      }
      if (current?.release.id === r.id) return;
      // Read and check the bundle first: a bad one leaves the site as it was.
      const bundle = await releaseBundle(store, r, site);
      const oldPower = power;
      await prepareRelease(store, { release: r.id, sites: [site], by: STAGED_BY, now: new Date() });
      // The engine serves the new release without stopping: machines keep their states, rollouts and power
      // sequences in flight go on; the previous BMC sessions are closed once those have had time to finish.
      power = powerOf(bundle, d.env);
      const next: StagedSite = current
        ? stageSite(bundle, r.id, () => new Date(), { engine: current.engine, power: power.power })
        : await stage(r, bundle);
      await server.switchTo(next);
      if (oldPower) setTimeout(() => void oldPower.close(), 120_000).unref();
      log.info({ site, release: r.id, previous: current?.release.id, changed: r.sites[site]?.hosts_changed.length }, "staged");
      if (d.autoExecute && r.previous !== undefined) await rollOut(r, next);
    },
    async stop() {
      await server.stop();
      await server.current()?.engine.stop();
      await power?.close();
    },
  };
}
