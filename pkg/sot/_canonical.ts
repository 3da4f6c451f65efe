/**
 * Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for the values a bundle holds, and its SHA-256.
 * Keys are sorted by UTF-16 code units (JavaScript's default string order); strings and numbers use
 * ECMAScript serialisation, which is what RFC 8785 §3.2.2 prescribes.
 */
import { createHash } from "node:crypto";

/** Serialises `value` canonically. Throws on values JSON cannot hold (undefined, functions, NaN, Infinity). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a finite number`);
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  throw new TypeError(`canonical JSON: cannot serialise a ${typeof value}`);
}

/** Lower-case hex SHA-256 of a string's UTF-8 bytes. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}
