/**
 * Vaquero's IPMI client against a BMC it did not write: OpenIPMI's ipmi_sim on loopback. Every command, with
 * cipher suite 3; the same answers as ipmitool (the reference client); clear typed errors, never a hang, for a
 * suite the BMC lacks, a wrong password or user, a BMC that stops answering; a session that survives a BMC
 * restart; and `vaquero bmc`, the compiled binary, from a folder without node_modules.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createBmcClient } from "../pkg/ipmi/index.ts";
import { builtBinary } from "./_helpers/build.ts";
import { type IpmiSim, ipmiSimUnavailable, startIpmiSim } from "./_helpers/ipmi-sim.ts";

const ROOT = resolve(import.meta.dir, "..");
const why = ipmiSimUnavailable();

describe.skipIf(why !== undefined)(`IPMI against ipmi_sim${why ? ` (skipped: ${why})` : ""}`, () => {
  const work = mkdtempSync(join(tmpdir(), "vq-ipmi-"));
  let sim: IpmiSim;
  const bmc = (over: { user?: string; password?: string; cipher?: 3 | 17; timeoutMs?: number } = {}) =>
    createBmcClient({ host: "127.0.0.1", port: sim.port, user: "admin", password: "password", ...over });
  const ipmitool = (...args: string[]): string => {
    const r = Bun.spawnSync(
      ["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", String(sim.port), "-U", "admin", "-P", "password", ...args],
      {
        timeout: 20_000,
      },
    );
    return `${r.stdout.toString()}${r.stderr.toString()}`.trim();
  };

  beforeAll(async () => {
    sim = await startIpmiSim(join(work, "bmc"));
    builtBinary();
    cpSync(join(ROOT, "dist/vaquero"), join(work, "vaquero"));
  }, 60_000);
  afterAll(async () => {
    await sim?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test("every command, in one session of cipher suite 3 (ipmi_sim has no 17, so the client picks 3)", async () => {
    const c = bmc();
    expect(await c.cipherSuite()).toBe(3);
    expect(await c.deviceId()).toMatchObject({ ipmiVersion: "2.0", manufacturerId: 0x1291, productId: 0xf02, firmware: "9.08" });
    expect(await c.powerStatus()).toBe("off");
    await c.power("on");
    expect([await c.powerStatus(), sim.power()]).toEqual(["on", "on"]);
    await c.setBootDevice("pxe", { efi: true });
    await c.power("off");
    expect(await c.powerStatus()).toBe("off");
    await c.power("on");
    await c.power("reset");
    await c.power("cycle");
    await c.power("soft");
    await c.setBootDevice("disk", { persistent: true });
    await c.setBootDevice("bios");
    await c.close();
    const calls = sim.calls();
    for (const want of ["set power 1", "set power 0", "set boot pxe", "set reset 1", "set boot default", "set boot bios"]) {
      expect(calls.some((l) => l.startsWith(want))).toBe(true);
    }
  });

  test("the same answers as ipmitool, the reference client", async () => {
    const c = bmc();
    await c.power("on");
    expect(ipmitool("chassis", "power", "status")).toBe("Chassis Power is on");
    expect(ipmitool("chassis", "power", "off")).toBe("Chassis Power Control: Down/Off");
    expect(await c.powerStatus()).toBe("off");
    const info = ipmitool("mc", "info");
    const d = await c.deviceId();
    expect(info).toContain(`Manufacturer ID           : ${d.manufacturerId}`);
    expect(info).toContain(`Firmware Revision         : ${d.firmware}`);
    expect(info).toContain(`IPMI Version              : ${d.ipmiVersion}`);
    await c.close();
  });

  test("a suite the BMC does not offer is a clear error, not a hang", async () => {
    const err = await bmc({ cipher: 17 })
      .powerStatus()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "IPMI_CIPHER_UNSUPPORTED" });
    expect((err as Error).message).toContain(`127.0.0.1:${sim.port} does not offer cipher suite 17`);
  });

  test("a wrong password and an unknown user are refused as such", async () => {
    const wrong = await bmc({ password: "passwore" })
      .powerStatus()
      .catch((e: unknown) => e);
    expect(wrong).toMatchObject({
      code: "IPMI_AUTH_FAILED",
      message: `ipmi: 127.0.0.1:${sim.port} rejected the credentials of user "admin" (wrong password)`,
    });
    expect((wrong as Error).message).not.toContain("passwore");
    const nobody = await bmc({ user: "nobody" })
      .powerStatus()
      .catch((e: unknown) => e);
    expect(nobody).toMatchObject({ code: "IPMI_AUTH_FAILED" });
    expect((nobody as Error).message).toContain('refused user "nobody" at RAKP 1: 0x0d (unauthorized name)');
  });

  test("anonymous users and empty passwords are refused before anything is sent", async () => {
    expect(
      await bmc({ user: "" })
        .powerStatus()
        .catch((e: unknown) => e),
    ).toMatchObject({ code: "IPMI_INSECURE" });
    expect(
      await bmc({ password: "" })
        .powerStatus()
        .catch((e: unknown) => e),
    ).toMatchObject({ code: "IPMI_INSECURE" });
  });

  test("a BMC that stops answering is IPMI_UNREACHABLE after bounded retries", async () => {
    const c = bmc({ timeoutMs: 100 });
    expect(await c.powerStatus()).toBe("off");
    sim.pause();
    try {
      const err = await c.powerStatus().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "IPMI_UNREACHABLE" });
    } finally {
      sim.resume();
    }
    // Once it answers again, the next call opens a fresh session.
    expect(await c.powerStatus()).toBe("off");
    await c.close();
  });

  test("a BMC restarted mid-session: the client opens a new session and carries on", async () => {
    const c = bmc({ timeoutMs: 200 });
    await c.power("on");
    await sim.restart();
    expect(await c.powerStatus()).toBe("on");
    await c.power("off");
    expect(sim.power()).toBe("off");
    await c.close();
  });

  test("a power cycle whose answer is lost is not sent twice", async () => {
    const c = bmc({ timeoutMs: 100 });
    await c.power("on");
    const before = sim.calls().length;
    sim.pause();
    const err = await c.power("cycle").catch((e: unknown) => e);
    sim.resume();
    expect(err).toMatchObject({ code: "IPMI_UNREACHABLE" });
    expect((err as Error).message).toContain("it may have taken effect, so it is not sent again");
    // The state can be read again (ipmi_sim's cycle leaves the chassis off, as INTEROP.md notes).
    expect(["on", "off"]).toContain(await c.powerStatus());
    // ipmi_sim queued the paused datagrams: the retries of one request count once; none is sent after.
    expect(
      sim
        .calls()
        .slice(before)
        .filter((l) => l.startsWith("set power")).length,
    ).toBeLessThanOrEqual(1);
    await c.close();
  });

  describe("vaquero bmc (the compiled binary)", () => {
    const run = (args: string[], env: Record<string, string> = {}) => {
      const r = Bun.spawnSync([join(work, "vaquero"), "bmc", "--address", `127.0.0.1:${sim.port}`, "--user", "admin", ...args], {
        cwd: work,
        env: { PATH: "/usr/bin:/bin", BMC_PW: "password", ...env },
        timeout: 30_000,
      });
      return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
    };
    test("power and bootdev, one line or JSON", () => {
      expect(run(["--password-ref", "env:BMC_PW", "power", "on"])).toMatchObject({ code: 0, out: "power: on sent\n" });
      expect(run(["--password-ref", "env:BMC_PW", "power", "status"])).toMatchObject({ code: 0, out: "power: on\n" });
      expect(run(["--password-ref", "env:BMC_PW", "bootdev", "pxe", "--efi"])).toMatchObject({
        code: 0,
        out: "bootdev: pxe (next boot, efi)\n",
      });
      const json = run(["--password-ref", "env:BMC_PW", "--json", "power", "status"]);
      expect(JSON.parse(json.out)).toEqual({ power: "on", cipher: 3 });
    });
    test("failures: exit 1 with the typed error, exit 2 for usage and secrets", () => {
      const wrong = run(["--password-ref", "env:BMC_PW", "power", "status"], { BMC_PW: "nope" });
      expect([wrong.code, wrong.err.trim()]).toEqual([
        1,
        `ipmi: 127.0.0.1:${sim.port} rejected the credentials of user "admin" (wrong password)`,
      ]);
      const unset = run(["--password-ref", "env:MISSING", "power", "status"]);
      expect([unset.code, unset.err.trim()]).toEqual([2, "password_ref env:MISSING: the variable is not set"]);
      expect(run(["--password-ref", "env:BMC_PW", "power", "dance"]).code).toBe(2);
      expect(run(["--password-ref", "env:BMC_PW", "--cipher", "0", "power", "status"]).code).toBe(2);
      expect(run(["--password-ref", "hunter2", "power", "status"]).code).toBe(2);
    });
  });
});
