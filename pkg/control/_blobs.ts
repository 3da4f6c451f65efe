/**
 * Site bundles in the store (docs/decisions.md 32): canonical JSON of a few MB, over etcd's 1.5 MiB request
 * limit, cut into chunks of at most 1 MiB stored content-addressed under `/vaquero/blobs/sha256/<hex>` (written
 * only when absent, so a chunk shared with an earlier bundle is not written again), then the manifest
 * `/vaquero/bundles/<sha256 of the bundle>` listing the chunks, the size and the digest. The manifest is written
 * after its chunks: a reader only ever finds complete bundles, and checks every chunk's digest as it reads.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";

/** Largest chunk: 1 MiB, leaving room under the 1.5 MiB request limit for the key and the transaction. */
export const CHUNK_BYTES = 1024 * 1024;
/** Where chunks live. */
export const BLOB_PREFIX = "/vaquero/blobs/sha256/";
/** Where bundle manifests live. */
export const BUNDLE_PREFIX = "/vaquero/bundles/";

/** The manifest of a stored bundle. */
export interface BundleManifest {
  /** SHA-256 of the whole bundle, lower-case hex: its name. */
  sha256: string;
  size: number;
  /** Digests of the chunks, in order. */
  chunks: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Lower-case hex SHA-256 of bytes. */
export function sha256Bytes(b: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}

/** True for a lower-case hex SHA-256. */
export function isSha256(s: string): boolean {
  return HEX64.test(s);
}

/**
 * Stores `bytes` as chunks (absent ones only, in parallel); returns the manifest, not yet stored, and how many
 * chunks were new.
 */
export async function putChunks(store: Store, bytes: Uint8Array): Promise<{ manifest: BundleManifest; written: number }> {
  const chunks: { key: string; digest: string; bytes: Uint8Array }[] = [];
  for (let off = 0; off < bytes.length; off += CHUNK_BYTES) {
    const part = bytes.subarray(off, Math.min(bytes.length, off + CHUNK_BYTES));
    const digest = sha256Bytes(part);
    chunks.push({ key: BLOB_PREFIX + digest, digest, bytes: part });
  }
  // One transaction per chunk (a chunk fills most of a request), put only when absent.
  const results = await Promise.all(
    chunks.map((c) =>
      store.txn({
        compare: [{ key: c.key, target: "version", op: "=", value: 0 }],
        success: [{ put: { key: c.key, value: c.bytes } }],
      }),
    ),
  );
  const manifest: BundleManifest = { sha256: sha256Bytes(bytes), size: bytes.length, chunks: chunks.map((c) => c.digest) };
  return { manifest, written: results.filter((r) => r.succeeded).length };
}

/** Reads the bytes a manifest names, checking every chunk's digest and the whole's; `BUNDLE_CORRUPT` when one fails. */
export async function readChunks(store: Store, m: BundleManifest): Promise<Uint8Array> {
  const parts = await Promise.all(m.chunks.map((d) => store.get(BLOB_PREFIX + d)));
  const out = new Uint8Array(m.size);
  let off = 0;
  for (const [i, p] of parts.entries()) {
    if (!p || sha256Bytes(p.value) !== m.chunks[i] || off + p.value.length > m.size) {
      throw new VaqueroError("BUNDLE_CORRUPT", `bundle ${m.sha256}: chunk ${i} is missing or corrupt`);
    }
    out.set(p.value, off);
    off += p.value.length;
  }
  if (off !== m.size || sha256Bytes(out) !== m.sha256) throw new VaqueroError("BUNDLE_CORRUPT", `bundle ${m.sha256}: digest mismatch`);
  return out;
}

/** Stores a bundle (chunks, then its manifest); returns the manifest and how many chunks were new. */
export async function putBundle(store: Store, bytes: Uint8Array): Promise<{ manifest: BundleManifest; written: number }> {
  const r = await putChunks(store, bytes);
  const key = BUNDLE_PREFIX + r.manifest.sha256;
  await store.txn({
    compare: [{ key, target: "version", op: "=", value: 0 }],
    success: [{ put: { key, value: encodeJson(r.manifest) } }],
  });
  return r;
}

/** The manifest of bundle `sha256`, or undefined when it is not stored. */
export async function getBundleManifest(store: Store, sha256: string): Promise<BundleManifest | undefined> {
  if (!isSha256(sha256)) return undefined;
  const kv = await store.get(BUNDLE_PREFIX + sha256);
  return kv ? decodeJson<BundleManifest>(kv) : undefined;
}

/** The canonical bytes of bundle `sha256`, verified; undefined when it is not stored. */
export async function getBundle(store: Store, sha256: string): Promise<Uint8Array | undefined> {
  const m = await getBundleManifest(store, sha256);
  return m ? await readChunks(store, m) : undefined;
}
