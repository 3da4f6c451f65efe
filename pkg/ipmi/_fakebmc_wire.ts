/**
 * The BMC side of RMCP+ for Vaquero's unit tests (imported only by *.test.ts through _fakebmc.ts), written out
 * from IPMI v2.0 §13.6 and §13.28–13.32 with node:crypto alone: the RAKP codes, SIK, K1, K2, the RAKP 4
 * integrity check value, the integrity trailer and AES-CBC-128. Nothing here calls the client's _crypto.ts or
 * _rakp.ts, so a field-order or key-length mistake in the client cannot be mirrored by the fake BMC.
 */
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";

/** A cipher suite the fake BMC can run a session with. */
export interface BmcSuite {
  id: 3 | 17;
  auth: number;
  integrity: number;
  confidentiality: number;
  hash: "sha1" | "sha256";
  /** Bytes of the integrity code (HMAC-SHA1-96: 12, HMAC-SHA256-128: 16), also the RAKP 4 ICV length. */
  icv: number;
}

/** Suites 3 and 17 as table 22-20 defines them. */
export const BMC_SUITES: Readonly<Record<3 | 17, BmcSuite>> = {
  3: { id: 3, auth: 0x01, integrity: 0x01, confidentiality: 0x01, hash: "sha1", icv: 12 },
  17: { id: 17, auth: 0x03, integrity: 0x04, confidentiality: 0x01, hash: "sha256", icv: 16 },
};

/** The keys of an active session, as the BMC derived them. */
export interface BmcKeys {
  suite: BmcSuite;
  sik: Buffer;
  k1: Buffer;
  k2: Buffer;
}

/** A 32-bit little-endian field. */
export function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function mac(hash: "sha1" | "sha256", key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Kuid: the user's password, zero-padded to 20 bytes (§13.31). */
export function userKey(password: string): Buffer {
  const k = Buffer.alloc(20);
  Buffer.from(password, "utf8").copy(k, 0, 0, 20);
  return k;
}

/** The RAKP inputs both sides know once RAKP 2 is sent. */
export interface BmcRakp {
  suite: BmcSuite;
  kuid: Buffer;
  /** SIDm: the remote console's session ID. */
  consoleId: number;
  /** SIDc: the managed system's (BMC's) session ID. */
  bmcId: number;
  rm: Uint8Array;
  rc: Uint8Array;
  guid: Uint8Array;
  /** ROLEm as RAKP 1 carried it (privilege and name-only lookup bit). */
  role: number;
  user: Uint8Array;
}

/** RAKP 2 key exchange code (§13.31): HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm). */
export function rakp2Code(r: BmcRakp): Buffer {
  return mac(r.suite.hash, r.kuid, le32(r.consoleId), le32(r.bmcId), r.rm, r.rc, r.guid, Uint8Array.of(r.role, r.user.length), r.user);
}

/** RAKP 3 key exchange code (§13.31): HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm). */
export function rakp3Code(r: BmcRakp): Buffer {
  return mac(r.suite.hash, r.kuid, r.rc, le32(r.consoleId), Uint8Array.of(r.role, r.user.length), r.user);
}

/**
 * SIK = HMAC_KG(Rm, Rc, ROLEm, ULENGTHm, UNAMEm) with KG = Kuid (no BMC key set); K1 = HMAC_SIK(Const1),
 * K2 = HMAC_SIK(Const2), where Const1 and Const2 are 20 bytes of 01h and 02h (§13.32) for every hash.
 */
export function bmcKeys(r: BmcRakp): BmcKeys {
  const sik = mac(r.suite.hash, r.kuid, r.rm, r.rc, Uint8Array.of(r.role, r.user.length), r.user);
  const k1 = mac(r.suite.hash, sik, Buffer.alloc(20, 0x01));
  const k2 = mac(r.suite.hash, sik, Buffer.alloc(20, 0x02));
  return { suite: r.suite, sik, k1, k2 };
}

/** RAKP 4 integrity check value (§13.31): HMAC_SIK(Rm, SIDc, GUIDc), truncated to the suite's ICV length. */
export function rakp4Icv(r: BmcRakp, sik: Buffer): Buffer {
  return mac(r.suite.hash, sik, r.rm, le32(r.bmcId), r.guid).subarray(0, r.suite.icv);
}

/** An RMCP+ packet as the BMC sees it. */
export interface BmcPacket {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  seq: number;
  payload: Uint8Array;
}

const RMCP = [0x06, 0x00, 0xff, 0x07];

/**
 * Seals an RMCP+ packet (§13.6): header, then with keys the AES-CBC-128 payload (IV, data, pad 1…n, pad
 * length) and the integrity trailer (pad to a multiple of 4 from AuthType on, pad length, next header 07h,
 * HMAC_K1 over AuthType … next header, truncated).
 */
export function sealPacket(
  p: { payloadType: number; sessionId: number; seq: number; payload: Uint8Array },
  keys?: BmcKeys,
  iv?: Uint8Array,
): Buffer {
  let body = Buffer.from(p.payload);
  if (keys) {
    const padLen = (16 - ((body.length + 1) % 16)) % 16;
    const pad = Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1).concat([padLen]));
    const c = createCipheriv("aes-128-cbc", keys.k2.subarray(0, 16), iv ?? Buffer.alloc(16));
    c.setAutoPadding(false);
    body = Buffer.concat([iv ?? Buffer.alloc(16), c.update(Buffer.concat([body, pad])), c.final()]);
  }
  const head = Buffer.alloc(16);
  head.set(RMCP);
  head[4] = 0x06;
  head[5] = p.payloadType | (keys ? 0xc0 : 0);
  head.writeUInt32LE(p.sessionId >>> 0, 6);
  head.writeUInt32LE(p.seq >>> 0, 10);
  head.writeUInt16LE(body.length, 14);
  if (!keys) return Buffer.concat([head, body]);
  const unpadded = 12 + body.length + 2;
  const ipad = (4 - (unpadded % 4)) % 4;
  const signed = Buffer.concat([head, body, Buffer.alloc(ipad, 0xff), Buffer.of(ipad, 0x07)]);
  return Buffer.concat([signed, mac(keys.suite.hash, keys.k1, signed.subarray(4)).subarray(0, keys.suite.icv)]);
}

