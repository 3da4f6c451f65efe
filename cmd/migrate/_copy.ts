/**
 * The copy of `vaquero migrate` (private): every key under `/vaquero/` of one store, read at one revision (a
 * consistent snapshot while the source keeps running), written to another in transactions within etcd's limits
 * (at most 128 operations and 1.5 MiB of keys and values each). Keys attached to a lease are not copied: they
 * belong to live processes (elections, locks, sessions) and would outlive them in the destination.
 */
import { encodeJson, MAX_REQUEST_BYTES, MAX_TXN_OPS, type Store, type TxnOp } from "../../pkg/store/index.ts";

/** Everything Vaquero keeps is under this prefix. */
export const VAQUERO_PREFIX = "/vaquero/";
/** Keys read per page of the source. */
const PAGE = 500;

/** What a copy did. */
export interface CopyResult {
  keys: number;
  /** Bytes of the copied values. */
  bytes: number;
  /** Keys left out because they are attached to a lease. */
  leased: number;
  /** The source revision the copy was read at. */
  revision: number;
}

/** Keys under `/vaquero/` in `store` (up to `limit`). */
export async function countKeys(store: Store, limit?: number): Promise<number> {
  return (await store.range(VAQUERO_PREFIX, limit === undefined ? {} : { limit })).kvs.length;
}

/** Deletes everything under `/vaquero/` of `store` (for `--force`). */
export async function clearDestination(store: Store): Promise<number> {
  return (await store.delete({ prefix: VAQUERO_PREFIX })).deleted;
}

/** Copies `/vaquero/` from `from` to `to`; `to` should be empty there. */
export async function copyKeys(from: Store, to: Store): Promise<CopyResult> {
  const result: CopyResult = { keys: 0, bytes: 0, leased: 0, revision: 0 };
  const end = prefixEndOf(VAQUERO_PREFIX);
  let batch: TxnOp[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await to.txn({ compare: [], success: batch });
    batch = [];
    batchBytes = 0;
  };
  let start = VAQUERO_PREFIX;
  // Pages until the prefix is exhausted; bounded by the key count (each page moves `start` past its last key).
  for (let page = 0; page < Number.MAX_SAFE_INTEGER; page++) {
    const r = await from.range({ start, end }, { limit: PAGE, ...(result.revision ? { revision: result.revision } : {}) });
    if (!result.revision) result.revision = r.revision;
    for (const kv of r.kvs) {
      if (kv.lease !== undefined) {
        result.leased++;
        continue;
      }
      const size = new TextEncoder().encode(kv.key).length + kv.value.length;
      if (batch.length >= MAX_TXN_OPS || batchBytes + size > MAX_REQUEST_BYTES) await flush();
      batch.push({ put: { key: kv.key, value: kv.value } });
      batchBytes += size;
      result.keys++;
      result.bytes += kv.value.length;
    }
    const last = r.kvs[r.kvs.length - 1];
    if (!r.more || !last) break;
    start = `${last.key}\0`;
  }
  await flush();
  return result;
}

/** The first key after every key starting with `prefix` (ASCII prefixes only). */
function prefixEndOf(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** A fingerprint of `/vaquero/` (keys and values, lease-bound keys left out), to compare two stores. */
export async function digest(store: Store): Promise<{ keys: number; sha256: string }> {
  const h = new Bun.CryptoHasher("sha256");
  const r = await store.range(VAQUERO_PREFIX);
  let keys = 0;
  for (const kv of r.kvs) {
    if (kv.lease !== undefined) continue;
    keys++;
    h.update(encodeJson([kv.key, kv.value.length]));
    h.update(kv.value);
  }
  return { keys, sha256: h.digest("hex") };
}
