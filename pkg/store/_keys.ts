/**
 * Keys, ranges and request checks shared by every backend (private). Keys are compared as the bytes of their UTF-8
 * form, as etcd does; a range is turned into `[start, end)` over those bytes.
 */
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, StoreError } from "./_errors.ts";
import type { KeyRange, Txn, TxnOp } from "./_types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A key or value as bytes. */
export function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? encoder.encode(v) : v;
}

/** Bytes back to a key. */
export function keyOf(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The first key after every key starting with `prefix`; undefined when there is none (no upper bound). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.slice(0, i + 1);
    }
  }
  return undefined;
}

/** A key selection as byte bounds: `[start, end)`, no `end` meaning no upper bound. */
export interface ByteRange {
  start: Uint8Array;
  end: Uint8Array | undefined;
}

/** `keys` as byte bounds; a plain string is `asString`: a prefix (range, watch) or one key (delete). */
export function toByteRange(keys: string | KeyRange, asString: "prefix" | "key"): ByteRange {
  if (typeof keys === "string") {
    const k = encoder.encode(keys);
    if (asString === "key") {
      checkKey(keys);
      const end = new Uint8Array(k.length + 1);
      end.set(k);
      return { start: k, end };
    }
    return { start: k, end: prefixEnd(k) };
  }
  if ("prefix" in keys) {
    const k = encoder.encode(keys.prefix);
    return { start: k, end: prefixEnd(k) };
  }
  return { start: encoder.encode(keys.start), end: keys.end === undefined ? undefined : encoder.encode(keys.end) };
}

/** Refuses an empty key (etcd does too). */
export function checkKey(key: string): void {
  if (key.length === 0) throw new StoreError("STORE_INVALID", "empty key");
}

/** Refuses a put over {@link MAX_REQUEST_BYTES}. */
export function checkPutSize(key: string, value: Uint8Array): void {
  const size = encoder.encode(key).length + value.length;
  if (size > MAX_REQUEST_BYTES) {
    throw new StoreError("STORE_TOO_LARGE", `put of "${key}" is ${size} bytes, over the limit of ${MAX_REQUEST_BYTES}`, {
      detail: { key, size, limit: MAX_REQUEST_BYTES },
    });
  }
}

/** Refuses a transaction over the limits or writing one key twice, before anything is written. */
export function checkTxn(t: Txn): void {
  for (const [name, list] of [
    ["compare", t.compare],
    ["success", t.success],
    ["failure", t.failure ?? []],
  ] as const) {
    if (list.length > MAX_TXN_OPS) {
      throw new StoreError("STORE_TOO_MANY_OPS", `transaction has ${list.length} ${name} operations, over the limit of ${MAX_TXN_OPS}`, {
        detail: { branch: name, count: list.length, limit: MAX_TXN_OPS },
      });
    }
  }
  for (const branch of [t.success, t.failure ?? []]) {
    let size = 0;
    const written = new Set<string>();
    for (const op of branch) {
      const key = writtenKey(op);
      if (key === undefined) continue;
      if (written.has(key)) throw new StoreError("STORE_INVALID", `transaction writes "${key}" twice`, { detail: { key } });
      written.add(key);
      if ("put" in op) {
        checkKey(op.put.key);
        size += encoder.encode(op.put.key).length + toBytes(op.put.value).length;
      }
    }
    if (size > MAX_REQUEST_BYTES) {
      throw new StoreError("STORE_TOO_LARGE", `transaction writes ${size} bytes, over the limit of ${MAX_REQUEST_BYTES}`, {
        detail: { size, limit: MAX_REQUEST_BYTES },
      });
    }
  }
}

function writtenKey(op: TxnOp): string | undefined {
  if ("put" in op) return op.put.key;
  if ("delete" in op && typeof op.delete === "string") return op.delete;
  return undefined;
}

/** Compares two byte strings: negative, 0 or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
