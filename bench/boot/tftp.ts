/**
 * bench/boot/tftp: one 50 MB file fetched with the `atftp` client at blksize 512/1468/8192 × window 1/4/16 from
 * Vaquero's server, from `in.tftpd` (tftpd-hpa; no windowsize, so window 1 only) and from `atftpd`, all on
 * 127.0.0.1 high ports in the same run. Each cell is fetched `--runs` times from each server in turn (so a burst
 * of load elsewhere hits all three alike) and the median is shown. Prints a Markdown table of MB/s per server
 * and Vaquero's ratios.
 *
 *   bun bench/boot/tftp.ts [--mb 50] [--timeout 60] [--runs 3] [--blksizes 512,1468,8192] [--windows 1,4,16]
 *
 * Needs Debian `atftp` and `atftpd` installed; tftpd-hpa conflicts with atftpd, so its `in.tftpd` is unpacked
 * into a temporary folder (`apt-get download tftpd-hpa` + `dpkg-deb -x`) unless TFTPD_HPA points at one.
 * A run that does not finish in time (a stall) is shown as "stall", a run whose bytes differ as "corrupt", with how
 * many runs did so; after a stall a server's cell is not tried again.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createTftpServer, dirSource } from "../../pkg/tftp/index.ts";
import { atftp, requireClient, run } from "../../test/_helpers/tftp-clients.ts";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const MB = arg("mb", 50);
const TIMEOUT_MS = arg("timeout", 60) * 1000;
const RUNS = arg("runs", 3);
const list = (name: string, def: number[]): number[] => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : (process.argv[i + 1] ?? "").split(",").map(Number);
};
const BLKSIZES = list("blksizes", [512, 1468, 8192]);
const WINDOWS = list("windows", [1, 4, 16]);
const PORTS = { vaquero: 27069, "tftpd-hpa": 27070, atftpd: 27071 } as const;
type ServerName = keyof typeof PORTS;

const work = mkdtempSync(join(tmpdir(), "vaquero-bench-tftp-"));
const root = join(work, "root");
const out = join(work, "out");
mkdirSync(root);
mkdirSync(out);
const file = randomBytes(MB * 1_000_000);
writeFileSync(join(root, "payload.bin"), file);

/** in.tftpd from tftpd-hpa: TFTPD_HPA, or unpacked from the Debian archive into the work folder. */
async function tftpdHpa(): Promise<string> {
  if (process.env.TFTPD_HPA) return process.env.TFTPD_HPA;
  const deb = join(work, "deb");
  mkdirSync(deb);
  const dl = await run(["apt-get", "download", "tftpd-hpa"], deb, 120_000);
  if (dl.code !== 0) throw new Error(`apt-get download tftpd-hpa failed: ${dl.stderr.trim()}`);
  const name = (await run(["sh", "-c", "ls tftpd-hpa_*.deb"], deb)).stdout.trim();
  const x = await run(["dpkg-deb", "-x", name, join(deb, "root")], deb);
  if (x.code !== 0) throw new Error(`dpkg-deb -x ${name} failed: ${x.stderr.trim()}`);
  return join(deb, "root/usr/sbin/in.tftpd");
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const ss = await run(["ss", "-Hlun", `sport = :${port}`], work);
    if (ss.stdout.trim() !== "") return;
    await Bun.sleep(100);
  }
  throw new Error(`nothing listens on udp 127.0.0.1:${port}`);
}

async function fetchOnce(port: number, blksize: number, windowsize: number): Promise<number | "stall" | "corrupt" | "error"> {
  const local = join(out, `${port}-${blksize}-${windowsize}`);
  const r = await atftp(port, "payload.bin", local, out, blksize, windowsize, TIMEOUT_MS);
  if (r.ms >= TIMEOUT_MS - 50) return "stall";
  if (r.code !== 0) return "error";
  const got = readFileSync(local);
  rmSync(local);
  if (!got.equals(file)) return "corrupt";
  return MB / (r.ms / 1000);
}

type Outcome = number | "stall" | "corrupt" | "error";
const results = new Map<string, Outcome[]>();
const key = (s: ServerName, b: number, w: number): string => `${s}/${b}/${w}`;

/** Every cell, RUNS times, each run fetching from every server in turn (tftpd-hpa at window 1 only). */
async function bench(): Promise<void> {
  for (const b of BLKSIZES) {
    for (const w of WINDOWS) {
      for (let r = 0; r < RUNS; r++) {
        for (const server of Object.keys(PORTS) as ServerName[]) {
          if (server === "tftpd-hpa" && w !== 1) continue;
          const got = results.get(key(server, b, w)) ?? [];
          if (got.includes("stall")) continue;
          const v = await fetchOnce(PORTS[server], b, w);
          results.set(key(server, b, w), [...got, v]);
          console.error(`${server} blksize ${b} window ${w} run ${r + 1}: ${typeof v === "number" ? `${v.toFixed(1)} MB/s` : v}`);
        }
      }
    }
  }
}

requireClient("atftp");
const procs: ReturnType<typeof Bun.spawn>[] = [];
const vaquero = await createTftpServer({ address: "127.0.0.1", port: PORTS.vaquero, files: await dirSource(root), log: silentLogger() });
try {
  const hpa = await tftpdHpa();
  procs.push(
    Bun.spawn([hpa, "-L", "-s", "-u", "root", "-a", `127.0.0.1:${PORTS["tftpd-hpa"]}`, root], { stdout: "ignore", stderr: "pipe" }),
  );
  await waitListening(PORTS["tftpd-hpa"]);
  const atftpdArgs = ["--daemon", "--no-fork", "--user", "root.root", "--bind-address", "127.0.0.1", "--port", String(PORTS.atftpd)];
  procs.push(Bun.spawn(["atftpd", ...atftpdArgs, "--logfile", "/dev/null", root], { stdout: "ignore", stderr: "pipe" }));
  await waitListening(PORTS.atftpd);
  await bench();
} finally {
  await vaquero.close();
  for (const p of procs) p.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
}

/** The median when every run finished, else the first failure and how many runs failed. */
function summary(runs: Outcome[] | undefined): number | string | undefined {
  if (runs === undefined) return undefined;
  const ok = runs.filter((v): v is number => typeof v === "number").sort((a, b) => a - b);
  if (ok.length === runs.length) return ok[Math.floor(ok.length / 2)];
  const failed = runs.filter((v) => typeof v !== "number");
  return `${failed[0]} (${failed.length}/${runs.length})`;
}

const cell = (v: number | string | undefined): string => (v === undefined ? "–" : typeof v === "number" ? v.toFixed(1) : v);
const ratio = (a: number | string | undefined, b: number | string | undefined): string =>
  typeof a === "number" && typeof b === "number" ? `${(a / b).toFixed(2)}×` : "–";
const lines = [
  `${MB} MB over 127.0.0.1, atftp client, MB/s (10^6 bytes/s), median of ${RUNS} run(s) per server, interleaved`,
  "",
  "| blksize | window | vaquero | tftpd-hpa | atftpd | vaquero / tftpd-hpa | vaquero / atftpd |",
  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
for (const b of BLKSIZES) {
  for (const w of WINDOWS) {
    const v = summary(results.get(key("vaquero", b, w)));
    const h = summary(results.get(key("tftpd-hpa", b, w)));
    const a = summary(results.get(key("atftpd", b, w)));
    lines.push(`| ${b} | ${w} | ${cell(v)} | ${cell(h)} | ${cell(a)} | ${ratio(v, h)} | ${ratio(v, a)} |`);
  }
}
console.log(lines.join("\n"));
