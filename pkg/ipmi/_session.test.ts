/**
 * The session logic and cipher suites 3 and 17 against a fake BMC whose RAKP codes, SIK, K1, K2, integrity
 * codes and AES are written out from the spec (_fakebmc_wire.ts), independently of the client: suite choice,
 * authentication failures, retries, re-establishment, one command at a time, completion codes.
 */
import { describe, expect, test } from "bun:test";
import { type BmcClientOptions, createBmcClient } from "./_client.ts";
import { Cmd, FakeBmc } from "./_fakebmc.ts";

/** A client of `bmc` with tiny timeouts. */
function client(bmc: FakeBmc, o: Partial<BmcClientOptions> = {}) {
  return createBmcClient({
    host: "10.0.0.101",
    user: "admin",
    password: "bmc-secret",
    timeoutMs: 20,
    attempts: 3,
    transport: bmc.transport,
    ...o,
  });
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; detail?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; detail?: Record<string, unknown> };
  }
  throw new Error("expected a rejection");
}

/** The algorithms (auth, integrity, confidentiality) of an Open Session Request payload. */
const proposed = (d: Uint8Array): number[] => [d[12] ?? -1, d[20] ?? -1, d[28] ?? -1];

for (const id of [17, 3] as const) {
  describe(`cipher suite ${id} end to end`, () => {
    test("the session opens with the suite and every command works", async () => {
      const bmc = new FakeBmc({ ciphers: id === 17 ? [3, 17] : [3] });
      const c = client(bmc);
      expect(await c.cipherSuite()).toBe(id);
      expect(proposed(bmc.opens[0] ?? new Uint8Array(0))).toEqual(id === 17 ? [3, 4, 1] : [1, 1, 1]);
      expect(await c.powerStatus()).toBe("off");
      await c.power("on");
      expect(bmc.powerOn).toBe(true);
      expect(await c.powerStatus()).toBe("on");
      await c.setBootDevice("pxe", { efi: true, persistent: true });
      expect(await c.bootFlags()).toEqual({ valid: true, persistent: true, efi: true, device: "pxe" });
      expect(await c.deviceId()).toMatchObject({ deviceId: 0x20, manufacturerId: 0x157, productId: 0x1234 });
      await c.power("off");
      expect(await c.powerStatus()).toBe("off");
      await c.close();
      expect(bmc.times(Cmd.closeSession)).toBe(1);
      // Every session packet the BMC accepted was encrypted and authenticated with its own keys.
      expect(bmc.seen.filter((p) => p.format === "v2.0" && p.payloadType === 0 && p.request).length).toBe(10);
    });

    test("a forged answer (wrong integrity code) or garbage is ignored and the real answer taken", async () => {
      const bmc = new FakeBmc({ ciphers: [id], powerOn: true });
      const c = client(bmc, { cipher: id });
      await c.cipherSuite();
      bmc.forgeBefore = ["forged", "garbage", "forged"];
      expect(await c.powerStatus()).toBe("on");
      expect(await c.powerStatus()).toBe("on");
      expect(await c.powerStatus()).toBe("on");
      expect(bmc.times(Cmd.chassisStatus)).toBe(3);
      expect(bmc.seen.filter((p) => p.request?.cmd === 1 && p.request.netFn === 0).length).toBe(3);
    });
  });
}

describe("cipher suite choice", () => {
  test("cipher 17 against a BMC listing only 3: IPMI_CIPHER_UNSUPPORTED, no Open Session", async () => {
    const bmc = new FakeBmc({ ciphers: [3] });
    const e = await failure(client(bmc, { cipher: 17 }).powerStatus());
    expect(e.code).toBe("IPMI_CIPHER_UNSUPPORTED");
    expect(bmc.opens.length).toBe(0);
  });

  test("a BMC listing 0 and 3 is offered 3, never 0", async () => {
    const bmc = new FakeBmc({ ciphers: [0, 3] });
    const c = client(bmc);
    expect(await c.cipherSuite()).toBe(3);
    expect(bmc.opens.map(proposed)).toEqual([[1, 1, 1]]);
  });

  test("an Open Session refused for its algorithms: IPMI_CIPHER_UNSUPPORTED; for resources: IPMI_SESSION_FAILED", async () => {
    const bmc = new FakeBmc();
    bmc.openSessionStatus = 0x11;
    expect((await failure(client(bmc).powerStatus())).code).toBe("IPMI_CIPHER_UNSUPPORTED");
    bmc.openSessionStatus = 0x01;
    const e = await failure(client(bmc).powerStatus());
    expect(e.code).toBe("IPMI_SESSION_FAILED");
    expect(e.detail?.status).toBe(0x01);
  });
});

