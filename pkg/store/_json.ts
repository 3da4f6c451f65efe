/** JSON values over the store's bytes (private; re-exported by `index.ts`). Not part of {@link Store}: a helper. */
import type { KeyValue, PutOptions, Store } from "./_types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `value` as UTF-8 JSON bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A key's value parsed as JSON (throws SyntaxError on a value that is not JSON). */
export function decodeJson<T = unknown>(kv: Pick<KeyValue, "value">): T {
  return JSON.parse(decoder.decode(kv.value)) as T;
}

/** Writes `value` as JSON; returns the revision. */
export function putJson(store: Store, key: string, value: unknown, options?: PutOptions): Promise<number> {
  return store.put(key, encodeJson(value), options);
}

/** Reads a key as JSON; undefined when absent. */
export async function getJson<T = unknown>(store: Store, key: string): Promise<T | undefined> {
  const kv = await store.get(key);
  return kv ? decodeJson<T>(kv) : undefined;
}
