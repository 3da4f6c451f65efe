/**
 * `--auto-execute` on the leader (decision 39): a new valid release is staged on all of its sites, then every site
 * whose hosts it changes gets one `execute` site command for those hosts. Each step is done once per release, across
 * failovers: staging is remembered under `/vaquero/auto-execute/<release>/staged`, and each site's command is
 * appended in the same transaction that creates `/vaquero/auto-execute/<release>/sites/<site>` (and moves the site's
 * command seq by compare-and-swap), so a leader killed half-way leaves the rest to the next one, which appends only
 * what is missing. The rollout id is derived from the release and the site, so it is the same whoever issues it.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { encodeJson, type Store } from "../store/index.ts";
import { commandKey, commandsSeqKey, type SiteCommand } from "./_commands.ts";
import { prepareRelease } from "./_desired.ts";
import { getRelease, latestOf, type ReleaseRecord } from "./_releases.ts";

/** Where `--auto-execute` remembers what it did. */
export const AUTO_EXECUTE_PREFIX = "/vaquero/auto-execute/";
/** Where the site of a rollout started through the server is found (as the agent link's `/execute` writes it). */
const rolloutSiteKey = (id: string): string => `/vaquero/rollout-sites/${id}`;
/** Attempts of one site's compare-and-swap (each lost only to another append on that site). */
const CAS_ATTEMPTS = 50;
const TOKEN_NAME = "auto-execute";

const hex = (s: string, n: number): string => new Bun.CryptoHasher("sha256").update(s).digest("hex").slice(0, n);

/** The rollout `--auto-execute` starts for `release` on `site` (the same on every server). */
export function autoRolloutId(release: string, site: string): string {
  return `r-auto-${hex(`${release}\n${site}`, 20)}`;
}

/** What {@link autoExecute} did. */
export interface AutoExecuteResult {
  /** True when this call staged the release (false: it had been staged before). */
  staged: boolean;
  /** The rollouts this call started, by site. */
  started: Record<string, string>;
}

/**
 * Stages `release` everywhere and starts one rollout of each site's changed hosts, skipping what an earlier call
 * (on this or another server) did. `store` is the leader's fenced store. A rejected release does nothing.
 */
export async function autoExecute(
  store: Store,
  release: ReleaseRecord,
  o: { now?: () => Date; log: Logger; signal?: AbortSignal },
): Promise<AutoExecuteResult> {
  const now = o.now ?? (() => new Date());
  const out: AutoExecuteResult = { staged: false, started: {} };
  if (release.status !== "valid") return out;
  const stagedKey = `${AUTO_EXECUTE_PREFIX}${release.id}/staged`;
  if (!(await store.get(stagedKey))) {
    const sites = await prepareRelease(store, { release: release.id, by: TOKEN_NAME, now: now() });
    await store.txn({ compare: [], success: [{ put: { key: stagedKey, value: encodeJson({ at: now().toISOString() }) } }] });
    out.staged = true;
    o.log.info({ release: release.id, sites: Object.keys(sites).length }, "release staged (--auto-execute)");
  }
  for (const site of Object.keys(release.sites).sort()) {
    if (o.signal?.aborted) break;
    const hosts = release.sites[site]?.hosts_changed ?? [];
    if (hosts.length === 0) continue;
    const rollout = await executeOnce(store, release.id, site, hosts, now);
    if (rollout) {
      out.started[site] = rollout;
      o.log.info({ release: release.id, site, rollout, hosts: hosts.length }, "rollout started (--auto-execute)");
    }
  }
  return out;
}

/** Appends `site`'s execute command for `release` unless it exists; returns the rollout id when this call appended it. */
async function executeOnce(store: Store, release: string, site: string, hosts: string[], now: () => Date): Promise<string | undefined> {
  const marker = `${AUTO_EXECUTE_PREFIX}${release}/sites/${site}`;
  const rollout = autoRolloutId(release, site);
  const seqKey = commandsSeqKey(site);
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    if (await store.get(marker)) return undefined;
    const cur = await store.get(seqKey);
    const last = cur ? Number(new TextDecoder().decode(cur.value)) || 0 : 0;
    const cmd: SiteCommand = {
      seq: last + 1,
      id: `c-auto-${hex(`${release}\n${site}`, 20)}`,
      kind: "execute",
      rollout,
      hosts,
      at: now().toISOString(),
      by: TOKEN_NAME,
    };
    const t = await store.txn({
      compare: [
        { key: marker, target: "version", op: "=", value: 0 },
        cur
          ? { key: seqKey, target: "modRevision", op: "=", value: cur.modRevision }
          : { key: seqKey, target: "version", op: "=", value: 0 },
      ],
      success: [
        { put: { key: seqKey, value: String(cmd.seq) } },
        { put: { key: commandKey(site, cmd.seq), value: encodeJson(cmd) } },
        { put: { key: marker, value: encodeJson({ rollout, seq: cmd.seq }) } },
        { put: { key: rolloutSiteKey(rollout), value: encodeJson({ site }) } },
      ],
    });
    if (t.succeeded) return rollout;
  }
  throw new VaqueroError("COMMAND_CONFLICT", `site ${site}: the command sequence kept changing; try again`);
}

/** At the start of a term: finishes `--auto-execute` for the branch's latest release (a no-op when it was done). */
export async function autoExecuteLatest(
  store: Store,
  ref: string,
  o: { now?: () => Date; log: Logger; signal?: AbortSignal },
): Promise<AutoExecuteResult | undefined> {
  const id = await latestOf(store, ref);
  const rel = id ? await getRelease(store, id) : undefined;
  return rel ? await autoExecute(store, rel, o) : undefined;
}