describe("credentials", () => {
  test("a wrong password: IPMI_AUTH_FAILED, the password in neither message nor detail", async () => {
    const bmc = new FakeBmc();
    const password = "Wr0ng-Passw0rd-77";
    const e = await failure(client(bmc, { password }).powerStatus());
    expect(e.code).toBe("IPMI_AUTH_FAILED");
    expect(JSON.stringify({ message: e.message, detail: e.detail, text: String(e) })).not.toContain(password);
    expect(bmc.times(Cmd.chassisStatus)).toBe(0);
  });

  test("an unknown user: IPMI_AUTH_FAILED with RMCP+ status 0x0d", async () => {
    const e = await failure(client(new FakeBmc(), { user: "mallory" }).powerStatus());
    expect(e.code).toBe("IPMI_AUTH_FAILED");
    expect(e.detail?.status).toBe(0x0d);
    expect(e.message).toContain("0x0d");
  });

  test("an empty user or password: IPMI_INSECURE and not a packet sent", async () => {
    const bmc = new FakeBmc({ users: { "": "", admin: "" } });
    expect((await failure(client(bmc, { user: "" }).powerStatus())).code).toBe("IPMI_INSECURE");
    expect((await failure(client(bmc, { password: "" }).powerStatus())).code).toBe("IPMI_INSECURE");
    expect(bmc.seen.length).toBe(0);
  });
});

describe("retries and re-establishment", () => {
  test("the first two packets of a conversation dropped: the status call succeeds, executed once", async () => {
    const bmc = new FakeBmc({ powerOn: true });
    bmc.dropRequests = 2;
    expect(await client(bmc).powerStatus()).toBe("on");
    expect(bmc.seen.filter((p) => p.dropped).length).toBe(2);
    expect(bmc.times(Cmd.chassisStatus)).toBe(1);
  });

  for (const id of [3, 17] as const)
    test(`suite ${id}: a late answer to a retransmitted RAKP 1 is not taken for the answer to the copy`, async () => {
      const bmc = new FakeBmc({ ciphers: [3, 17] });
      // The first RAKP 2 (with the BMC's first random number) arrives after the client has sent RAKP 1 again.
      bmc.holdFirstAnswerOf = 0x12;
      const c = client(bmc, { cipher: id });
      expect(await c.powerStatus()).toBe("off");
      await c.close();
    });

  test("a repeatable command retransmits with the same rqSeq and increasing session sequence numbers", async () => {
    const bmc = new FakeBmc({ powerOn: true });
    const c = client(bmc, { attempts: 4 });
    await c.cipherSuite();
    bmc.dropRequests = 2;
    expect(await c.powerStatus()).toBe("on");
    expect(bmc.times(Cmd.chassisStatus)).toBe(1);
    const sent = bmc.seen.filter((p) => p.request?.netFn === 0 && p.request.cmd === 1);
    expect(sent.map((p) => p.dropped)).toEqual([true, true, false]);
    expect(new Set(sent.map((p) => p.request?.rqSeq)).size).toBe(1);
    const seqs = sent.map((p) => p.seq);
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? 0))).toBe(true);
  });

  test("a cycle whose answer is lost is sent exactly once: IPMI_UNREACHABLE, not resent after re-establishment", async () => {
    const bmc = new FakeBmc({ powerOn: true });
    const c = client(bmc, { attempts: 2 });
    await c.cipherSuite();
    bmc.dropAnswers = 1;
    const e = await failure(c.power("cycle"));
    expect(e.code).toBe("IPMI_UNREACHABLE");
    expect(e.message).toContain("may have taken effect");
    expect(await c.powerStatus()).toBe("on");
    expect(bmc.times(Cmd.chassisControl)).toBe(1);
    expect(bmc.seen.filter((p) => p.request?.netFn === 0 && p.request.cmd === 2).length).toBe(1);
    expect(bmc.transports).toBe(2);
  });

  test("a BMC reset mid-session: the next call opens a new session and succeeds", async () => {
    const bmc = new FakeBmc();
    const c = client(bmc, { attempts: 2 });
    await c.power("on");
    bmc.reset();
    expect(await c.powerStatus()).toBe("on");
    expect(bmc.opens.length).toBe(2);
    expect(bmc.times(Cmd.chassisStatus)).toBe(1);
  });

  test("a BMC that stops answering: IPMI_UNREACHABLE naming the target", async () => {
    const bmc = new FakeBmc();
    bmc.silent = true;
    const e = await failure(client(bmc, { attempts: 2 }).powerStatus());
    expect(e.code).toBe("IPMI_UNREACHABLE");
    expect(e.message).toContain("10.0.0.101:623");
  });
});

