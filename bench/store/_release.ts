/**
 * How a release is stored (bench/store): the layout of the server, pkg/control's bundle blobs
 * (docs/decisions.md 32). The bundle goes in as 1 MiB content-addressed chunks and its manifest
 * `/vaquero/bundles/<sha256>`; then a small release record `/vaquero/releases/<id>` naming it is written last,
 * the publish point.
 */
import { type BundleManifest, getBundle, putBundle } from "../../pkg/control/index.ts";
import { decodeJson, encodeJson, MAX_TXN_OPS, type Store, type TxnOp } from "../../pkg/store/index.ts";

export { CHUNK_BYTES } from "../../pkg/control/index.ts";

/** Stores `bundle` and release `id` naming it; returns the bundle's manifest and how many chunks were new. */
export async function publishRelease(store: Store, id: string, bundle: Uint8Array): Promise<{ manifest: BundleManifest; written: number }> {
  const r = await putBundle(store, bundle);
  await store.put(`/vaquero/releases/${id}`, encodeJson({ id, bundle: r.manifest.sha256 }));
  return r;
}

/** Reads release `id`'s bundle back, checking every digest; undefined when it is not published. */
export async function readRelease(store: Store, id: string): Promise<Uint8Array | undefined> {
  const kv = await store.get(`/vaquero/releases/${id}`);
  if (!kv) return undefined;
  return await getBundle(store, decodeJson<{ bundle: string }>(kv).bundle);
}

/** Writes `events` (already keyed) in transactions of {@link MAX_TXN_OPS} puts, `parallel` in flight. */
export async function ingestEvents(store: Store, events: { key: string; value: Uint8Array }[], parallel: number): Promise<number> {
  const batches: TxnOp[][] = [];
  for (let i = 0; i < events.length; i += MAX_TXN_OPS) {
    batches.push(events.slice(i, i + MAX_TXN_OPS).map((e) => ({ put: { key: e.key, value: e.value } })));
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let b = batches[next++]; b; b = batches[next++]) await store.txn({ compare: [], success: b });
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return batches.length;
}
