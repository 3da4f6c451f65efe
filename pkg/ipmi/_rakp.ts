/**
 * RMCP+ session set-up payloads (IPMI v2.0 §13.17–13.23): Open Session Request/Response and RAKP messages
 * 1–4, with the key-exchange authentication codes of §13.31. Pure; random numbers are passed in.
 */
import { type CipherSuite, hmac, sameBytes } from "./_crypto.ts";
import { describeRmcpStatus, IpmiError, need } from "./_errors.ts";

/** Privilege levels (§6.8). */
export const Privilege = { CALLBACK: 1, USER: 2, OPERATOR: 3, ADMIN: 4 } as const;

/** What the BMC agreed to in its Open Session Response. */
export interface OpenSessionResponse {
  tag: number;
  status: number;
  maxPrivilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}

/** RAKP 2: the BMC's random number, GUID and key-exchange code. */
export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  rc: Uint8Array;
  guid: Uint8Array;
  authCode: Uint8Array;
}

/** Open Session Request: tag, maximum privilege, our session ID and the suite's three algorithms. */
export function encodeOpenSession(tag: number, privilege: number, consoleSessionId: number, suite: CipherSuite): Uint8Array {
  const out = new Uint8Array(32);
  const v = new DataView(out.buffer);
  out[0] = tag;
  out[1] = privilege;
  v.setUint32(4, consoleSessionId >>> 0, true);
  const algs: [number, number][] = [
    [0x00, suite.auth],
    [0x01, suite.integrity],
    [0x02, suite.confidentiality],
  ];
  algs.forEach(([type, alg], i) => {
    out[8 + i * 8] = type;
    out[8 + i * 8 + 3] = 8;
    out[8 + i * 8 + 4] = alg;
  });
  return out;
}

/** Decodes an Open Session Response. A non-zero status is returned (the caller makes it an error). */
export function decodeOpenSessionResponse(b: Uint8Array): OpenSessionResponse {
  need(b.length >= 8, `open session response of ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const status = b[1] ?? 0;
  const base = { tag: b[0] ?? 0, status, maxPrivilege: b[2] ?? 0, consoleSessionId: v.getUint32(4, true) };
  if (status !== 0) return { ...base, bmcSessionId: 0, auth: 0, integrity: 0, confidentiality: 0 };
  need(b.length >= 36, `open session response of ${b.length} bytes is shorter than 36`);
  need(b[12] === 0x00 && b[20] === 0x01 && b[28] === 0x02, "open session response algorithm payloads are out of order");
  return { ...base, bmcSessionId: v.getUint32(8, true), auth: b[16] ?? 0, integrity: b[24] ?? 0, confidentiality: b[32] ?? 0 };
}

/** RAKP 1: tag, the BMC's session ID, our random number, the requested role (name-only lookup) and user name. */
export function encodeRakp1(tag: number, bmcSessionId: number, rm: Uint8Array, role: number, user: Uint8Array): Uint8Array {
  need(rm.length === 16, "RAKP 1 random number must be 16 bytes");
  need(user.length <= 16, "user name longer than 16 bytes");
  const out = new Uint8Array(28 + user.length);
  new DataView(out.buffer).setUint32(4, bmcSessionId >>> 0, true);
  out[0] = tag;
  out.set(rm, 8);
  out[24] = role;
  out[27] = user.length;
  out.set(user, 28);
  return out;
}

/** Decodes RAKP 2 (status non-zero: only tag, status and session ID are meaningful). */
export function decodeRakp2(b: Uint8Array, suite: CipherSuite): Rakp2 {
  need(b.length >= 8, `RAKP 2 of ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const base = { tag: b[0] ?? 0, status: b[1] ?? 0, consoleSessionId: v.getUint32(4, true) };
  const empty = new Uint8Array(0);
  if (base.status !== 0) return { ...base, rc: empty, guid: empty, authCode: empty };
  const codeLen = suite.hash === "sha1" ? 20 : 32;
  need(b.length >= 40 + codeLen, `RAKP 2 of ${b.length} bytes is shorter than ${40 + codeLen}`);
  return { ...base, rc: b.slice(8, 24), guid: b.slice(24, 40), authCode: b.slice(40, 40 + codeLen) };
}

/** The inputs of the key-exchange codes, as both sides know them after RAKP 2. */
export interface RakpContext {
  suite: CipherSuite;
  /** The user key: the password (HMAC pads keys with zeros, so its 20-byte padding needs no work here). */
  kuid: Uint8Array;
  consoleSessionId: number;
  bmcSessionId: number;
  rm: Uint8Array;
  rc: Uint8Array;
  guid: Uint8Array;
  role: number;
  user: Uint8Array;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

/** Checks RAKP 2's code: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm). False: wrong password. */
export function verifyRakp2(c: RakpContext, authCode: Uint8Array): boolean {
  const want = hmac(
    c.suite.hash,
    c.kuid,
    u32le(c.consoleSessionId),
    u32le(c.bmcSessionId),
    c.rm,
    c.rc,
    c.guid,
    Uint8Array.of(c.role, c.user.length),
    c.user,
  );
  return sameBytes(want, authCode);
}

/** RAKP 3: tag, status 0, the BMC's session ID and HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm). */
export function encodeRakp3(tag: number, c: RakpContext): Uint8Array {
  const code = hmac(c.suite.hash, c.kuid, c.rc, u32le(c.consoleSessionId), Uint8Array.of(c.role, c.user.length), c.user);
  const out = new Uint8Array(8 + code.length);
  out[0] = tag;
  new DataView(out.buffer).setUint32(4, c.bmcSessionId >>> 0, true);
  out.set(code, 8);
  return out;
}

/** Checks RAKP 4: status 0 and the integrity check value HMAC_SIK(Rm, SIDc, GUIDc), truncated. */
export function checkRakp4(b: Uint8Array, c: RakpContext, sik: Uint8Array): void {
  need(b.length >= 8, `RAKP 4 of ${b.length} bytes`);
  const status = b[1] ?? 0;
  if (status !== 0) throw rakpStatusError("the BMC refused RAKP 3", status);
  const icv = hmac(c.suite.hash, sik, c.rm, u32le(c.bmcSessionId), c.guid).subarray(0, c.suite.icvLength);
  if (!sameBytes(icv, b.subarray(8, 8 + c.suite.icvLength)))
    throw new IpmiError("IPMI_AUTH_FAILED", "ipmi: the BMC's RAKP 4 check value does not verify (session keys differ)");
}

/**
 * The typed error for an RMCP+ status: credentials → IPMI_AUTH_FAILED, algorithms → IPMI_CIPHER_UNSUPPORTED.
 * `what` says who refused what, e.g. `10.0.0.101:623 refused user "admin" at RAKP 1`.
 */
export function rakpStatusError(what: string, status: number): IpmiError {
  const message = `ipmi: ${what}: ${describeRmcpStatus(status)}`;
  if (status === 0x0d || status === 0x0a || status === 0x09 || status === 0x0f || status === 0x0e)
    return new IpmiError("IPMI_AUTH_FAILED", message, { status });
  if ((status >= 0x03 && status <= 0x07) || status === 0x10 || status === 0x11)
    return new IpmiError("IPMI_CIPHER_UNSUPPORTED", message, { status });
  return new IpmiError("IPMI_SESSION_FAILED", message, { status });
}