describe("commands", () => {
  test("concurrent calls run one at a time, in call order", async () => {
    const bmc = new FakeBmc();
    const c = client(bmc);
    const devices = ["pxe", "disk", "bios"] as const;
    const calls = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? c.setBootDevice(devices[i % 3] ?? "pxe") : c.power(i % 4 === 1 ? "on" : "off"),
    );
    await Promise.all(calls);
    const inSession = bmc.log.filter((l) => l.key === Cmd.setBootOptions || l.key === Cmd.chassisControl);
    expect(inSession.map((l) => `${l.key}:${l.data[l.key === Cmd.setBootOptions ? 2 : 0]}`)).toEqual(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? `${Cmd.setBootOptions}:${[1, 2, 6][i % 3]! << 2}` : `${Cmd.chassisControl}:${i % 4 === 1 ? 1 : 0}`,
      ),
    );
    expect(bmc.maxOutstanding).toBe(1);
  });

  test("a completion code other than 0: IPMI_COMMAND_REFUSED naming it", async () => {
    const bmc = new FakeBmc();
    bmc.refuse.set(Cmd.chassisControl, 0xd4);
    const e = await failure(client(bmc).power("on"));
    expect(e.code).toBe("IPMI_COMMAND_REFUSED");
    expect(e.message).toContain("0xd4 (insufficient privilege level)");
    expect(e.detail?.completionCode).toBe(0xd4);
  });
});

/**
 * A seeded random(): xorshift bytes, handed out as views into one shared pool (as a Buffer pool would), the
 * 4-byte draws (console session IDs) taken from `ids` first.
 */
function seeded(seed: number, ids: number[]): (n: number) => Uint8Array {
  const pool = new Uint8Array(256);
  let at = 7;
  let s = seed >>> 0 || 1;
  return (n) => {
    if (at + n > pool.length) at = 7;
    const out = pool.subarray(at, at + n);
    at += n;
    const id = n === 4 ? ids.shift() : undefined;
    if (id !== undefined) new DataView(out.buffer, out.byteOffset, 4).setUint32(0, id, true);
    else
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        out[i] = s & 0xff;
      }
    return out;
  };
}

describe("seeded randomness", () => {
  const ids = [0xffffffff, 0x80000000, 0xdeadbeef, 0xfffffffe, 0x7fffffff, 0x00000000, 0xc0ffee01, 0x80000001];
  for (const [i, consoleId] of ids.entries()) {
    for (const cipher of [3, 17] as const) {
      test(`console session ID 0x${consoleId.toString(16)}, BMC session ID with the top bit set, suite ${cipher}`, async () => {
        const bmcId = (0x80000000 + i * 0x01010101) >>> 0;
        const bmc = new FakeBmc({ ciphers: [cipher], sessionIds: [bmcId], seed: 1000 + i });
        const c = client(bmc, { random: seeded(i + 1, [consoleId]) });
        await c.power("on");
        expect(await c.powerStatus()).toBe("on");
        const open = bmc.opens[0] ?? new Uint8Array(8);
        expect(new DataView(open.buffer, open.byteOffset).getUint32(4, true)).toBe((consoleId | 1) >>> 0);
        expect(bmc.seen.filter((p) => p.request).every((p) => p.format === "v1.5" || p.sessionId === bmcId)).toBe(true);
        await c.close();
        expect(bmc.times(Cmd.closeSession)).toBe(1);
      });
    }
  }
});
