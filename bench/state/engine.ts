/**
 * One in-process run of the state engine for bench/state/run.ts: `createEngine` on an embedded store in a temp
 * directory, N machines of one site in a two-stage workflow, and in-memory power controls that "boot" a machine
 * when powered on or cycled: after `bootMs` it fetches its script (`record` http), reports `booted`, and after
 * `stageMs` reports `stage-done` (`report`, durable when it resolves). One rollout of every host.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, DEFAULT_POLICY, type Engine, type HostView, type PowerControl, type SiteView } from "../../pkg/state/index.ts";
import { openEmbeddedStore, type Store, type Txn } from "../../pkg/store/index.ts";

/** What one run does. */
export interface EngineRunOptions {
  machines: number;
  maxConcurrent: number;
  /** From power-up to the first boot request. */
  bootMs: number;
  /** From `booted` to `stage-done`. */
  stageMs: number;
  /** Give up after this long (ms). */
  deadlineMs: number;
}

/** What one run measured. */
export interface EngineRunResult {
  machines: number;
  provisioned: number;
  /** Rollout start to done. */
  ms: number;
  /** Events in the machines' traces (engine, lifecycle, http, state). */
  events: number;
  /** Events the simulated machines sent (records and reports). */
  inputs: number;
  /** Process CPU (user + system) during the rollout, ms. */
  cpuMs: number;
  /** Peak RSS of the process during the run, MB. */
  peakRssMb: number;
  /** `report` latency (until durable), ms. */
  reportP50: number;
  reportP99: number;
  /** Machines found in the store by a second engine started on it afterwards. */
  reloaded: number;
  /** Cycles sent per machine into its first stage (it was off: expected 0). */
  stage0Cycles: number;
  /** Store transactions the engine committed, MB it wrote, of which rollout records; the store file after. */
  txns: number;
  writtenMb: number;
  rolloutMb: number;
  dbMb: number;
}

/** What the engine wrote to the store. */
interface WriteStats {
  txns: number;
  bytes: number;
  rolloutBytes: number;
}

