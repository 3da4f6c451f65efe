/**
 * RMCP and the IPMI session wrappers (IPMI v2.0 §13.1–13.6): the 4-byte RMCP header; the IPMI v1.5 session
 * header, used here only unauthenticated, before a session exists (Get Channel Authentication Capabilities);
 * and the IPMI v2.0/RMCP+ session header with its payload type, session ID, sequence number, the AES-CBC-128
 * encrypted payload and the integrity trailer (pad, pad length, next header, AuthCode). Pure: keys are passed in.
 */
import { type CipherSuite, decryptPayload, encryptPayload, integrityCode, sameBytes } from "./_crypto.ts";
import { need } from "./_errors.ts";

/** RMCP+ payload types (§13.27.3). */
export const Payload = {
  IPMI: 0x00,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;

const RMCP_HEADER = Uint8Array.of(0x06, 0x00, 0xff, 0x07);
const AUTH_NONE = 0x00;
const AUTH_RMCPP = 0x06;
/** Largest UDP payload accepted; IPMI messages are small, so anything larger is refused unread. */
export const MAX_PACKET = 1024;

/** Keys of an active session; absent during session set-up. */
export interface SessionCrypto {
  suite: CipherSuite;
  k1: Uint8Array;
  k2: Uint8Array;
}

/** A decoded RMCP+ packet. */
export interface RmcppPacket {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  seq: number;
  payload: Uint8Array;
}

/** A decoded packet of either session format. */
export type IpmiPacket = { format: "v1.5"; sessionId: number; seq: number; message: Uint8Array } | ({ format: "v2.0" } & RmcppPacket);

/** An IPMI message in an unauthenticated v1.5 session header (session 0, sequence 0). */
export function encodeV15(message: Uint8Array): Uint8Array {
  need(message.length < 256, "v1.5 message longer than 255 bytes");
  const out = new Uint8Array(4 + 10 + message.length);
  out.set(RMCP_HEADER);
  out[4] = AUTH_NONE;
  out[13] = message.length;
  out.set(message, 14);
  return out;
}

/**
 * Encodes an RMCP+ packet. With `crypto`, the payload is encrypted (AES-CBC-128, random `iv`) and the packet
 * carries an integrity trailer keyed with K1, as every packet of an active session of suites 3 and 17 must.
 */
export function encodeV2(
  p: { payloadType: number; sessionId: number; seq: number; payload: Uint8Array },
  crypto?: SessionCrypto,
  iv?: Uint8Array,
): Uint8Array {
  const body = crypto ? encryptPayload(crypto.k2, iv ?? new Uint8Array(16), p.payload) : p.payload;
  need(body.length <= 0xffff, "payload longer than 65535 bytes");
  const headerLen = 12;
  const trailer = crypto ? padFor(headerLen + body.length) + 2 + crypto.suite.icvLength : 0;
  const out = new Uint8Array(4 + headerLen + body.length + trailer);
  const v = new DataView(out.buffer);
  out.set(RMCP_HEADER);
  out[4] = AUTH_RMCPP;
  out[5] = p.payloadType | (crypto ? 0xc0 : 0);
  v.setUint32(6, p.sessionId >>> 0, true);
  v.setUint32(10, p.seq >>> 0, true);
  v.setUint16(14, body.length, true);
  out.set(body, 16);
  if (crypto) {
    const pad = padFor(headerLen + body.length);
    let i = 16 + body.length;
    out.fill(0xff, i, i + pad);
    i += pad;
    out[i++] = pad;
    out[i++] = 0x07;
    out.set(integrityCode(crypto.suite, crypto.k1, out.subarray(4, i)), i);
  }
  return out;
}

/** Integrity pad so that header + payload + pad + pad length + next header is a multiple of 4 (§13.28.4). */
function padFor(n: number): number {
  return (4 - ((n + 2) % 4)) % 4;
}

/**
 * Decodes a packet from a BMC. An authenticated packet is verified with `crypto` (refused without it) and an
 * encrypted one decrypted. Throws IPMI_DECODE on anything malformed or forged.
 */
export function decodePacket(b: Uint8Array, crypto?: SessionCrypto): IpmiPacket {
  need(b.length <= MAX_PACKET, `packet of ${b.length} bytes is larger than ${MAX_PACKET}`);
  need(b.length >= 5, `packet of ${b.length} bytes is shorter than an RMCP header`);
  need(b[0] === 0x06 && b[2] === 0xff, "not an RMCP 1.0 packet (version 6, no ACK)");
  need(b[3] === 0x07, `RMCP class 0x${(b[3] ?? 0).toString(16)} is not IPMI`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[4] === AUTH_NONE) {
    need(b.length >= 14, "v1.5 session header truncated");
    const len = b[13] ?? 0;
    need(b.length >= 14 + len, `v1.5 message length ${len} runs past the packet`);
    return { format: "v1.5", seq: v.getUint32(5, true), sessionId: v.getUint32(9, true), message: b.slice(14, 14 + len) };
  }
  need(b[4] === AUTH_RMCPP, `session authentication type 0x${(b[4] ?? 0).toString(16)} is not none or RMCP+`);
  need(b.length >= 16, "RMCP+ session header truncated");
  const typeByte = b[5] ?? 0;
  const payloadType = typeByte & 0x3f;
  need(payloadType !== 0x02, "OEM payloads are not supported");
  const encrypted = (typeByte & 0x80) !== 0;
  const authenticated = (typeByte & 0x40) !== 0;
  const sessionId = v.getUint32(6, true);
  const seq = v.getUint32(10, true);
  const len = v.getUint16(14, true);
  need(b.length >= 16 + len, `payload length ${len} runs past the packet`);
  if (authenticated) {
    need(crypto !== undefined, "an authenticated packet arrived outside a session");
    const pad = padFor(12 + len);
    const icvAt = 16 + len + pad + 2;
    need(b.length === icvAt + crypto.suite.icvLength, "integrity trailer has the wrong length");
    need(b[16 + len + pad] === pad && b[16 + len + pad + 1] === 0x07, "integrity pad or next header is invalid");
    const want = integrityCode(crypto.suite, crypto.k1, b.subarray(4, icvAt));
    need(sameBytes(want, b.subarray(icvAt)), "integrity check failed (a forged or corrupted packet)");
  } else {
    need(b.length === 16 + len, "bytes after the payload of an unauthenticated packet");
  }
  let payload: Uint8Array = b.slice(16, 16 + len);
  if (encrypted) {
    need(crypto !== undefined, "an encrypted packet arrived outside a session");
    payload = decryptPayload(crypto.k2, payload);
  }
  return { format: "v2.0", payloadType, encrypted, authenticated, sessionId, seq, payload };
}