/** Opens an RMCP+ packet from the console: verifies and decrypts with `keys`. Undefined when anything is off. */
export function openPacket(b: Uint8Array, keys?: BmcKeys): BmcPacket | undefined {
  const buf = Buffer.from(b);
  if (buf.length < 16 || buf[4] !== 0x06) return undefined;
  const typeByte = buf[5] ?? 0;
  const len = buf.readUInt16LE(14);
  if (buf.length < 16 + len) return undefined;
  const authenticated = (typeByte & 0x40) !== 0;
  const encrypted = (typeByte & 0x80) !== 0;
  if ((authenticated || encrypted) && !keys) return undefined;
  let payload: Uint8Array = buf.subarray(16, 16 + len);
  if (authenticated && keys) {
    const at = buf.length - keys.suite.icv;
    if (at < 16 + len + 2 || (at - 4) % 4 !== 0 || buf[at - 1] !== 0x07) return undefined;
    const want = mac(keys.suite.hash, keys.k1, buf.subarray(4, at)).subarray(0, keys.suite.icv);
    if (!want.equals(buf.subarray(at))) return undefined;
  }
  if (encrypted && keys) {
    if (len < 32 || len % 16 !== 0) return undefined;
    const d = createDecipheriv("aes-128-cbc", keys.k2.subarray(0, 16), buf.subarray(16, 32));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(buf.subarray(32, 16 + len)), d.final()]);
    const padLen = plain[plain.length - 1] ?? 0;
    if (padLen > 15) return undefined;
    payload = plain.subarray(0, plain.length - 1 - padLen);
  }
  return {
    payloadType: typeByte & 0x3f,
    encrypted,
    authenticated,
    sessionId: buf.readUInt32LE(6),
    seq: buf.readUInt32LE(10),
    payload: new Uint8Array(payload),
  };
}
