/**
 * The fleet simulator as a process: N machines with fake BMCs on loopback addresses, and (with --sot) the Source of
 * Truth that points `vaquero standalone` at them. Prints JSON lines on stdout: `{"ready":…}` once every BMC
 * listens, then every log entry (BMC commands, boot fetches, reports); on SIGTERM, SIGINT or after --for
 * seconds, a `{"summary":…}` line, and exits.
 *
 *   BMC_PW=secret bun test/_helpers/fleet-serve.ts --machines 20 --agent http://127.0.0.1:18080 --sot /tmp/sot \
 *     --max-concurrent 5 [--stage-ms 100] [--boot-delay-ms 20] [--for 600] [--quiet] [--power-on]
 */
import { doubleCycles, type FleetLogEntry, startFleet } from "./fleet.ts";
import { fleetMachines, writeFleetSot } from "./fleet-sot.ts";

interface Args {
  machines: number;
  agent: string;
  sot?: string;
  maxConcurrent: number;
  stageMs: number;
  bootDelayMs: number;
  forSeconds: number;
  quiet: boolean;
  /** Press every machine's power button once the agent answers (no rollout needed: new machines install). */
  powerOn: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = {
    machines: 10,
    agent: "http://127.0.0.1:8080",
    maxConcurrent: 5,
    stageMs: 100,
    bootDelayMs: 20,
    forSeconds: 600,
    quiet: false,
    powerOn: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--quiet" || flag === "--power-on") {
      a[flag === "--quiet" ? "quiet" : "powerOn"] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${flag}: missing value`);
    const n = Number(v);
    if (flag === "--agent") a.agent = v;
    else if (flag === "--sot") a.sot = v;
    else if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: want a number, got "${v}"`);
    else if (flag === "--machines") a.machines = Math.min(n, 65_536);
    else if (flag === "--max-concurrent") a.maxConcurrent = n;
    else if (flag === "--stage-ms") a.stageMs = n;
    else if (flag === "--boot-delay-ms") a.bootDelayMs = n;
    else if (flag === "--for") a.forSeconds = n;
    else throw new Error(`unknown flag ${flag}`);
  }
  return a;
}

const args = parse(process.argv.slice(2));
const password = process.env.BMC_PW;
if (!password) throw new Error("fleet-serve: set BMC_PW to the BMCs' password");
const machines = fleetMachines(args.machines);
const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);
const log: FleetLogEntry[] = [];
const fleet = await startFleet({
  machines,
  agentUrl: args.agent,
  password,
  stageMs: args.stageMs,
  bootDelayMs: args.bootDelayMs,
  keepLog: false,
  onLog: (e) => {
    if (e.kind === "bmc" && e.what === "chassis-control") log.push(e);
    if (!args.quiet) out(e);
  },
});
if (args.sot) writeFleetSot(args.sot, machines, fleet.bmcOf, { max_concurrent: args.maxConcurrent }, args.agent);
out({ ready: true, machines: machines.length, bmcs: machines.map((m) => ({ ...m, ...fleet.bmcOf(m.mac) })) });
if (args.powerOn) {
  // Once the agent answers (bounded: 60 s).
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${args.agent}/live`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(100);
  }
  for (const m of machines) fleet.pressPower(m.mac);
}

await new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, args.forSeconds * 1000);
  const done = (): void => {
    clearTimeout(timer);
    resolve();
  };
  process.once("SIGTERM", done);
  process.once("SIGINT", done);
});
out({
  summary: {
    acked: fleet.acked.length,
    onDisk: fleet.onDisk().length,
    powerActions: log.length,
    doubleCycles: doubleCycles(log),
  },
});
await fleet.stop();
process.exit(0);
