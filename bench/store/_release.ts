/**
 * How a release is stored (bench/store; the layout the server will use, docs/decisions.md): a release's bundle is
 * canonical JSON of a few MB, over etcd's 1.5 MiB request limit. It is cut into chunks of at most 1 MiB, each
 * stored content-addressed under `/vaquero/blobs/sha256/<hex>` (written only when absent, so a chunk shared with an
 * earlier release is not written again), then the manifest `/vaquero/releases/<id>` lists the chunks, the bundle's
 * size and digest. The manifest is written last and is the publish point: a reader (or a watcher of
 * `/vaquero/releases/`) only ever sees complete releases, and checks every chunk's digest as it reads.
 */
import { decodeJson, encodeJson, MAX_TXN_OPS, type Store, type TxnOp } from "../../pkg/store/index.ts";

/** Largest chunk: 1 MiB, leaving room under the 1.5 MiB request limit for the key and the transaction. */
export const CHUNK_BYTES = 1024 * 1024;

/** The manifest of a release. */
export interface ReleaseManifest {
  id: string;
  size: number;
  sha256: string;
  chunks: string[];
}

const hex = (b: Uint8Array): string => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** Stores `bundle` as release `id`; returns the manifest and how many chunks were new. */
export async function publishRelease(
  store: Store,
  id: string,
  bundle: Uint8Array,
): Promise<{ manifest: ReleaseManifest; written: number }> {
  const chunks: { key: string; digest: string; bytes: Uint8Array }[] = [];
  for (let off = 0; off < bundle.length; off += CHUNK_BYTES) {
    const bytes = bundle.subarray(off, Math.min(bundle.length, off + CHUNK_BYTES));
    const digest = hex(bytes);
    chunks.push({ key: `/vaquero/blobs/sha256/${digest}`, digest, bytes });
  }
  // One transaction per chunk (a chunk fills most of a request); absent chunks only. They go in parallel.
  const results = await Promise.all(
    chunks.map((c) =>
      store.txn({
        compare: [{ key: c.key, target: "version", op: "=", value: 0 }],
        success: [{ put: { key: c.key, value: c.bytes } }],
      }),
    ),
  );
  const manifest: ReleaseManifest = { id, size: bundle.length, sha256: hex(bundle), chunks: chunks.map((c) => c.digest) };
  await store.put(`/vaquero/releases/${id}`, encodeJson(manifest));
  return { manifest, written: results.filter((r) => r.succeeded).length };
}

/** Reads release `id` back, checking every digest; undefined when it is not published. */
export async function readRelease(store: Store, id: string): Promise<Uint8Array | undefined> {
  const kv = await store.get(`/vaquero/releases/${id}`);
  if (!kv) return undefined;
  const m = decodeJson<ReleaseManifest>(kv);
  const parts = await Promise.all(m.chunks.map((d) => store.get(`/vaquero/blobs/sha256/${d}`)));
  const out = new Uint8Array(m.size);
  let off = 0;
  for (const [i, p] of parts.entries()) {
    if (!p || hex(p.value) !== m.chunks[i]) throw new Error(`release ${id}: chunk ${i} missing or corrupt`);
    out.set(p.value, off);
    off += p.value.length;
  }
  if (hex(out) !== m.sha256) throw new Error(`release ${id}: digest mismatch`);
  return out;
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
