/**
 * The state engine survives kill -9: the compiled `vaquero standalone` drives 20 simulated machines (fake BMCs
 * speaking RMCP+ on loopback, PXE clients over HTTP; test/_helpers/fleet.ts) through a two-stage workflow under
 * `max_concurrent: 5`, and is killed with SIGKILL at random points and restarted on the same data directory.
 * At the end every host is provisioned (or failed with a reason), `/status` agrees with the machine pages, every
 * report the agent answered 204 is in the machine's trace, and no machine was cycled twice for the same step.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { doubleCycles, type Fleet, startFleet } from "./_helpers/fleet.ts";
import { fleetMachines, writeFleetSot } from "./_helpers/fleet-sot.ts";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-state-crash-"));
const bin = join(work, "vaquero");
const HOSTS = 20;
const PASSWORD = `bmc-${Math.random().toString(36).slice(2)}`;
const machines = fleetMachines(HOSTS);
/** Agents started here, killed by PID in afterAll. */
const running = new Set<Bun.Subprocess>();
let fleet: Fleet | undefined;
let port = 0;

/** A seeded random number generator, so a failure can be replayed from the printed seed. */
const seed = Math.floor(Math.random() * 2 ** 31);
let rs = seed;
const random = (): number => {
  rs = (rs * 1103515245 + 12345) % 2 ** 31;
  return rs / 2 ** 31;
};

beforeAll(() => {
  builtBinary();
  cpSync(join(ROOT, "dist/vaquero"), bin);
});
afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await fleet?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Starts the agent on the data directory and waits until it serves HTTP (bounded: 10 tries of 15 s). */
async function startAgent(): Promise<Bun.Subprocess> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const p = Bun.spawn(
      [
        bin,
        "standalone",
        "--sot",
        "sot",
        "--data-dir",
        "data",
        "--http-addr",
        `127.0.0.1:${port}`,
        "--tftp-addr",
        "127.0.0.1:0",
        "--boot-rate",
        "0",
      ],
      { cwd: work, stdout: "ignore", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: work, BMC_PW: PASSWORD } },
    );
    running.add(p);
    const reader = p.stderr.getReader();
    let log = "";
    const deadline = Date.now() + 15_000;
    let serving = false;
    while (!serving && Date.now() < deadline) {
      const r = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => ({ value: undefined, done: true }))]);
      if (r.done) break;
      log += new TextDecoder().decode(r.value);
      serving = log.includes('"serving HTTP"');
    }
    if (serving) {
      // Keep draining stderr so the agent never blocks on a full pipe.
      void (async () => {
        for (let i = 0; i < 10_000_000; i++) if ((await reader.read()).done) return;
      })();
      return p;
    }
    p.kill("SIGKILL");
    await p.exited;
    running.delete(p);
    // The port of the killed agent may still be held a moment: try again.
    if (!log.includes("address in use")) throw new Error(`standalone did not start: ${log.slice(-2000)}`);
    await Bun.sleep(200);
  }
  throw new Error(`standalone could not listen on 127.0.0.1:${port}`);
}

async function kill9(p: Bun.Subprocess): Promise<void> {
  p.kill("SIGKILL");
  await p.exited;
  running.delete(p);
}

interface Status {
  machines: { total: number; by_state: Record<string, number> };
  rollouts: { id: string; state: string; counts: Record<string, number> }[];
}
interface MachinePage {
  machines: { mac: string; host: string; state: string }[];
  next_cursor?: string;
}
interface MachineDetail {
  state: string;
  events: { source: string; type: string; detail: Record<string, unknown> }[];
}

const base = (): string => `http://127.0.0.1:${port}`;
const getJson = async <T>(path: string): Promise<T> => {
  const r = await fetch(`${base()}${path}`);
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};

/**
 * Starts a rollout of every host with POST /execute and the admin token, when the control API answers; without
 * it (404), presses every machine's power button instead: hosts never provisioned install their workflow when they
 * network-boot (API.md), so the engine still powers each between its stages. Returns how it started.
 */
