/**
 * Release records (API.md `GET /releases/<id>`) and how they are published. A valid release stores every site
 * bundle first (pkg/control's chunked blobs), then, in one transaction, the record `/vaquero/releases/<id>`, its
 * line in the release log, the commit's marker `/vaquero/commits/<sha>` and the ref's cursor
 * `/vaquero/refs/<ref>/latest`: readers only ever see a release whose bundles are all there. A rejected release
 * keeps its findings and stores no bundle; it never becomes the ref's latest, so the next commit is diffed against
 * the last valid one.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Bundle, CompileResult, Finding } from "../sot/index.ts";
import { decodeJson, encodeJson, type Store, type TxnOp } from "../store/index.ts";
import { getBundle, putBundle } from "./_blobs.ts";
import { diffHosts, type Fingerprints, hostFingerprints } from "./_diff.ts";

/** One site of a release. */
export interface ReleaseSite {
  /** SHA-256 of the site bundle's canonical bytes. */
  bundle: string;
  hosts: number;
  /** Hosts whose served output differs from the ref's previous valid release (all, for the first). */
  hosts_changed: string[];
  /** Hosts of the previous release that are gone. */
  hosts_removed: string[];
  pinned?: { ref: string; commit: string };
}

/** A release as stored and served. */
export interface ReleaseRecord {
  id: string;
  commit?: string;
  ref: string;
  source: string;
  created_at: string;
  status: "valid" | "rejected";
  /** Findings of the compile (errors and warnings; at most {@link MAX_STORED_FINDINGS}). */
  findings: Finding[];
  /** How many findings there were before the cut. */
  findings_total: number;
  sites: Record<string, ReleaseSite>;
  /** The ref's valid release this one was diffed against. */
  previous?: string;
}

/** A line of `GET /releases`. */
export interface ReleaseSummary {
  id: string;
  commit?: string;
  ref: string;
  created_at: string;
  status: "valid" | "rejected";
}

/** Findings kept in a record (a record stays far below the store's request limit). */
export const MAX_STORED_FINDINGS = 200;
/** Most releases `GET /releases` lists. */
export const MAX_RELEASE_LIST = 1000;

export const RELEASE_PREFIX = "/vaquero/releases/";
const LOG_PREFIX = "/vaquero/release-log/";
const ID_RE = /^(?:[0-9a-f]{40}(?:\+[0-9a-f]{12})?|dir-[0-9a-f]{12})$/;
/** Keys of the release log sort newest first: 10^13 − ms since the epoch, 13 digits. */
const logKey = (ms: number, id: string): string => `${LOG_PREFIX}${String(1e13 - ms).padStart(13, "0")}-${id}`;

/** True for a well-formed release id (a commit SHA, `<sha>+<12 hex>` with pins, `dir-<12 hex>`). */
export function isReleaseId(s: string): boolean {
  return ID_RE.test(s);
}

/** Where the ref's latest valid release is kept (the diff base and the poll cursor). */
export function refLatestKey(ref: string): string {
  return `/vaquero/refs/${ref}/latest`;
}

/** Where a compiled commit is remembered. */
export function commitKey(sha: string): string {
  return `/vaquero/commits/${sha.toLowerCase()}`;
}

/** The release `id`, or undefined. */
export async function getRelease(store: Store, id: string): Promise<ReleaseRecord | undefined> {
  if (!isReleaseId(id)) return undefined;
  const kv = await store.get(RELEASE_PREFIX + id);
  return kv ? decodeJson<ReleaseRecord>(kv) : undefined;
}

/** The newest releases first, at most `limit`. */
export async function listReleases(store: Store, limit = 100): Promise<ReleaseSummary[]> {
  const r = await store.range(LOG_PREFIX, { limit: Math.min(Math.max(limit, 1), MAX_RELEASE_LIST) });
  return r.kvs.map((kv) => decodeJson<ReleaseSummary>(kv));
}

/** The ref's latest valid release id, or undefined. */
export async function latestOf(store: Store, ref: string): Promise<string | undefined> {
  const kv = await store.get(refLatestKey(ref));
  return kv ? decodeJson<{ release: string }>(kv).release : undefined;
}

/** The release already made from commit `sha`, or undefined. */
export async function releaseOfCommit(store: Store, sha: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{40}$/i.test(sha)) return undefined;
  const kv = await store.get(commitKey(sha));
  return kv ? decodeJson<{ release: string }>(kv).release : undefined;
}

/** Fingerprints of stored bundles, by bundle digest; a few kept so the next diff need not reread the last bundle. */
const FP_CACHE_SIZE = 16;

/** A compiled site as it is stored: canonical bytes, their digest, the host count and each host's fingerprint. */
export interface PublishableSite {
  /** The bundle's canonical JSON, UTF-8. */
  bytes: Uint8Array;
  /** SHA-256 of `bytes`, lower-case hex. */
  hash: string;
  hosts: number;
  fingerprints: Fingerprints;
  pinned?: { ref: string; commit: string };
}

