/**
 * Byte-literal proof of the codec: a whole ipmitool session against ipmi_sim (cipher suite 3), captured on the
 * wire (testdata/). Every packet decodes; the key exchange computed here from the password gives ipmitool's
 * RAKP 3 and the BMC's RAKP 2 and 4 exactly; every session packet verifies, decrypts, and re-encodes to the
 * same bytes from its own IV.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CIPHER_SUITES, sessionKeys } from "./_crypto.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "./_message.ts";
import {
  checkRakp4,
  decodeOpenSessionResponse,
  decodeRakp2,
  encodeOpenSession,
  encodeRakp1,
  encodeRakp3,
  type RakpContext,
  verifyRakp2,
} from "./_rakp.ts";
import { decodePacket, encodeV2, encodeV15, type IpmiPacket, Payload, type SessionCrypto } from "./_rmcp.ts";

const lines = readFileSync(join(import.meta.dir, "testdata/ipmitool-cs3-power-status.txt"), "utf8")
  .split("\n")
  .filter((l) => /^[<>] [0-9a-f]+$/.test(l));
const packets = lines.map((l) => ({ dir: l[0] as ">" | "<", bytes: Uint8Array.from(Buffer.from(l.slice(2), "hex")) }));
const at = (i: number): Uint8Array => {
  const p = packets[i];
  if (!p) throw new Error(`no packet ${i}`);
  return p.bytes;
};
const v2 = (p: IpmiPacket) => {
  if (p.format !== "v2.0") throw new Error("not v2.0");
  return p;
};
const suite = CIPHER_SUITES[3];
const user = new TextEncoder().encode("admin");
const kuid = new TextEncoder().encode("password");

describe("an ipmitool session against ipmi_sim, byte for byte", () => {
  test("the capture holds the whole exchange", () => expect(packets.length).toBe(22));

  test("Get Channel Authentication Capabilities in a v1.5 header, both ways", () => {
    const req = decodePacket(at(0));
    if (req.format !== "v1.5") throw new Error("not v1.5");
    expect(decodeRequest(req.message)).toEqual({ netFn: 6, cmd: 0x38, rqSeq: 0, data: Uint8Array.of(0x8e, 0x04) });
    expect(encodeV15(encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: 0, data: Uint8Array.of(0x8e, 0x04) }))).toEqual(at(0));
    const res = decodePacket(at(1));
    if (res.format !== "v1.5") throw new Error("not v1.5");
    const r = decodeResponse(res.message);
    expect([r.netFn, r.cmd, r.completionCode]).toEqual([7, 0x38, 0]);
    // Byte 1: IPMI v2.0 extended data present; byte 4 bit 1: IPMI v2.0 supported.
    expect([(r.data[1] ?? 0) & 0x80, (r.data[3] ?? 0) & 0x02]).toEqual([0x80, 0x02]);
    expect(encodeResponse(r)).toEqual(res.message);
  });

  test("the key exchange reproduces ipmitool's and the BMC's codes from the password", () => {
    const open = v2(decodePacket(at(2)));
    expect(open.payloadType).toBe(Payload.OPEN_SESSION_REQUEST);
    const consoleSessionId = new DataView(open.payload.buffer).getUint32(4, true);
    expect(encodeOpenSession(open.payload[0] ?? 0, open.payload[1] ?? 0, consoleSessionId, suite)).toEqual(open.payload);
    const osr = decodeOpenSessionResponse(v2(decodePacket(at(3))).payload);
    expect(osr).toMatchObject({ status: 0, consoleSessionId, auth: 1, integrity: 1, confidentiality: 1 });
    const rakp1 = v2(decodePacket(at(4))).payload;
    const rm = rakp1.slice(8, 24);
    const role = rakp1[24] ?? 0;
    expect(encodeRakp1(rakp1[0] ?? 0, osr.bmcSessionId, rm, role, user)).toEqual(rakp1);
    const rakp2 = decodeRakp2(v2(decodePacket(at(5))).payload, suite);
    expect(rakp2.status).toBe(0);
    expect(Buffer.from(rakp2.guid).toString("hex")).toBe("a123456789abcdefa123456789abcdef");
    const ctx: RakpContext = {
      suite,
      kuid,
      consoleSessionId,
      bmcSessionId: osr.bmcSessionId,
      rm,
      rc: rakp2.rc,
      guid: rakp2.guid,
      role,
      user,
    };
    expect(verifyRakp2(ctx, rakp2.authCode)).toBe(true);
    expect(verifyRakp2({ ...ctx, kuid: new TextEncoder().encode("passwore") }, rakp2.authCode)).toBe(false);
    const rakp3 = v2(decodePacket(at(6))).payload;
    expect(encodeRakp3(rakp3[0] ?? 0, ctx)).toEqual(rakp3);
    const { sik } = sessionKeys(suite, kuid, rm, rakp2.rc, role, user);
    expect(() => checkRakp4(v2(decodePacket(at(7))).payload, ctx, sik)).not.toThrow();
  });

  test("every session packet verifies, decrypts to a well-formed message and re-encodes to itself", () => {
    const rakp1 = v2(decodePacket(at(4))).payload;
    const rakp2 = decodeRakp2(v2(decodePacket(at(5))).payload, suite);
    const keys = sessionKeys(suite, kuid, rakp1.slice(8, 24), rakp2.rc, rakp1[24] ?? 0, user);
    const crypto: SessionCrypto = { suite, k1: keys.k1, k2: keys.k2 };
    const seen: string[] = [];
    for (let i = 8; i < packets.length; i++) {
      const p = v2(decodePacket(at(i), crypto));
      expect([p.encrypted, p.authenticated, p.payloadType]).toEqual([true, true, Payload.IPMI]);
      const iv = at(i).slice(16, 32);
      expect(encodeV2({ payloadType: p.payloadType, sessionId: p.sessionId, seq: p.seq, payload: p.payload }, crypto, iv)).toEqual(at(i));
      if (packets[i]?.dir === ">") {
        const r = decodeRequest(p.payload);
        seen.push(`> ${r.netFn}/${r.cmd.toString(16)}`);
      } else {
        const r = decodeResponse(p.payload);
        seen.push(`< ${r.netFn}/${r.cmd.toString(16)} cc=${r.completionCode}`);
      }
    }
    // Set Session Privilege; ipmitool's group-extension probes (netFn 0x2c), refused by ipmi_sim with 0xc1;
    // Get Device ID; Get Chassis Status; Close Session.
    expect(seen).toEqual([
      "> 6/3b",
      "< 7/3b cc=0",
      "> 44/3e",
      "< 45/3e cc=193",
      "> 6/1",
      "< 7/1 cc=0",
      "> 44/0",
      "< 45/0 cc=193",
      "> 44/0",
      "< 45/0 cc=193",
      "> 0/1",
      "< 1/1 cc=0",
      "> 6/3c",
      "< 7/3c cc=0",
    ]);
  });

  test("a flipped bit anywhere in a session packet is refused as forged or malformed", () => {
    const rakp1 = v2(decodePacket(at(4))).payload;
    const rakp2 = decodeRakp2(v2(decodePacket(at(5))).payload, suite);
    const keys = sessionKeys(suite, kuid, rakp1.slice(8, 24), rakp2.rc, rakp1[24] ?? 0, user);
    const crypto: SessionCrypto = { suite, k1: keys.k1, k2: keys.k2 };
    const good = at(9);
    for (let i = 4; i < good.length; i++) {
      const bad = good.slice();
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      expect(() => decodePacket(bad, crypto)).toThrow(expect.objectContaining({ code: "IPMI_DECODE" }));
    }
  });
});