/** `store` with its transactions counted (the engine writes through `txn` only). */
function counting(store: Store, stats: WriteStats): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "txn") {
        return (t: Txn) => {
          stats.txns++;
          for (const op of t.success) {
            if (!("put" in op)) continue;
            const n = typeof op.put.value === "string" ? op.put.value.length : op.put.value.byteLength;
            stats.bytes += n;
            if (op.put.key.includes("/rollouts/")) stats.rolloutBytes += n;
          }
          return target.txn(t);
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const STAGES = ["live", "install"];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** A site of `n` hosts `h000000…` in workflow `node`. */
export function benchSite(n: number, maxConcurrent: number): SiteView {
  const hosts: HostView[] = [];
  const byMac = new Map<string, HostView>();
  const byName = new Map<string, HostView>();
  for (let i = 0; i < n; i++) {
    const mac = ["02", "00", (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255]
      .map((b) => (typeof b === "string" ? b : b.toString(16).padStart(2, "0")))
      .join(":");
    const h: HostView = { name: `h${String(i).padStart(6, "0")}`, stages: STAGES, neverProvision: false, workflow: "node", macs: [mac] };
    hosts.push(h);
    byMac.set(mac, h);
    byName.set(h.name, h);
  }
  const macs = hosts.map((h) => h.macs?.[0] ?? "");
  return {
    host: (mac) => byMac.get(mac),
    macs: () => [...macs],
    byName: (name) => byName.get(name),
    policy: (w) => (w === "node" ? { ...DEFAULT_POLICY, max_concurrent: maxConcurrent, stage_timeout: 3600 } : undefined),
  };
}

/** Runs the engine once; every timer it starts is bounded by `deadlineMs`. */
export async function runEngine(o: EngineRunOptions): Promise<EngineRunResult> {
  const dir = mkdtempSync(join(tmpdir(), "vq-bench-state-"));
  const site = benchSite(o.machines, o.maxConcurrent);
  let store = await openEmbeddedStore({ path: join(dir, "vaquero.db"), leaseCheckMs: false });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const latencies: number[] = [];
  let inputs = 0;
  let stage0Cycles = 0;
  let engine: Engine | undefined;
  const power = new Map<string, { on: boolean; gen: number; stage: number }>();
  const failures: string[] = [];
  const stats: WriteStats = { txns: 0, bytes: 0, rolloutBytes: 0 };
  const dbBytes = (): number =>
    ["vaquero.db", "vaquero.db-wal"].reduce((n, f) => n + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);

  /** The simulated machine: a power-up starts a boot of the stage the engine serves it. */
  const boot = async (mac: string, gen: number): Promise<void> => {
    const p = power.get(mac);
    const e = engine;
    if (!p || !e) return;
    await Bun.sleep(o.bootMs);
    if (p.gen !== gen) return;
    const served = e.bootFor(mac);
    if (!served || "exit" in served) return;
    e.record(mac, "http", "boot.ipxe", { boot: served.boot });
    inputs++;
    const report = async (event: string): Promise<void> => {
      const t = performance.now();
      await e.report(mac, event, { boot: served.boot });
      latencies.push(performance.now() - t);
      inputs++;
    };
    await report("booted");
    await Bun.sleep(o.stageMs);
    if (p.gen !== gen) return;
    p.stage++;
    await report("stage-done");
  };
  const controlOf = (h: HostView): PowerControl => {
    const mac = h.macs?.[0] ?? "";
    let p = power.get(mac);
    if (!p) {
      p = { on: false, gen: 0, stage: 0 };
      power.set(mac, p);
    }
    const st = p;
    return {
      powerStatus: async () => (st.on ? "on" : "off"),
      setBootDevice: async () => ({ done: true }),
      power: async (action) => {
        if (action === "off" || action === "soft") {
          st.on = false;
          st.gen++;
        } else {
          if (action === "cycle" && st.stage === 0) stage0Cycles++;
          st.on = true;
          st.gen++;
          void boot(mac, st.gen).catch((err: unknown) => failures.push(String(err)));
        }
        return { done: true };
      },
    };
  };

  try {
    engine = createEngine({ site, siteId: "bench", store: counting(store, stats), now: Date.now, power: controlOf, tickMs: 1000 });
    await engine.start();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await engine.startRollout({ hosts: site.macs().map((m) => site.host(m)?.name ?? "") });
    const until = Date.now() + o.deadlineMs;
    for (let i = 0; i < 1_000_000 && engine.rollout(r.id)?.state === "running" && Date.now() < until; i++) await Bun.sleep(10);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await engine.flush();
    const machines = engine.machines();
    const events = machines.reduce((n, m) => n + (engine?.events(m.mac).length ?? 0), 0);
    const provisioned = machines.filter((m) => m.state === "provisioned").length;
    await engine.stop();
    await store.close();
    const dbMb = dbBytes() / 2 ** 20;
    if (failures.length) throw new Error(`simulated machines failed: ${failures.slice(0, 3).join("; ")}`);

    // A second engine on the same store sees every machine.
    store = await openEmbeddedStore({ path: join(dir, "vaquero.db"), leaseCheckMs: false });
    const again = createEngine({ site, siteId: "bench", store, now: Date.now, tickMs: false });
    await again.start();
    const reloaded = again.machines().filter((m) => m.state === "provisioned").length;
    await again.stop();
    return {
      machines: o.machines,
      provisioned,
      ms,
      events,
      inputs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRssMb: Math.max(peak, process.memoryUsage().rss) / 2 ** 20,
      reportP50: pct(latencies, 50),
      reportP99: pct(latencies, 99),
      reloaded,
      stage0Cycles,
      txns: stats.txns,
      writtenMb: stats.bytes / 2 ** 20,
      rolloutMb: stats.rolloutBytes / 2 ** 20,
      dbMb,
    };
  } finally {
    clearInterval(sampler);
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
