/**
 * Seeded fuzzing of every decoder of pkg/ipmi: the packets of the captured ipmitool session and valid frames,
 * mutated (bit flips, truncations, extensions, overwritten and random bytes), each either decode or throw an
 * IpmiError with the decoder's own codes; never another exception type. Deterministic: same seeds, same cases.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeBootFlags, decodeChannelAuthCaps, decodeChassisStatus, decodeDeviceId, parseCipherSuiteRecords } from "./_commands.ts";
import { CIPHER_SUITES, decryptPayload, encryptPayload, sessionKeys } from "./_crypto.ts";
import { IpmiError } from "./_errors.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "./_message.ts";
import { checkRakp4, decodeOpenSessionResponse, decodeRakp2, type RakpContext } from "./_rakp.ts";
import { decodePacket, encodeV2, MAX_PACKET, type SessionCrypto } from "./_rmcp.ts";

const CASES = 3000;

/** xorshift32 PRNG. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** One mutation of `b`, chosen by `r`. */
function mutate(b: Uint8Array, r: (n: number) => number): Uint8Array {
  const out = b.slice();
  switch (r(6)) {
    case 0: {
      for (let k = 1 + r(4); k > 0 && out.length > 0; k--) {
        const i = r(out.length);
        out[i] = (out[i] ?? 0) ^ (1 << r(8));
      }
      return out;
    }
    case 1:
      return out.slice(0, r(out.length + 1));
    case 2:
      return Uint8Array.from([...out, ...Array.from({ length: 1 + r(40) }, () => r(256))]);
    case 3: {
      const interesting = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
      for (let k = 1 + r(3); k > 0 && out.length > 0; k--) out[r(out.length)] = interesting[r(interesting.length)] ?? 0;
      return out;
    }
    case 4:
      return Uint8Array.from({ length: r(96) }, () => r(256));
    default: {
      if (out.length === 0) return out;
      const at = r(out.length);
      return Uint8Array.from([...out.subarray(0, at), ...out.subarray(at, at + r(out.length - at + 1)), ...out.subarray(at)]);
    }
  }
}

/** Runs `decode` on CASES mutations of the seeds; every throw must be an IpmiError with one of `codes`. */
function fuzz(
  name: string,
  seed: number,
  seeds: Uint8Array[],
  decode: (b: Uint8Array) => unknown,
  codes: string[] = ["IPMI_DECODE"],
): void {
  test(`${name}: ${CASES} mutations decode or throw ${codes.join("/")}`, () => {
    const r = prng(seed);
    const bad: string[] = [];
    let decoded = 0;
    for (let i = 0; i < CASES; i++) {
      const input = mutate(seeds[r(seeds.length)] ?? new Uint8Array(0), r);
      try {
        decode(input);
        decoded++;
      } catch (e) {
        if (!(e instanceof IpmiError) || !codes.includes(e.code)) bad.push(`${Buffer.from(input).toString("hex")}: ${String(e)}`);
      }
    }
    expect(bad.slice(0, 3)).toEqual([]);
    expect(decoded + bad.length).toBeLessThanOrEqual(CASES);
  });
}

const capture = readFileSync(join(import.meta.dir, "testdata/ipmitool-cs3-power-status.txt"), "utf8")
  .split("\n")
  .filter((l) => /^[<>] [0-9a-f]+$/.test(l))
  .map((l) => Uint8Array.from(Buffer.from(l.slice(2), "hex")));
const packet = (i: number): Uint8Array => capture[i] ?? new Uint8Array(0);
const payloadOf = (b: Uint8Array): Uint8Array => b.slice(16, 16 + (b[14] ?? 0));

// The capture's session keys (cipher suite 3, user admin, password "password").
const rakp1 = payloadOf(packet(4));
const rakp2 = decodeRakp2(payloadOf(packet(5)), CIPHER_SUITES[3]);
const user = new TextEncoder().encode("admin");
const kuid = new TextEncoder().encode("password");
const keys3 = sessionKeys(CIPHER_SUITES[3], kuid, rakp1.slice(8, 24), rakp2.rc, rakp1[24] ?? 0, user);
const crypto3: SessionCrypto = { suite: CIPHER_SUITES[3], k1: keys3.k1, k2: keys3.k2 };
const crypto17: SessionCrypto = { suite: CIPHER_SUITES[17], k1: new Uint8Array(32).fill(0x11), k2: new Uint8Array(32).fill(0x22) };
const ctx: RakpContext = {
  suite: CIPHER_SUITES[3],
  kuid,
  consoleSessionId: new DataView(payloadOf(packet(2)).buffer).getUint32(4, true),
  bmcSessionId: new DataView(rakp1.buffer).getUint32(4, true),
  rm: rakp1.slice(8, 24),
  rc: rakp2.rc,
  guid: rakp2.guid,
  role: rakp1[24] ?? 0,
  user,
};

