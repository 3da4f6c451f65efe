/**
 * bench/sot: validate + render + compile of a generated 10,000-host SoT (10 sites, 50 workflows) with the
 * compiled binary, several runs; wall time, peak RSS and per-phase times from the binary's own log line.
 * For reference, in the same run: the exact YAML parser alone (the `yaml` package) over the same inventory files,
 * which is what a validator without the fast path spends before checking anything; and the in-process compile
 * with rendering on one thread and on two, alternated.
 *
 *   npm run build && bun bench/sot/run.ts [--hosts 10000] [--runs 5]
 *
 * Prints a Markdown table for docs/benchmarks.md.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { compileTree, readDirTree } from "../../pkg/sot/index.ts";

const root = resolve(import.meta.dir, "../..");
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const hosts = arg("hosts", 10_000);
const runs = arg("runs", 5);
const out = join(root, "bench/out/sot");
const bin = join(root, "dist/vaquero");
if (!existsSync(bin)) throw new Error("dist/vaquero is missing: run npm run build first");

const gen = Bun.spawnSync([
  process.execPath,
  join(root, "bench/sot/generate.ts"),
  "--hosts",
  String(hosts),
  "--sites",
  "10",
  "--workflows",
  "50",
  "--out",
  out,
]);
if (gen.exitCode !== 0) throw new Error(`generate failed: ${gen.stderr.toString()}`);

interface Run {
  wallMs: number;
  rssMb: number;
  timings: Record<string, number>;
}
const results: Run[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "validate", out, "--format", "json", "--log-level", "info"], { stdout: "pipe", stderr: "pipe", cwd: "/" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const wallMs = performance.now() - t0;
  if (code !== 0) throw new Error(`validate exited ${code}: ${stdout.slice(0, 500)} ${stderr.slice(0, 500)}`);
  const line = stderr.split("\n").find((l) => l.includes('"compiled"'));
  const timings = line ? (JSON.parse(line) as { timings: Record<string, number> }).timings : {};
  results.push({ wallMs, rssMb: (p.resourceUsage()?.maxRSS ?? 0) / (1024 * 1024), timings });
}

const files: string[] = [];
const walk = (d: string): void => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.startsWith("cluster-")) files.push(p);
  }
};
walk(join(out, "sites"));
const texts = files.map((f) => readFileSync(f, "utf8"));
const mb = texts.reduce((n, t) => n + t.length, 0) / 1e6;
const ref: number[] = [];
for (let i = 0; i < Math.min(runs, 3); i++) {
  const t0 = performance.now();
  for (const t of texts) for (const d of parseAllDocuments(t)) d.toJS();
  ref.push(performance.now() - t0);
}
const nat: number[] = [];
for (let i = 0; i < Math.min(runs, 3); i++) {
  const t0 = performance.now();
  for (const t of texts) Bun.YAML.parse(t);
  nat.push(performance.now() - t0);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const fmt = (n: number): string => n.toFixed(0);
const wall = results.map((r) => r.wallMs);
const rss = results.map((r) => r.rssMb);
const phase = (k: string): string => fmt(median(results.map((r) => r.timings[k] ?? Number.NaN)));
console.log(`| hosts | runs | wall median (min–max) | peak RSS max | load | rules | render | bundle |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
console.log(
  `| ${hosts} | ${runs} | ${fmt(median(wall))} ms (${fmt(Math.min(...wall))}–${fmt(Math.max(...wall))}) | ${fmt(Math.max(...rss))} MB | ${phase("load")} ms | ${phase("validate")} ms | ${phase("render")} ms | ${phase("bundle")} ms |`,
);
console.log("");
console.log(`Inventory YAML, ${mb.toFixed(1)} MB in ${files.length} files, parse only:`);
console.log(`- yaml package (exact, positions): ${fmt(median(ref))} ms (${(mb / (median(ref) / 1000)).toFixed(1)} MB/s)`);
console.log(`- Bun.YAML (native, no positions): ${fmt(median(nat))} ms (${(mb / (median(nat) / 1000)).toFixed(1)} MB/s)`);

const tree = await readDirTree(out);
const threads: Record<"one" | "two", number[]> = { one: [], two: [] };
for (let i = 0; i < Math.min(runs, 4); i++) {
  for (const parallel of [false, true]) {
    const t0 = performance.now();
    await compileTree(tree, { parallel });
    threads[parallel ? "two" : "one"].push(performance.now() - t0);
  }
}
console.log(
  `In-process compile (warm), median of ${threads.one.length}: one render thread ${fmt(median(threads.one))} ms, two ${fmt(median(threads.two))} ms`,
);
