/**
 * Cipher suites 3 and 17 (IPMI v2.0 §13.28–13.32) checked against the BMC side written out from the spec
 * (_fakebmc_wire.ts): the client's RAKP 2 check, RAKP 3 code, SIK, K1, K2, RAKP 4 check and sealed packets
 * agree with it on seeded inputs, both ways, and any change to an input breaks them.
 */
import { describe, expect, test } from "bun:test";
import { CIPHER_SUITES, sessionKeys } from "./_crypto.ts";
import { BMC_SUITES, type BmcRakp, bmcKeys, openPacket, rakp2Code, rakp3Code, rakp4Icv, sealPacket, userKey } from "./_fakebmc_wire.ts";
import { checkRakp4, encodeRakp3, type RakpContext, verifyRakp2 } from "./_rakp.ts";
import { decodePacket, encodeV2 } from "./_rmcp.ts";

/** Deterministic bytes. */
function bytes(seed: number, n: number): Uint8Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  return Uint8Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s & 0xff;
  });
}

for (const id of [3, 17] as const) {
  describe(`cipher suite ${id} against the spec`, () => {
    test("RAKP codes, session keys and the RAKP 4 check agree (64 seeded sessions)", () => {
      for (let i = 0; i < 64; i++) {
        const password = Buffer.from(bytes(i, 1 + (i % 20)))
          .toString("hex")
          .slice(0, 1 + (i % 20));
        const user = new TextEncoder().encode(`user${i}`.slice(0, 16));
        const view = new DataView(bytes(i + 500, 8).buffer);
        const r: BmcRakp = {
          suite: BMC_SUITES[id],
          kuid: userKey(password),
          consoleId: view.getUint32(0, true) | 0x80000000,
          bmcId: view.getUint32(4, true),
          rm: bytes(i + 1000, 16),
          rc: bytes(i + 2000, 16),
          guid: bytes(i + 3000, 16),
          role: 0x14,
          user,
        };
        const ctx: RakpContext = {
          suite: CIPHER_SUITES[id],
          kuid: new TextEncoder().encode(password),
          consoleSessionId: r.consoleId >>> 0,
          bmcSessionId: r.bmcId,
          rm: r.rm,
          rc: r.rc,
          guid: r.guid,
          role: r.role,
          user,
        };
        expect(verifyRakp2(ctx, rakp2Code(r))).toBe(true);
        expect(verifyRakp2({ ...ctx, bmcSessionId: (r.bmcId ^ 1) >>> 0 }, rakp2Code(r))).toBe(false);
        expect(Buffer.from(encodeRakp3(7, ctx).subarray(8)).equals(rakp3Code(r))).toBe(true);
        const mine = sessionKeys(CIPHER_SUITES[id], ctx.kuid, r.rm, r.rc, r.role, user);
        const spec = bmcKeys(r);
        expect([
          Buffer.from(mine.sik).equals(spec.sik),
          Buffer.from(mine.k1).equals(spec.k1),
          Buffer.from(mine.k2).equals(spec.k2),
        ]).toEqual([true, true, true]);
        const rakp4 = Buffer.concat([Buffer.of(7, 0, 0, 0), Buffer.alloc(4), rakp4Icv(r, spec.sik)]);
        expect(() => checkRakp4(rakp4, ctx, mine.sik)).not.toThrow();
        expect(() => checkRakp4(rakp4, { ...ctx, guid: bytes(i, 16) }, mine.sik)).toThrow(
          expect.objectContaining({ code: "IPMI_AUTH_FAILED" }),
        );
      }
    });

    test("packets sealed by one side open on the other (payloads of 0 to 80 bytes)", () => {
      const spec = bmcKeys({
        suite: BMC_SUITES[id],
        kuid: userKey("pw"),
        consoleId: 1,
        bmcId: 2,
        rm: bytes(1, 16),
        rc: bytes(2, 16),
        guid: bytes(3, 16),
        role: 0x14,
        user: Uint8Array.of(0x61),
      });
      const crypto = { suite: CIPHER_SUITES[id], k1: new Uint8Array(spec.k1), k2: new Uint8Array(spec.k2) };
      for (let n = 0; n <= 80; n++) {
        const payload = bytes(n + 7, n);
        const p = { payloadType: 0, sessionId: 0x80000000 + n, seq: n + 1, payload };
        const fromBmc = decodePacket(sealPacket(p, spec, bytes(n, 16)), crypto);
        expect(fromBmc).toMatchObject({
          format: "v2.0",
          encrypted: true,
          authenticated: true,
          sessionId: p.sessionId,
          seq: p.seq,
          payload,
        });
        const fromClient = openPacket(encodeV2(p, crypto, bytes(n, 16)), spec);
        expect(fromClient).toMatchObject({ encrypted: true, authenticated: true, sessionId: p.sessionId, seq: p.seq, payload });
        expect(Buffer.from(encodeV2(p, crypto, bytes(n, 16))).equals(sealPacket(p, spec, bytes(n, 16)))).toBe(true);
      }
    });
  });
}
