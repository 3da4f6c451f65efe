/**
 * The algorithms of cipher suites 3 and 17 (IPMI v2.0 §13.28–13.31): RAKP key-exchange codes, the session
 * integrity key SIK, the derived keys K1 (integrity) and K2 (confidentiality), HMAC-SHA1-96 and
 * HMAC-SHA256-128 integrity codes, AES-CBC-128 with IPMI's confidentiality pad. Pure functions over bytes.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { need } from "./_errors.ts";

/** A cipher suite Vaquero speaks. */
export interface CipherSuite {
  id: 3 | 17;
  /** RAKP authentication algorithm number (1 HMAC-SHA1, 3 HMAC-SHA256). */
  auth: number;
  /** Integrity algorithm number (1 HMAC-SHA1-96, 4 HMAC-SHA256-128). */
  integrity: number;
  /** Confidentiality algorithm number (1 AES-CBC-128). */
  confidentiality: number;
  hash: "sha1" | "sha256";
  /** Bytes of the integrity code on each packet and of the RAKP 4 check value. */
  icvLength: 12 | 16;
}

/** The suites Vaquero speaks. 0 (no authentication) and the MD5 suites are never offered. */
export const CIPHER_SUITES: Readonly<Record<3 | 17, CipherSuite>> = {
  3: { id: 3, auth: 1, integrity: 1, confidentiality: 1, hash: "sha1", icvLength: 12 },
  17: { id: 17, auth: 3, integrity: 4, confidentiality: 1, hash: "sha256", icvLength: 16 },
};

/** HMAC of the concatenated parts. */
export function hmac(hash: "sha1" | "sha256", key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Constant-time comparison (false for different lengths). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The session keys: SIK, K1, K2 (§13.31, §13.32). `kg` is the BMC key, or the user key when none is set.
 * Const1 and Const2 are 20 bytes of 01h and 02h for every hash, SHA-256 included (as BMCs, ipmitool and
 * FreeIPMI have them): only the HMAC output, and so K1 and K2, is 32 bytes with suite 17.
 */
export function sessionKeys(
  suite: CipherSuite,
  kg: Uint8Array,
  rm: Uint8Array,
  rc: Uint8Array,
  role: number,
  user: Uint8Array,
): { sik: Uint8Array; k1: Uint8Array; k2: Uint8Array } {
  const sik = hmac(suite.hash, kg, rm, rc, Uint8Array.of(role, user.length), user);
  return { sik, k1: hmac(suite.hash, sik, new Uint8Array(20).fill(1)), k2: hmac(suite.hash, sik, new Uint8Array(20).fill(2)) };
}

/** The integrity code over `data` with K1, truncated to the suite's length. */
export function integrityCode(suite: CipherSuite, k1: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(suite.hash, k1, data).subarray(0, suite.icvLength);
}

/** AES-CBC-128 with the IPMI pad (1, 2, … n, then n); output is IV + ciphertext. */
export function encryptPayload(k2: Uint8Array, iv: Uint8Array, plain: Uint8Array): Uint8Array {
  need(iv.length === 16, "AES IV must be 16 bytes");
  const padLen = (16 - ((plain.length + 1) % 16)) % 16;
  const padded = new Uint8Array(plain.length + padLen + 1);
  padded.set(plain);
  for (let i = 0; i < padLen; i++) padded[plain.length + i] = i + 1;
  padded[padded.length - 1] = padLen;
  const c = createCipheriv("aes-128-cbc", k2.subarray(0, 16), iv);
  c.setAutoPadding(false);
  const body = Buffer.concat([c.update(padded), c.final()]);
  const out = new Uint8Array(16 + body.length);
  out.set(iv);
  out.set(body, 16);
  return out;
}

/** Reverses {@link encryptPayload}, checking the pad. Throws IPMI_DECODE. */
export function decryptPayload(k2: Uint8Array, data: Uint8Array): Uint8Array {
  need(data.length >= 32 && data.length % 16 === 0, `encrypted payload of ${data.length} bytes is not an IV and whole AES blocks`);
  const d = createDecipheriv("aes-128-cbc", k2.subarray(0, 16), data.subarray(0, 16));
  d.setAutoPadding(false);
  const plain = new Uint8Array(Buffer.concat([d.update(data.subarray(16)), d.final()]));
  const padLen = plain[plain.length - 1] ?? 0;
  need(padLen < 16 && padLen + 1 <= plain.length, `confidentiality pad length ${padLen} is invalid`);
  for (let i = 0; i < padLen; i++) need(plain[plain.length - 1 - padLen + i] === i + 1, "confidentiality pad bytes are invalid");
  return plain.slice(0, plain.length - 1 - padLen);
}
