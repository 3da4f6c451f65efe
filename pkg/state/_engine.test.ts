import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VaqueroError } from "../../internal/errors/index.ts";
import { openEmbeddedStore, type Store } from "../store/index.ts";
import { createEngine, DEFAULT_POLICY, type Engine, type HostView, type Policy, type PowerControl, type SiteView } from "./index.ts";

/** A site of `n` hosts `h0…` in workflow `w` (two stages), plus hosts of other workflows given. */
function site(
  hosts: { name: string; workflow?: string; stages?: string[]; never?: boolean; soft?: boolean }[],
  policies: Record<string, Partial<Policy>> = {},
) {
  const views = hosts.map((h, i): HostView => {
    const mac = `52:54:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
    return {
      name: h.name,
      stages: h.stages ?? ["wipe", "install"],
      neverProvision: h.never === true,
      workflow: h.workflow ?? "w",
      macs: [mac],
      soft: h.soft === true,
    };
  });
  const byMac = new Map(views.map((v) => [v.macs?.[0] ?? "", v]));
  const view: SiteView = {
    host: (mac) => byMac.get(mac),
    macs: () => [...byMac.keys()],
    byName: (n) => views.find((v) => v.name === n),
    policy: (w) => ({ ...DEFAULT_POLICY, ...policies[w] }),
  };
  const mac = (name: string): string => views.find((v) => v.name === name)?.macs?.[0] ?? "";
  return { view, mac };
}

/** A BMC that keeps its machine's power in a variable and counts what it was told. */
function fakeBmc(initial: "on" | "off" = "off") {
  const calls: string[] = [];
  let power = initial;
  let failNext = 0;
  const control: PowerControl = {
    powerStatus: async () => power,
    power: async (a) => {
      if (failNext > 0) {
        failNext--;
        throw new VaqueroError("IPMI_UNREACHABLE", "ipmi: 10.0.0.101:623 did not answer Chassis Control (on) (4 attempts)");
      }
      calls.push(a);
      if (a === "on" || a === "cycle" || a === "reset") power = "on";
      if (a === "off" || a === "soft") power = "off";
      return { done: true };
    },
    setBootDevice: async (d) => {
      calls.push(`bootdev ${d}`);
      return { done: true };
    },
  };
  return { calls, control, setPower: (p: "on" | "off") => (power = p), failNext: (n: number) => (failNext = n) };
}

const settle = () => new Promise((r) => setTimeout(r, 1));
let clock = Date.UTC(2026, 0, 1);
const now = () => clock;
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function store(dir?: string): Promise<{ store: Store; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), "vq-engine-"));
  if (!dir) dirs.push(d);
  const s = await openEmbeddedStore({ path: join(d, "vaquero.db"), leaseCheckMs: false });
  stores.push(s);
  return { store: s, dir: d };
}
function engine(view: SiteView, extra: Partial<Parameters<typeof createEngine>[0]> = {}): Engine {
  return createEngine({ site: view, siteId: "s1", now, tickMs: false, sleep: async () => {}, ...extra });
}

describe("machines through their workflow (no rollout)", () => {
  test("unknown → booting → installing → (stage-done) powering → booting → installing → provisioned", async () => {
    const { view, mac } = site([{ name: "a" }]);
    const bmc = fakeBmc("on");
    const e = engine(view, { power: () => bmc.control });
    await e.start();
    const m = mac("a");
    expect(e.machine(m)).toMatchObject({ state: "unknown", stage: "wipe" });
    e.record(m, "dhcp", "ack");
    expect(e.machine(m)?.state).toBe("unknown");
    e.record(m, "http", "boot.ipxe");
    expect(e.machine(m)?.state).toBe("booting");
    await e.report(m, "booted");
    expect(e.machine(m)?.state).toBe("installing");
    await e.report(m, "stage-done");
    await settle();
    // Between stages: PXE, power read (on), cycle, power read again: booting the next stage.
    expect(bmc.calls).toEqual(["bootdev pxe", "cycle"]);
    expect(e.machine(m)).toMatchObject({ state: "booting", stage: "install", stageIndex: 1 });
    await e.report(m, "booted");
    await e.report(m, "installed");
    expect(e.machine(m)).toMatchObject({ state: "provisioned" });
    expect(e.bootFor(m)).toEqual({ exit: "host a is provisioned" });
    expect(e.events(m).map((x) => `${x.source}:${x.type}`)).toEqual([
      "dhcp:ack",
      "http:boot.ipxe",
      "state:booted",
      "state:stage-done",
      "lifecycle:bootdev",
      "lifecycle:power-status",
      "lifecycle:power",
      "lifecycle:power-status",
      "state:booted",
      "state:installed",
    ]);
    await e.stop();
  });

  test("a machine that powered itself off between stages is powered on, never cycled; soft BMCs shut down first", async () => {
    const { view, mac } = site([{ name: "a" }, { name: "b", soft: true }]);
    const a = fakeBmc("off");
    const b = fakeBmc("on");
    const e = engine(view, { power: (h) => (h.name === "a" ? a.control : b.control) });
    await e.start();
    for (const n of ["a", "b"]) {
      e.record(mac(n), "http", "boot.ipxe");
      await e.report(mac(n), "stage-done");
    }
    await settle();
    expect(a.calls).toEqual(["bootdev pxe", "on"]);
    expect(b.calls).toEqual(["bootdev pxe", "soft", "on"]);
    await e.stop();
  });

  test("failed keeps its reason and boots the disk; never_provision is skipped whatever it reports; unknown MACs are not recorded", async () => {
    const { view, mac } = site([{ name: "a" }, { name: "db", never: true }]);
    const e = engine(view);
    await e.start();
    await e.report(mac("a"), "failed", { reason: "disk not found" });
    expect(e.machine(mac("a"))).toMatchObject({ state: "failed", reason: "disk not found" });
    expect(e.bootFor(mac("a"))).toEqual({ exit: "host a failed in stage wipe: disk not found" });
    await e.report(mac("db"), "booted");
    expect(e.machine(mac("db"))?.state).toBe("skipped");
    expect(e.record("52:54:00:ff:ff:ff", "state", "booted")).toBeUndefined();
    await e.stop();
  });

  test("every state × every report: the table of API.md", async () => {
    const reports = ["booted", "stage-done", "installed", "failed", "log"] as const;
    const want: Record<string, Record<(typeof reports)[number], string>> = {
      unknown: { booted: "installing", "stage-done": "powering", installed: "powering", failed: "failed", log: "unknown" },
      booting: { booted: "installing", "stage-done": "powering", installed: "powering", failed: "failed", log: "booting" },
      installing: { booted: "installing", "stage-done": "powering", installed: "powering", failed: "failed", log: "installing" },
      provisioned: {
        booted: "provisioned",
        "stage-done": "provisioned",
        installed: "provisioned",
        failed: "provisioned",
        log: "provisioned",
      },
      failed: { booted: "failed", "stage-done": "failed", installed: "failed", failed: "failed", log: "failed" },
    };
    const { view, mac } = site([{ name: "a" }]);
    for (const [from, row] of Object.entries(want)) {
      for (const r of reports) {
        // No power control: "powering" stays until the machine boots by itself.
        const e = engine(view);
        await e.start();
        const m = mac("a");
        if (from === "booting") e.record(m, "http", "boot.ipxe");
        if (from === "installing") await e.report(m, "booted");
        if (from === "provisioned") {
          await e.report(m, "stage-done");
          await e.report(m, "stage-done");
        }
        if (from === "failed") await e.report(m, "failed");
        expect([from, r, e.machine(m)?.state]).toEqual([from, r, from === "unknown" ? "unknown" : from]);
        await e.report(m, r);
        expect([from, r, e.machine(m)?.state]).toEqual([from, r, row[r]]);
        await e.stop();
      }
    }
  });

  test("a report naming another stage (a retry of one already applied) moves nothing", async () => {
    const { view, mac } = site([{ name: "a" }]);
    const e = engine(view);
    await e.start();
    e.record(mac("a"), "http", "boot.ipxe");
    await e.report(mac("a"), "stage-done", { boot: "wipe" });
    expect(e.machine(mac("a"))).toMatchObject({ stage: "install", state: "powering" });
    // The same report again, as a client retrying after a lost answer: install is not skipped.
    await e.report(mac("a"), "stage-done", { boot: "wipe" });
    expect(e.machine(mac("a"))).toMatchObject({ stage: "install", state: "powering" });
    await e.report(mac("a"), "installed", { boot: "install" });
    expect(e.machine(mac("a"))?.state).toBe("provisioned");
    await e.stop();
  });

  test("a stage not done within stage_timeout fails the machine", async () => {
    const { view, mac } = site([{ name: "a" }], { w: { stage_timeout: 60 } });
    const e = engine(view);
    await e.start();
    e.record(mac("a"), "http", "boot.ipxe");
    clock += 59_000;
    await e.tick();
    expect(e.machine(mac("a"))?.state).toBe("booting");
    clock += 2_000;
    await e.tick();
    expect(e.machine(mac("a"))).toMatchObject({ state: "failed", reason: "stage wipe not done within 60 s (stage_timeout)" });
    await e.stop();
  });
});

describe("rollouts", () => {
  const hosts = (n: number, workflow = "w") =>
    Array.from({ length: n }, (_, i) => ({ name: `${workflow}${i}`, workflow, stages: ["install"] }));
  const finish = async (e: Engine, m: string, how: "installed" | "failed" = "installed") => {
    e.record(m, "http", "boot.ipxe");
    await e.report(m, "booted");
    await e.report(m, how);
  };

  test("max_concurrent: never more at once; each host powered once into its stage; done at the end", async () => {
    const { view, mac } = site(hosts(5), { w: { max_concurrent: 2 } });
    const bmcs = new Map<string, ReturnType<typeof fakeBmc>>();
    const bmcOf = (name: string) => {
      const b = bmcs.get(name) ?? fakeBmc();
      bmcs.set(name, b);
      return b.control;
    };
    const e = engine(view, { power: (h) => bmcOf(h.name) });
    await e.start();
    const r = await e.startRollout({ hosts: ["w0", "w1", "w2", "w3", "w4"] });
    await settle();
    expect(r.counts).toMatchObject({ running: 2, waiting: 3 });
    expect(e.machines().map((m) => m.state)).toEqual(["booting", "booting", "pending", "pending", "pending"]);
    for (let i = 0; i < 5; i++) {
      await finish(e, mac(`w${i}`));
      await settle();
      const v = e.rollout(r.id);
      expect((v?.counts.running ?? 0) <= 2).toBe(true);
    }
    expect(e.rollout(r.id)).toMatchObject({ state: "done", counts: { provisioned: 5 } });
    for (const b of bmcs.values()) expect(b.calls).toEqual(["bootdev pxe", "on"]);
    await e.stop();
  });

  test("max_fail halts the rollout and says why; hosts already running finish; resume goes on", async () => {
    const { view, mac } = site(hosts(4), { w: { max_concurrent: 1, max_fail: 0 } });
    const e = engine(view);
    await e.start();
    const r = await e.startRollout({ hosts: ["w0", "w1", "w2", "w3"] });
    await finish(e, mac("w0"), "failed");
    const v = e.rollout(r.id);
    expect(v?.state).toBe("halted");
    expect(v?.reason).toBe("workflow w: 1 host(s) failed, more than max_fail 0 (last: w0: the OS reported a failure)");
    expect(v?.counts).toMatchObject({ failed: 1, waiting: 3, running: 0 });
    await e.startRollout({ hosts: ["w0"] }).catch((err: Error) => expect(err.message).toContain("w0"));
    const overridden = await e.resumeRollout(r.id);
    // Still over max_fail: halts again at once. An override of max_fail lets it go on.
    expect(overridden.state).toBe("halted");
    await e.cancelRollout(r.id);
    const again = await e.startRollout({ hosts: ["w1", "w2"], policy: { max_fail: 5 } });
    expect(again.counts.running).toBe(1);
    await e.stop();
  });

  test("after and min_standing: dependants wait until enough hosts of the workflow they name are provisioned", async () => {
    const { view, mac } = site([...hosts(2, "ctl"), ...hosts(2, "wrk")], { wrk: { after: ["ctl"] }, ctl: { min_standing: 1 } });
    const e = engine(view);
    await e.start();
    const r = await e.startRollout({ hosts: ["wrk0", "wrk1", "ctl0", "ctl1"] });
    expect(e.machine(mac("wrk0"))?.state).toBe("pending");
    expect(["ctl0", "ctl1"].map((n) => e.machine(mac(n))?.state)).toEqual(["powering", "powering"]);
    await finish(e, mac("ctl0"));
    expect(["wrk0", "wrk1"].map((n) => e.machine(mac(n))?.state)).toEqual(["powering", "powering"]);
    expect(e.rollout(r.id)?.counts).toMatchObject({ provisioned: 1, running: 3 });
    await e.stop();
  });

  test("never_provision hosts are skipped; pause stops new starts; cancel returns waiting hosts and keeps running ones", async () => {
    const { view, mac } = site([...hosts(3), { name: "db", workflow: "w", stages: ["install"], never: true }], {
      w: { max_concurrent: 1 },
    });
    const e = engine(view);
    await e.start();
    const r = await e.startRollout({ hosts: ["w0", "w1", "w2", "db"] });
    expect(r.hosts.db).toMatchObject({ state: "skipped", reason: "never_provision" });
    await e.pauseRollout(r.id);
    await finish(e, mac("w0"));
    expect(e.rollout(r.id)?.counts).toMatchObject({ provisioned: 1, running: 0, waiting: 2 });
    await e.resumeRollout(r.id);
    expect(e.rollout(r.id)?.counts).toMatchObject({ running: 1, waiting: 1 });
    const c = await e.cancelRollout(r.id);
    expect(c).toMatchObject({ state: "cancelled", counts: { running: 1, cancelled: 1 } });
    expect(e.machine(mac("w2"))).toMatchObject({ state: "unknown" });
    expect(e.machine(mac("w2"))?.rollout).toBeUndefined();
    await expect(e.pauseRollout(r.id)).rejects.toMatchObject({ code: "ROLLOUT_STATE" });
    await expect(e.startRollout({ hosts: ["nope"] })).rejects.toMatchObject({ code: "ROLLOUT_HOST_UNKNOWN" });
    await expect(e.startRollout({ hosts: [] })).rejects.toMatchObject({ code: "ROLLOUT_EMPTY" });
    await e.stop();
  });

  test("a rollout's stage_timeout override applies to its hosts' stages", async () => {
    const { view, mac } = site(hosts(1), { w: { stage_timeout: 3600 } });
    const e = engine(view);
    await e.start();
    await e.startRollout({ hosts: ["w0"], policy: { stage_timeout: 10 } });
    e.record(mac("w0"), "http", "boot.ipxe");
    clock += 11_000;
    await e.tick();
    expect(e.machine(mac("w0"))).toMatchObject({ state: "failed", reason: "stage install not done within 10 s (stage_timeout)" });
    await e.stop();
  });

  test("a rollout named by the caller starts once: starting the same id again returns it", async () => {
    const { view } = site(hosts(2));
    const e = engine(view);
    await e.start();
    const first = await e.startRollout({ hosts: ["w0", "w1"], id: "ctl-42" });
    const again = await e.startRollout({ hosts: ["w0", "w1"], id: "ctl-42" });
    expect([first.id, again.id, e.rollouts().length]).toEqual(["ctl-42", "ctl-42", 1]);
    await expect(e.startRollout({ hosts: ["w0"], id: "../x" })).rejects.toMatchObject({ code: "ROLLOUT_ID_INVALID" });
    await e.stop();
  });

  test("an unreachable BMC is retried with back-off, then the host fails with the reason", async () => {
    const { view, mac } = site(hosts(1));
    const bmc = fakeBmc();
    bmc.failNext(10);
    const e = engine(view, { power: () => bmc.control });
    await e.start();
    await e.startRollout({ hosts: ["w0"] });
    for (let i = 0; i < 5; i++) {
      await settle();
      clock += 60_000;
      await e.tick();
    }
    await settle();
    expect(e.machine(mac("w0"))).toMatchObject({ state: "failed" });
    expect(e.machine(mac("w0"))?.reason).toBe(
      "power: IPMI_UNREACHABLE: ipmi: 10.0.0.101:623 did not answer Chassis Control (on) (4 attempts)",
    );
    // Three attempts, each setting the boot device first: the BMC was not hammered.
    expect(bmc.calls).toEqual(["bootdev pxe", "bootdev pxe", "bootdev pxe"]);
    await e.stop();
  });
});

describe("a new release", () => {
  test("restage: machines, rollouts and power sequences carry on; new rollouts see the new site", async () => {
    const { view, mac } = site([
      { name: "a", stages: ["install"] },
      { name: "b", stages: ["install"] },
    ]);
    const bmc = fakeBmc();
    const e = engine(view, { power: () => bmc.control, release: "r1" });
    await e.start();
    const r = await e.startRollout({ hosts: ["a"] });
    await settle();
    e.record(mac("a"), "http", "boot.ipxe");
    const next = site([
      { name: "a", stages: ["install"] },
      { name: "b", stages: ["install"] },
      { name: "c", stages: ["install"] },
    ]);
    e.restage(next.view, "r2");
    expect(e.machine(mac("a"))).toMatchObject({ state: "booting", rollout: r.id });
    await e.report(mac("a"), "installed");
    expect(e.rollout(r.id)?.state).toBe("done");
    const r2 = await e.startRollout({ hosts: ["c"] });
    expect(r2.release).toBe("r2");
    expect(e.machines().length).toBe(3);
    await e.stop();
  });
});

describe("persistence", () => {
  test("states, traces and rollouts survive a restart; an acknowledged report is never lost", async () => {
    const { view, mac } = site(
      [
        { name: "a", stages: ["install"] },
        { name: "b", stages: ["install"] },
      ],
      { w: { max_concurrent: 1 } },
    );
    const { store: s1, dir } = await store();
    const e1 = engine(view, { store: s1 });
    await e1.start();
    const r = await e1.startRollout({ hosts: ["a", "b"] });
    e1.record(mac("a"), "http", "boot.ipxe");
    await e1.report(mac("a"), "booted");
    await e1.stop();
    await s1.close();
    const { store: s2 } = await store(dir);
    const e2 = engine(view, { store: s2 });
    await e2.start();
    expect(e2.machine(mac("a"))).toMatchObject({ state: "installing", rollout: r.id });
    expect(e2.events(mac("a")).map((x) => x.type)).toEqual(["rollout-start", "boot.ipxe", "booted"]);
    expect(e2.rollout(r.id)?.counts).toMatchObject({ running: 1, waiting: 1 });
    await e2.report(mac("a"), "installed");
    expect(e2.rollout(r.id)?.counts).toMatchObject({ provisioned: 1, running: 1 });
    await e2.stop();
  });

  test("a cycle that may have been sent before a crash is never sent again; a step that sent nothing runs again", async () => {
    const { view, mac } = site([{ name: "a" }, { name: "b" }]);
    const { store: s1, dir } = await store();
    const bmc = fakeBmc("on");
    // A BMC that never answers the cycle: the engine has marked the step `cycle-sent` before sending it.
    const hang: PowerControl = { ...bmc.control, power: (a) => (a === "cycle" ? new Promise(() => {}) : bmc.control.power(a)) };
    const e1 = engine(view, { store: s1, power: () => hang });
    await e1.start();
    for (const n of ["a"]) {
      e1.record(mac(n), "http", "boot.ipxe");
      await e1.report(mac(n), "stage-done");
    }
    await settle();
    await e1.flush();
    await s1.close();
    // "Crash": a new engine on the same store.
    const { store: s2 } = await store(dir);
    const after = fakeBmc("on");
    const e2 = engine(view, { store: s2, power: () => after.control });
    await e2.start();
    await settle();
    expect(e2.machine(mac("a"))).toMatchObject({ state: "powering", power: { phase: "cycle-sent" } });
    expect(after.calls).toEqual([]);
    // Its boot requests show the cycle happened.
    e2.record(mac("a"), "http", "boot.ipxe");
    expect(e2.machine(mac("a"))?.state).toBe("booting");
    await e2.stop();
  });
});