async function startRollout(f: Fleet): Promise<"execute" | "power-button"> {
  const tokenFile = join(work, "data", "admin.token");
  if (existsSync(tokenFile)) {
    const token = readFileSync(tokenFile, "utf8").trim();
    const r = await fetch(`${base()}/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ site: "sim", hosts: machines.map((m) => m.name) }),
    });
    if (r.status === 202) return "execute";
    if (r.status !== 404) throw new Error(`POST /execute: ${r.status} ${await r.text()}`);
  }
  for (const m of machines) f.pressPower(m.mac);
  return "power-button";
}

test("kill -9 at random points: every host ends, acknowledged reports are kept, no step is cycled twice", async () => {
  port = await freePort();
  fleet = await startFleet({ machines, agentUrl: base, password: PASSWORD, bootDelayMs: 30, stageMs: 150, jitterMs: 300 });
  const f = fleet;
  writeFleetSot(join(work, "sot"), machines, f.bmcOf, { max_concurrent: 5, stage_timeout: "90s" }, "http://127.0.0.1:8080");
  let agent = await startAgent();
  const how = await startRollout(f);

  // Kill points by progress, so each lands while machines move: after a random number of acknowledged reports
  // (a run acknowledges 4 per host when nothing is lost), plus 0–150 ms to vary the phase it hits.
  const kills = 3 + Math.floor(random() * 3);
  const points = Array.from({ length: kills }, () => 4 + Math.floor(random() * (HOSTS * 4 - 8))).sort((a, b) => a - b);
  const done = (s: Status): number => (s.machines.by_state.provisioned ?? 0) + (s.machines.by_state.failed ?? 0);
  const progress: number[] = [];
  for (const point of points) {
    for (let i = 0; i < 6000 && f.acked.length < point; i++) await Bun.sleep(10);
    await Bun.sleep(Math.floor(random() * 150));
    progress.push(f.acked.length);
    await kill9(agent);
    await Bun.sleep(Math.floor(random() * 300));
    agent = await startAgent();
  }

  // Every host ends: bounded by the stage timeout of a machine whose cycle was lost with the agent.
  let status = await getJson<Status>("/status");
  const until = Date.now() + 240_000;
  for (let i = 0; i < 2400 && done(status) < HOSTS && Date.now() < until; i++) {
    await Bun.sleep(100);
    status = await getJson<Status>("/status");
  }
  // Reports may still be in flight for the last machines: let the fleet settle.
  await Bun.sleep(500);
  status = await getJson<Status>("/status");
  writeFileSync(join(work, "fleet.jsonl"), f.log.map((e) => JSON.stringify(e)).join("\n"));

  const report = { seed, how, kills: progress, by_state: status.machines.by_state };
  expect({ ...report, total: status.machines.total, ended: done(status) }).toEqual({ ...report, total: HOSTS, ended: HOSTS });

  // /status agrees with the machine pages and each machine's own page.
  const list: { mac: string; host: string; state: string }[] = [];
  let cursor = "";
  for (let page = 0; page < 100; page++) {
    const p = await getJson<MachinePage>(`/status/machines${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
    list.push(...p.machines);
    cursor = p.next_cursor ?? "";
    if (!cursor) break;
  }
  expect(list.length).toBe(HOSTS);
  const counted: Record<string, number> = {};
  for (const m of list) counted[m.state] = (counted[m.state] ?? 0) + 1;
  expect(counted).toEqual(status.machines.by_state);

  const missing: string[] = [];
  const failures: string[] = [];
  for (const m of list) {
    const d = await getJson<MachineDetail>(`/status/machines/${m.mac}`);
    expect(d.state).toBe(m.state);
    // Every report answered 204 is in the trace (as many times as it was answered).
    const want = new Map<string, number>();
    for (const a of f.acked.filter((x) => x.mac === m.mac)) want.set(`${a.event}/${a.boot}`, (want.get(`${a.event}/${a.boot}`) ?? 0) + 1);
    for (const [k, n] of want) {
      const have = d.events.filter((e) => e.source === "state" && `${e.type}/${String(e.detail.boot ?? "")}` === k).length;
      if (have < n) missing.push(`${m.host} ${k}: ${have} of ${n}`);
    }
    if (m.state === "failed") {
      const why = [...d.events].reverse().find((e) => e.type === "failed" || e.type === "timeout");
      failures.push(`${m.host}: ${JSON.stringify(why?.detail ?? {})}`);
      expect(why).toBeDefined();
    }
  }
  expect({ seed, missing }).toEqual({ seed, missing: [] });
  // A provisioned machine booted its last stage and reported it done itself: a report of an earlier stage (sent
  // again after the agent died before answering it) never ends the workflow.
  const finished = new Set(f.acked.filter((a) => a.event === "stage-done" && a.boot === "flatcar-install").map((a) => a.mac));
  const unfinished = list.filter((m) => m.state === "provisioned" && !finished.has(m.mac)).map((m) => m.host);
  expect({ seed, unfinished }).toEqual({ seed, unfinished: [] });
  if (failures.length) console.error(`state-crash (seed ${seed}): failed hosts: ${failures.join("; ")}`);

  // No machine was cycled (or reset) twice for the same step.
  expect({ seed, double: doubleCycles(f.log) }).toEqual({ seed, double: [] });
  // Machines powered into stage 2 were cycled (they were on): at least the provisioned ones.
  const cycled = new Set(f.log.filter((e) => e.kind === "bmc" && e.action === "cycle" && e.step === 1).map((e) => e.name));
  expect(cycled.size).toBeGreaterThanOrEqual(status.machines.by_state.provisioned ?? 0);
  const ups = new Map<string, number>();
  for (const e of f.log) {
    if (e.kind !== "bmc" || !(e.action === "on" || e.action === "cycle" || e.action === "reset")) continue;
    const k = `step ${e.step} ${e.action}${e.action === "on" ? "" : e.wasOn ? " (was on)" : " (was off)"}`;
    ups.set(k, (ups.get(k) ?? 0) + 1);
  }
  console.error(
    `state-crash (seed ${seed}): ${how}; kill -9 after ${progress.join(", ")} acknowledged reports; ${JSON.stringify(status.machines.by_state)}; ` +
      `${f.acked.length} reports acknowledged; power-ups: ${JSON.stringify(Object.fromEntries([...ups].sort()))}`,
  );

  agent.kill("SIGTERM");
  const timer = setTimeout(() => agent.kill("SIGKILL"), 5000);
  await agent.exited;
  clearTimeout(timer);
  running.delete(agent);
}, 400_000);
