/**
 * bench/control (the server's part): webhook to stored release. A 10,000-host SoT (bench/sot/generate.ts) is
 * served by a real git server (git http-backend); `vaquero server` (the compiled binary, `npm run build` first)
 * compiles it at start; then each run commits a one-host change, pushes it and sends a signed GitHub-style
 * webhook, timing the request until its 202 (answered once the release and its bundles are stored). Each release
 * is checked: exactly that host changed.
 *
 *   npm run build && npx bun bench/control/run.ts [--hosts 10000] [--runs 5]
 */
import { createHmac } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { commitAll, git } from "../../test/_helpers/git.ts";
import { startGitHttp } from "../../test/_helpers/git-http.ts";
import { freePort } from "../../test/_helpers/ports.ts";

const { values } = parseArgs({ options: { hosts: { type: "string", default: "10000" }, runs: { type: "string", default: "5" } } });
const HOSTS = Number(values.hosts);
const RUNS = Number(values.runs);
const ROOT = resolve(import.meta.dir, "../..");
const SECRET = "bench-webhook-secret-0123456789";
const work = mkdtempSync(join(tmpdir(), "vq-bench-control-"));
const src = join(work, "src");

const gen = Bun.spawnSync([
  process.execPath,
  join(ROOT, "bench/sot/generate.ts"),
  "--hosts",
  String(HOSTS),
  "--sites",
  "10",
  "--workflows",
  "50",
  "--out",
  src,
]);
if (gen.exitCode !== 0) throw new Error(gen.stderr.toString());
commitAll(src, "generated");
mkdirSync(join(work, "served"));
git(work, "init", "-q", "--bare", "served/sot.git");
const push = (): string => {
  const sha = git(src, "rev-parse", "HEAD");
  git(src, "push", "-q", "--force", join(work, "served/sot.git"), "HEAD:refs/heads/main");
  return sha;
};
push();
const gitServer = await startGitHttp(join(work, "served"));
writeFileSync(join(work, "secret"), SECRET);
cpSync(join(ROOT, "dist/vaquero"), join(work, "vaquero"));
const port = await freePort();
const sot = `${gitServer.url}/sot.git`;
const proc = Bun.spawn(
  [
    join(work, "vaquero"),
    "server",
    "--sot",
    sot,
    "--data-dir",
    "data",
    "--http-addr",
    `127.0.0.1:${port}`,
    "--webhook-secret-file",
    "secret",
    "--log-level",
    "info",
  ],
  { cwd: work, stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { PATH: "/usr/bin:/bin", BMC_PASSWORD: "x" } },
);
try {
  const reader = proc.stderr.getReader();
  let log = "";
  const t0 = performance.now();
  for (let i = 0; i < 100_000 && !log.includes('"release stored"'); i++) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${log}`);
    log += new TextDecoder().decode(value);
  }
  console.log(`first compile at start (${HOSTS} hosts): ${Math.round(performance.now() - t0)} ms after spawn`);
  void (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  const admin = readFileSync(join(work, "data/admin.token"), "utf8").trim();
  const file = join(src, "sites/site-000/cluster-000.yml");
  const original = readFileSync(file, "utf8");
  const times: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    writeFileSync(file, original.replace("metadata: {rack: r000}", `metadata: {rack: r000, bench: ${run}}`));
    commitAll(src, `run ${run}`);
    const sha = push();
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha, repository: { clone_url: sot } });
    const sig = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
    const t = performance.now();
    const r = await fetch(`http://127.0.0.1:${port}/postreceive`, {
      method: "POST",
      headers: { "x-github-event": "push", "x-github-delivery": `bench-${run}`, "x-hub-signature-256": sig },
      body,
    });
    const ms = performance.now() - t;
    if (r.status !== 202) throw new Error(`run ${run}: ${r.status} ${await r.text()}`);
    const rel = (await (
      await fetch(`http://127.0.0.1:${port}/releases/${sha}`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as {
      sites: Record<string, { hosts_changed: string[] }>;
    };
    const changed = Object.values(rel.sites).flatMap((s) => s.hosts_changed);
    if (changed.join() !== "h000000") throw new Error(`run ${run}: changed ${changed.slice(0, 5).join(",")}…`);
    times.push(ms);
    console.log(`run ${run}: webhook → 202 (release stored) ${Math.round(ms)} ms; hosts_changed [${changed.join(", ")}]`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)} ms, min ${Math.round(sorted[0] ?? 0)}, max ${Math.round(sorted.at(-1) ?? 0)} (${RUNS} runs)`,
  );
} finally {
  proc.kill("SIGTERM");
  await proc.exited;
  await gitServer.stop();
  rmSync(work, { recursive: true, force: true });
}