const frames = [
  encodeResponse({ netFn: 1, cmd: 1, rqSeq: 5, completionCode: 0, data: Uint8Array.of(1, 0, 0x40) }),
  encodeResponse({ netFn: 7, cmd: 0x38, rqSeq: 63, completionCode: 0xd4, data: new Uint8Array(0) }),
  encodeRequest({ netFn: 0, cmd: 8, rqSeq: 9, data: Uint8Array.of(5, 0x80, 4, 0, 0, 0) }),
  encodeRequest({ netFn: 6, cmd: 0x3c, rqSeq: 0, data: Uint8Array.of(1, 2, 3, 4) }),
];
const suite17Packets = [0, 1, 15, 16, 40].map((n) =>
  encodeV2(
    { payloadType: 0, sessionId: 0x80000001, seq: n + 1, payload: frames[n % frames.length]?.subarray(0, n) ?? new Uint8Array(0) },
    crypto17,
    new Uint8Array(16).fill(n),
  ),
);

describe("fuzzing the decoders", () => {
  fuzz("decodePacket without keys", 1, capture, (b) => decodePacket(b));
  fuzz("decodePacket with the capture's suite 3 keys", 2, capture.slice(8), (b) => decodePacket(b, crypto3));
  fuzz("decodePacket with suite 17 keys", 3, suite17Packets, (b) => decodePacket(b, crypto17));
  fuzz("decodeResponse", 4, [...frames, ...capture.slice(0, 2).map((b) => b.slice(14))], decodeResponse);
  fuzz("decodeRequest", 5, [...frames, packet(0).slice(14)], decodeRequest);
  fuzz("decodeOpenSessionResponse", 6, [payloadOf(packet(3))], decodeOpenSessionResponse);
  fuzz("decodeRakp2 (suite 3)", 7, [payloadOf(packet(5))], (b) => decodeRakp2(b, CIPHER_SUITES[3]));
  fuzz("decodeRakp2 (suite 17)", 8, [payloadOf(packet(5)), Uint8Array.from([...payloadOf(packet(5)), ...new Uint8Array(12)])], (b) =>
    decodeRakp2(b, CIPHER_SUITES[17]),
  );
  fuzz("checkRakp4", 9, [payloadOf(packet(7))], (b) => checkRakp4(b, ctx, keys3.sik), [
    "IPMI_DECODE",
    "IPMI_AUTH_FAILED",
    "IPMI_SESSION_FAILED",
    "IPMI_CIPHER_UNSUPPORTED",
  ]);
  fuzz("decodeChannelAuthCaps", 10, [Uint8Array.of(0x01, 0x97, 0x06, 0x03, 0, 0, 0, 0)], decodeChannelAuthCaps);
  fuzz("decodeDeviceId", 11, [Uint8Array.of(0x20, 0x01, 0x02, 0x15, 0x02, 0xbf, 0x57, 0x01, 0x00, 0x34, 0x12)], decodeDeviceId);
  fuzz("decodeChassisStatus", 12, [Uint8Array.of(0x01, 0x00, 0x40)], decodeChassisStatus);
  fuzz("decodeBootFlags", 13, [Uint8Array.of(0x01, 0x05, 0xe0, 0x04, 0, 0, 0)], decodeBootFlags);
  fuzz("parseCipherSuiteRecords", 14, [Uint8Array.of(0xc0, 3, 1, 0x41, 0x81, 0xc0, 17, 3, 0x44, 0x81, 0xc1, 5, 1, 2, 3, 0x01)], (b) => {
    const ids = parseCipherSuiteRecords(b);
    if (ids.some((id) => !Number.isInteger(id) || id < 0 || id > 255)) throw new Error("suite ID out of range");
  });
  fuzz(
    "decryptPayload",
    15,
    [encryptPayload(crypto3.k2, new Uint8Array(16).fill(3), frames[0] ?? new Uint8Array(0)), new Uint8Array(48)],
    (b) => decryptPayload(crypto3.k2, b),
  );

  test("oversized packets are refused unread, with and without keys", () => {
    for (const n of [MAX_PACKET + 1, MAX_PACKET * 2, 65536]) {
      const big = new Uint8Array(n);
      big.set(packet(9));
      expect(() => decodePacket(big)).toThrow(expect.objectContaining({ code: "IPMI_DECODE" }));
      expect(() => decodePacket(big, crypto3)).toThrow(expect.objectContaining({ code: "IPMI_DECODE" }));
    }
  });

  test("the unmutated seeds decode", () => {
    for (const b of capture.slice(8)) expect(decodePacket(b, crypto3).format).toBe("v2.0");
    for (const b of suite17Packets) expect(decodePacket(b, crypto17).format).toBe("v2.0");
    expect(() => checkRakp4(payloadOf(packet(7)), ctx, keys3.sik)).not.toThrow();
  });
});
