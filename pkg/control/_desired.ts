/**
 * What each site should serve (`POST /prepare`): `/vaquero/sites/<site>/desired` = `{release, bundle, staged_at,
 * by}`, read by the agent link's long poll. Only a valid, stored release can be prepared; the sites named must be
 * sites of that release. Up to 64 sites are written in one transaction, so a prepare is all or nothing.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";
import { getRelease } from "./_releases.ts";

/** A site's desired release. */
export interface DesiredRecord {
  release: string;
  /** SHA-256 of the site bundle. */
  bundle: string;
  staged_at: string;
  /** Name of the token that prepared it. */
  by: string;
}

/** Every site ever prepared has a key here (so the fleet view finds sites no longer in the latest release). */
export const SITE_INDEX_PREFIX = "/vaquero/site-index/";

/** Where a site's desired release is kept. */
export function desiredKey(site: string): string {
  return `/vaquero/sites/${site}/desired`;
}

/** The site's desired release, or undefined. */
export async function getDesired(store: Store, site: string): Promise<DesiredRecord | undefined> {
  const kv = await store.get(desiredKey(site));
  return kv ? decodeJson<DesiredRecord>(kv) : undefined;
}

/** What {@link prepareRelease} does. */
export interface PrepareRequest {
  release: string;
  /** Sites to stage it on (default: every site of the release). */
  sites?: readonly string[];
  by: string;
  now: Date;
}

/**
 * Stages release `release` on `sites`: `RELEASE_UNKNOWN` (404) when it is not stored, `RELEASE_REJECTED` (409)
 * when it did not validate, `SITE_UNKNOWN` (404) for a site it does not have. Returns the desired records written.
 */
export async function prepareRelease(store: Store, r: PrepareRequest): Promise<Record<string, DesiredRecord>> {
  const rel = await getRelease(store, r.release);
  if (!rel) throw new VaqueroError("RELEASE_UNKNOWN", `no release ${JSON.stringify(r.release.slice(0, 80))}`);
  if (rel.status !== "valid") {
    throw new VaqueroError("RELEASE_REJECTED", `release ${rel.id} was rejected (${rel.findings_total} finding(s)); it cannot be staged`);
  }
  const all = Object.keys(rel.sites).sort();
  const sites = r.sites?.length ? [...new Set(r.sites)] : all;
  const unknown = sites.filter((s) => !rel.sites[s]);
  if (unknown.length) {
    throw new VaqueroError(
      "SITE_UNKNOWN",
      `release ${rel.id} has no site ${JSON.stringify(unknown[0]?.slice(0, 63))}; sites: ${all.join(", ")}`,
    );
  }
  const out: Record<string, DesiredRecord> = {};
  for (const s of sites) {
    out[s] = { release: rel.id, bundle: rel.sites[s]?.bundle ?? "", staged_at: r.now.toISOString(), by: r.by };
  }
  // One transaction per 64 sites (two keys each, within MAX_TXN_OPS): all or nothing for any real organisation.
  for (let i = 0; i < sites.length; i += 64) {
    await store.txn({
      compare: [],
      success: sites
        .slice(i, i + 64)
        .flatMap((s) => [{ put: { key: desiredKey(s), value: encodeJson(out[s]) } }, { put: { key: SITE_INDEX_PREFIX + s, value: "{}" } }]),
    });
  }
  return out;
}
