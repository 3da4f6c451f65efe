import { describe, expect, test } from "bun:test";
import { createTracker, type SiteView } from "./index.ts";

const A = "52:54:00:00:00:01";
const SKIP = "52:54:00:00:00:02";
const site: SiteView = {
  host: (mac) =>
    mac === A
      ? { name: "node-1", stages: ["wipe", "install"], neverProvision: false }
      : mac === SKIP
        ? { name: "db-1", stages: ["install"], neverProvision: true }
        : undefined,
  macs: () => [SKIP, A],
};
const clock = () => {
  let t = Date.UTC(2026, 0, 1);
  return () => {
    t += 1000;
    return new Date(t);
  };
};

describe("tracker", () => {
  test("a two-stage workflow from first contact to provisioned", () => {
    const t = createTracker({ site, now: clock() });
    expect(t.machine(A)).toMatchObject({ state: "unknown", stage: "wipe" });
    expect(t.bootFor(A)).toEqual({ boot: "wipe" });
    t.record(A, "dhcp", "ack", { ip: "10.0.0.11" });
    expect(t.machine(A)?.state).toBe("unknown");
    t.record(A, "http", "boot.ipxe", { boot: "wipe" });
    expect(t.machine(A)?.state).toBe("booting");
    t.record(A, "state", "booted");
    expect(t.machine(A)?.state).toBe("installing");
    t.record(A, "state", "stage-done");
    expect(t.machine(A)).toMatchObject({ state: "booting", stage: "install", stageIndex: 1 });
    expect(t.bootFor(A)).toEqual({ boot: "install" });
    t.record(A, "state", "booted");
    t.record(A, "state", "installed");
    expect(t.machine(A)).toMatchObject({ state: "provisioned", stage: "install" });
    expect(t.bootFor(A)).toEqual({ exit: "host node-1 is provisioned" });
    expect(t.events(A).map((e) => `${e.source}:${e.type}`)).toEqual([
      "dhcp:ack",
      "http:boot.ipxe",
      "state:booted",
      "state:stage-done",
      "state:booted",
      "state:installed",
    ]);
    expect(t.events(A)[0]).toEqual({ at: "2026-01-01T00:00:04.000Z", source: "dhcp", type: "ack", detail: { ip: "10.0.0.11" } });
  });
  test("failed keeps its reason and boots the disk", () => {
    const t = createTracker({ site, now: clock() });
    t.record(A, "state", "failed", { reason: "disk not found" });
    expect(t.machine(A)).toMatchObject({ state: "failed", reason: "disk not found" });
    expect(t.bootFor(A)).toEqual({ exit: "host node-1 failed in stage wipe: disk not found" });
  });
  test("never_provision hosts are skipped whatever they report; unknown MACs are not recorded", () => {
    const t = createTracker({ site, now: clock() });
    t.record(SKIP, "state", "booted");
    expect(t.machine(SKIP)?.state).toBe("skipped");
    expect(t.bootFor(SKIP)).toEqual({ exit: "host db-1 is never provisioned" });
    expect(t.record("52:54:00:00:00:99", "state", "booted")).toBeUndefined();
    expect(t.machines().map((m) => m.mac)).toEqual([A, SKIP]);
  });
  test("traces are bounded", () => {
    const t = createTracker({ site, now: clock(), maxEvents: 3 });
    for (let i = 0; i < 10; i++) t.record(A, "state", "log", { i });
    expect(t.events(A).map((e) => e.detail.i)).toEqual([7, 8, 9]);
  });
});
