/**
 * bench/state: the state engine driving thousands of machines through a two-stage workflow.
 *
 *   bun bench/state/run.ts [--machines 5000] [--concurrent 500] [--boot-ms 20] [--stage-ms 50] [--runs 3]
 *
 * Each run is a fresh process (so peak RSS is the run's own): `createEngine` on an embedded store in a temp
 * directory, a rollout of every host under `max_concurrent`, in-memory power controls whose machines boot and
 * report after the given delays (bench/state/engine.ts). Reports events/s (trace events, and the machines'
 * own records and reports), time to complete, process CPU, peak RSS, `report` latency (until durable) and what
 * the engine wrote to the store, as Markdown tables with the median. `--child` runs one measurement and prints
 * it as JSON.
 */
import { parseArgs } from "node:util";
import { type EngineRunResult, runEngine } from "./engine.ts";

const { values } = parseArgs({
  options: {
    machines: { type: "string", default: "5000" },
    concurrent: { type: "string", default: "500" },
    "boot-ms": { type: "string", default: "20" },
    "stage-ms": { type: "string", default: "50" },
    runs: { type: "string", default: "3" },
    child: { type: "boolean", default: false },
  },
});
const opts = {
  machines: Number(values.machines),
  maxConcurrent: Number(values.concurrent),
  bootMs: Number(values["boot-ms"]),
  stageMs: Number(values["stage-ms"]),
  deadlineMs: 600_000,
};

if (values.child) {
  process.stdout.write(`${JSON.stringify(await runEngine(opts))}\n`);
  process.exit(0);
}

const runs = Math.min(Math.max(1, Number(values.runs)), 20);
const results: EngineRunResult[] = [];
for (let i = 0; i < runs; i++) {
  const p = Bun.spawn(
    [
      process.execPath,
      import.meta.path,
      "--child",
      "--machines",
      String(opts.machines),
      "--concurrent",
      String(opts.maxConcurrent),
      "--boot-ms",
      String(opts.bootMs),
      "--stage-ms",
      String(opts.stageMs),
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.deadlineMs + 60_000);
  const out = await new Response(p.stdout).text();
  await p.exited;
  clearTimeout(timer);
  if (p.exitCode !== 0) throw new Error(`run ${i + 1} failed (exit ${p.exitCode})`);
  const r = JSON.parse(out) as EngineRunResult;
  results.push(r);
  console.error(`run ${i + 1}/${runs}: ${JSON.stringify(r)}`);
}

const med = (f: (r: EngineRunResult) => number): number => {
  const s = results.map(f).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const range = (f: (r: EngineRunResult) => number, digits = 0): string => {
  const s = results.map(f);
  return `${med(f).toFixed(digits)} (${Math.min(...s).toFixed(digits)}–${Math.max(...s).toFixed(digits)})`;
};
console.log(
  `load: ${(
    await Bun.file("/proc/loadavg")
      .text()
      .catch(() => "?")
  ).trim()}`,
);
console.log(
  "| machines | max_concurrent | runs | time ms | trace events/s | machine events/s | CPU ms | peak RSS MB | report p50/p99 ms | provisioned | reloaded |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
console.log(
  `| ${opts.machines} | ${opts.maxConcurrent} | ${runs} | ${range((r) => r.ms)} | ${range((r) => r.events / (r.ms / 1000))} | ` +
    `${range((r) => r.inputs / (r.ms / 1000))} | ${range((r) => r.cpuMs)} | ${range((r) => r.peakRssMb)} | ` +
    `${med((r) => r.reportP50).toFixed(1)} / ${med((r) => r.reportP99).toFixed(1)} | ${med((r) => r.provisioned)} | ${med((r) => r.reloaded)} |`,
);
console.log("");
console.log("| store transactions | MB written | of which rollout records | store file after, MB |");
console.log("| --- | --- | --- | --- |");
console.log(
  `| ${med((r) => r.txns)} | ${med((r) => r.writtenMb).toFixed(0)} | ${med((r) => r.rolloutMb).toFixed(0)} | ${med((r) => r.dbMb).toFixed(0)} |`,
);
const cycles = Math.max(...results.map((r) => r.stage0Cycles));
if (cycles > 0) console.log(`note: ${cycles} machine(s) were cycled into their first stage after being powered on`);