/**
 * A compile's result reduced to what a release stores; made where the compile ran (the compile worker), so the
 * publishing thread only writes.
 */
export interface Publishable {
  /** Sorted findings, errors and warnings. */
  findings: Finding[];
  valid: boolean;
  /** The release id; undefined when the SoT is invalid. */
  releaseId?: string;
  /** Sites by id, in compile order. */
  sites: [string, PublishableSite][];
}

/** `result` in the form {@link Publisher.publish} stores. */
export function publishable(result: CompileResult): Publishable {
  const enc = new TextEncoder();
  const sites: [string, PublishableSite][] = [...result.sites].map(([id, s]) => [
    id,
    {
      bytes: enc.encode(s.canonical),
      hash: s.hash,
      hosts: s.bundle.hosts.length,
      fingerprints: hostFingerprints(s.bundle),
      ...(s.pinned ? { pinned: s.pinned } : {}),
    },
  ]);
  return { findings: result.findings, valid: result.valid, ...(result.release ? { releaseId: result.release.id } : {}), sites };
}

/** What {@link Publisher.publish} is given. */
export interface PublishInput {
  /** A compile's result, or one already reduced by {@link publishable}. */
  result: CompileResult | Publishable;
  /** Where the SoT was read from (credentials removed). */
  source: string;
  ref: string;
  /** The commit compiled (git sources). */
  commit?: string;
  now: Date;
}

/** Publishes releases into one store; remembers the fingerprints of recent bundles. */
export interface Publisher {
  publish(input: PublishInput): Promise<ReleaseRecord>;
}

/** A publisher over `store`. */
export function createPublisher(store: Store): Publisher {
  const cache = new Map<string, Fingerprints>();
  const fingerprintsOf = async (digest: string): Promise<Fingerprints | undefined> => {
    const hit = cache.get(digest);
    if (hit) return hit;
    const bytes = await getBundle(store, digest);
    if (!bytes) return undefined;
    const fp = hostFingerprints(JSON.parse(new TextDecoder().decode(bytes)) as Bundle);
    remember(digest, fp);
    return fp;
  };
  const remember = (digest: string, fp: Fingerprints): void => {
    cache.delete(digest);
    cache.set(digest, fp);
    for (const k of cache.keys()) {
      if (cache.size <= FP_CACHE_SIZE) break;
      cache.delete(k);
    }
  };

  return {
    async publish({ result: given, source, ref, commit, now }) {
      const result = given.sites instanceof Map ? publishable(given as CompileResult) : (given as Publishable);
      const previousId = await latestOf(store, ref);
      const previous = previousId ? await getRelease(store, previousId) : undefined;
      const findings = result.findings.slice(0, MAX_STORED_FINDINGS);
      const base = {
        ...(commit ? { commit } : {}),
        ref,
        source,
        created_at: now.toISOString(),
        findings,
        findings_total: result.findings.length,
      };
      let record: ReleaseRecord;
      if (!result.valid || !result.releaseId) {
        const id = commit ?? `dir-${new Bun.CryptoHasher("sha256").update(JSON.stringify(findings)).digest("hex").slice(0, 12)}`;
        record = { id, ...base, status: "rejected", sites: {} };
      } else {
        const sites: Record<string, ReleaseSite> = {};
        for (const [id, site] of result.sites) {
          await putBundle(store, site.bytes);
          const fp = site.fingerprints;
          remember(site.hash, fp);
          const before = previous?.sites[id] ? await fingerprintsOf(previous.sites[id].bundle) : undefined;
          const d = diffHosts(before, fp);
          sites[id] = {
            bundle: site.hash,
            hosts: site.hosts,
            hosts_changed: d.changed,
            hosts_removed: d.removed,
            ...(site.pinned ? { pinned: site.pinned } : {}),
          };
        }
        record = { id: result.releaseId, ...base, status: "valid", sites, ...(previousId ? { previous: previousId } : {}) };
      }
      const summary: ReleaseSummary = {
        id: record.id,
        ...(commit ? { commit } : {}),
        ref,
        created_at: record.created_at,
        status: record.status,
      };
      const ops: TxnOp[] = [
        { put: { key: RELEASE_PREFIX + record.id, value: encodeJson(record) } },
        { put: { key: logKey(now.getTime(), record.id), value: encodeJson(summary) } },
      ];
      if (commit) ops.push({ put: { key: commitKey(commit), value: encodeJson({ release: record.id }) } });
      if (record.status === "valid") ops.push({ put: { key: refLatestKey(ref), value: encodeJson({ release: record.id }) } });
      const key = RELEASE_PREFIX + record.id;
      const t = await store.txn({ compare: [{ key, target: "version", op: "=", value: 0 }], success: ops });
      if (!t.succeeded) {
        const stored = await getRelease(store, record.id);
        if (!stored) throw new VaqueroError("RELEASE_LOST", `release ${record.id} vanished while it was published`);
        return stored;
      }
      return record;
    },
  };
}
