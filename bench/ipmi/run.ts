/**
 * bench/ipmi: Vaquero's IPMI client against OpenIPMI's ipmi_sim on loopback, beside ipmitool in the same run.
 *
 *   bun bench/ipmi/run.ts [--status 100] [--sequences 20] [--bmcs 50]
 *
 * 1. `--status` power-status calls: Vaquero's client in one process (one session, as the agent drives a BMC),
 *    `vaquero bmc … power status` (the compiled binary, one process per call) and `ipmitool -I lanplus -C 3 …
 *    chassis power status` (one process per call, as operators script it).
 * 2. `--sequences` set-bootdev-PXE + power-cycle sequences, the same three ways.
 * 3. `--bmcs` ipmi_sim instances driven at once by one Vaquero process: status, bootdev, cycle on each.
 * Prints p50/p99 per operation and errors, as a Markdown table.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createBmcClient } from "../../pkg/ipmi/index.ts";
import { type IpmiSim, startIpmiSim } from "../../test/_helpers/ipmi-sim.ts";

const { values } = parseArgs({
  options: {
    status: { type: "string", default: "100" },
    sequences: { type: "string", default: "20" },
    bmcs: { type: "string", default: "50" },
  },
});
const N_STATUS = Number(values.status);
const N_SEQ = Number(values.sequences);
const N_BMCS = Number(values.bmcs);
const ROOT = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "vq-bench-ipmi-"));
const sims: IpmiSim[] = [];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

interface Row {
  what: string;
  how: string;
  n: number;
  ms: number[];
  errors: number;
}
const rows: Row[] = [];

async function time(what: string, how: string, n: number, op: (i: number) => Promise<boolean>): Promise<void> {
  const ms: number[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const ok = await op(i).catch(() => false);
    ms.push(performance.now() - t);
    if (!ok) errors++;
  }
  rows.push({ what, how, n, ms, errors });
}

function spawnOk(cmd: string[], env: Record<string, string> = {}): Promise<boolean> {
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
  const timer = setTimeout(() => p.kill(), 30_000);
  return p.exited.then((code) => {
    clearTimeout(timer);
    return code === 0;
  });
}

try {
  const b = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
  const bin = join(work, "vaquero");
  cpSync(join(ROOT, "dist/vaquero"), bin);
  const sim = await startIpmiSim(join(work, "bmc0"));
  sims.push(sim);
  const port = String(sim.port);
  const tool = (...args: string[]) => [
    "ipmitool",
    "-I",
    "lanplus",
    "-C",
    "3",
    "-H",
    "127.0.0.1",
    "-p",
    port,
    "-U",
    "admin",
    "-P",
    "password",
    ...args,
  ];
  const ours = (...args: string[]) => [
    bin,
    "bmc",
    "--address",
    `127.0.0.1:${port}`,
    "--user",
    "admin",
    "--password-ref",
    "env:BMC_PW",
    ...args,
  ];
  const env = { BMC_PW: "password" };

  const client = createBmcClient({ host: "127.0.0.1", port: sim.port, user: "admin", password: "password" });
  await client.cipherSuite();
  await time("power status", "Vaquero client, one session", N_STATUS, async () => ["on", "off"].includes(await client.powerStatus()));
  await time("power status", "vaquero bmc, a process per call", N_STATUS, () => spawnOk(ours("power", "status"), env));
  await time("power status", "ipmitool, a process per call", N_STATUS, () => spawnOk(tool("chassis", "power", "status")));
  await time("bootdev pxe + cycle", "Vaquero client, one session", N_SEQ, async () => {
    await client.setBootDevice("pxe");
    await client.power("cycle");
    return true;
  });
  await time(
    "bootdev pxe + cycle",
    "vaquero bmc, a process per call",
    N_SEQ,
    async () => (await spawnOk(ours("bootdev", "pxe"), env)) && spawnOk(ours("power", "cycle"), env),
  );
  await time(
    "bootdev pxe + cycle",
    "ipmitool, a process per call",
    N_SEQ,
    async () => (await spawnOk(tool("chassis", "bootdev", "pxe"))) && spawnOk(tool("chassis", "power", "cycle")),
  );
  await client.close();

  // Many BMCs at once from one process.
  for (let i = 1; i < N_BMCS; i++) sims.push(await startIpmiSim(join(work, `bmc${i}`)));
  const t0 = performance.now();
  const per: number[] = [];
  let failed = 0;
  await Promise.all(
    sims.map(async (s) => {
      const c = createBmcClient({ host: "127.0.0.1", port: s.port, user: "admin", password: "password" });
      const t = performance.now();
      try {
        await c.powerStatus();
        await c.setBootDevice("pxe");
        await c.power("on");
        await c.power("cycle");
      } catch {
        failed++;
      } finally {
        per.push(performance.now() - t);
        await c.close();
      }
    }),
  );
  const wall = performance.now() - t0;

  const f = (x: number) => x.toFixed(1);
  console.log(`\n${new Date().toISOString()} · ${N_STATUS} status calls, ${N_SEQ} sequences, ${N_BMCS} BMCs\n`);
  console.log("| operation | client | n | p50 ms | p99 ms | errors |\n| --- | --- | ---: | ---: | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.what} | ${r.how} | ${r.n} | ${f(pct(r.ms, 50))} | ${f(pct(r.ms, 99))} | ${r.errors} |`);
  console.log(
    `\n${N_BMCS} BMCs at once (status, bootdev pxe, on, cycle on each, new session each): wall ${f(wall)} ms, per BMC p50 ${f(pct(per, 50))} ms, p99 ${f(pct(per, 99))} ms, failures ${failed}`,
  );
} finally {
  for (const s of sims) await s.stop();
  rmSync(work, { recursive: true, force: true });
}
