/**
 * bench/state over HTTP and IPMI: the compiled `vaquero standalone` (run from a temp directory without
 * node_modules, on 127.0.0.1) drives a simulated fleet (test/_helpers/fleet.ts: a fake RMCP+ BMC per machine on
 * its own loopback address, a PXE client per machine over HTTP) through a two-stage workflow, one rollout of
 * every host started with `POST /execute` (or, without the control API, by pressing every power button).
 *
 *   npm run build && bun bench/state/http.ts [--machines 500] [--concurrent 100] [--stage-ms 50] [--boot-ms 20]
 *
 * Prints time to complete, HTTP requests and reports per second, the agent's CPU (from /proc) and peak RSS
 * (VmHWM), and the IPMI commands the BMCs executed.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { doubleCycles, startFleet } from "../../test/_helpers/fleet.ts";
import { fleetMachines, writeFleetSot } from "../../test/_helpers/fleet-sot.ts";
import { freePort } from "../../test/_helpers/ports.ts";

const { values } = parseArgs({
  options: {
    machines: { type: "string", default: "500" },
    concurrent: { type: "string", default: "100" },
    "stage-ms": { type: "string", default: "50" },
    "boot-ms": { type: "string", default: "20" },
  },
});
const N = Math.min(Number(values.machines), 20_000);
const ROOT = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "vq-bench-state-http-"));
const PASSWORD = `bmc-${Math.random().toString(36).slice(2)}`;
const machines = fleetMachines(N);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const fleet = await startFleet({
  machines,
  agentUrl: base,
  password: PASSWORD,
  stageMs: Number(values["stage-ms"]),
  bootDelayMs: Number(values["boot-ms"]),
  fetchConfig: true,
});
let agent: Bun.Subprocess | undefined;

/** utime + stime of a process in ms, and its peak RSS in MB, from /proc. */
function procStats(pid: number): { cpuMs: number; hwmMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { cpuMs: (ticks * 1000) / 100, hwmMb: Number(hwm ?? 0) / 1024 };
}

try {
  cpSync(join(ROOT, "dist/vaquero"), join(work, "vaquero"));
  writeFleetSot(join(work, "sot"), machines, fleet.bmcOf, { max_concurrent: Number(values.concurrent), stage_timeout: "30m" });
  agent = Bun.spawn(
    [
      join(work, "vaquero"),
      "standalone",
      "--sot",
      "sot",
      "--data-dir",
      "data",
      "--http-addr",
      `127.0.0.1:${port}`,
      "--tftp-addr",
      "127.0.0.1:0",
    ].concat(["--boot-rate", "0", "--log-level", "warn"]),
    { cwd: work, stdout: "ignore", stderr: "inherit", env: { PATH: "/usr/bin:/bin", HOME: work, BMC_PW: PASSWORD } },
  );
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${base}/live`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(100);
  }
  const pid = agent.pid;
  const before = procStats(pid);
  const t0 = performance.now();
  const tokenFile = join(work, "data", "admin.token");
  let how = "power-button";
  if (existsSync(tokenFile)) {
    const r = await fetch(`${base}/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${readFileSync(tokenFile, "utf8").trim()}`, "content-type": "application/json" },
      body: JSON.stringify({ site: "sim", hosts: machines.map((m) => m.name) }),
    });
    if (r.status === 202) how = "execute";
    else await r.body?.cancel();
  }
  if (how !== "execute") for (const m of machines) fleet.pressPower(m.mac);
  type Status = { machines: { by_state: Record<string, number> } };
  let status: Status = { machines: { by_state: {} } };
  const until = Date.now() + 900_000;
  for (let i = 0; i < 100_000 && Date.now() < until; i++) {
    status = (await (await fetch(`${base}/status`)).json()) as Status;
    const ended = (status.machines.by_state.provisioned ?? 0) + (status.machines.by_state.failed ?? 0);
    if (ended === N) break;
    await Bun.sleep(100);
  }
  const ms = performance.now() - t0;
  const after = procStats(pid);
  const fetches = fleet.log.filter((e) => e.kind === "boot").length;
  const reports = fleet.acked.length;
  const bmc = fleet.log.filter((e) => e.kind === "bmc").length;
  // Each boot is /boot.ipxe, the chained script and /config: three requests.
  const requests = fetches * 3 + reports;
  console.log(`load: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  console.log(
    "| machines | max_concurrent | started by | time ms | HTTP requests/s | reports/s | IPMI commands | agent CPU ms | agent peak RSS MB | states |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  console.log(
    `| ${N} | ${values.concurrent} | ${how} | ${ms.toFixed(0)} | ${(requests / (ms / 1000)).toFixed(0)} | ${(reports / (ms / 1000)).toFixed(0)} | ` +
      `${bmc} | ${(after.cpuMs - before.cpuMs).toFixed(0)} | ${after.hwmMb.toFixed(0)} | ${JSON.stringify(status.machines.by_state)} |`,
  );
  const doubles = doubleCycles(fleet.log);
  if (doubles.length) console.log(`double cycles: ${JSON.stringify(doubles.slice(0, 10))}`);
} finally {
  if (agent) {
    agent.kill("SIGKILL");
    await agent.exited;
  }
  await fleet.stop();
  rmSync(work, { recursive: true, force: true });
}
