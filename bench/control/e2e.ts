/**
 * bench/control end to end: webhook → the changed host's agent has acknowledged the new release. A 10,000-host SoT
 * (bench/sot/generate.ts, 10 sites) is served by a real git server (git http-backend); the compiled `vaquero
 * server` (embedded store) and a compiled `vaquero agent` for site-000 (the site of the host changed), with an
 * agent token issued through `POST /tokens`, all on 127.0.0.1. Each run commits a one-host change, pushes it, sends
 * a signed GitHub-style webhook and times until the server records the agent's ack of that release.
 *
 * `--mode auto` (default) runs the server with `--auto-execute`, which stages every valid release before the
 * webhook's 202; `--mode prepare` runs it without and calls `POST /prepare` right after the 202 (its time included).
 *
 *   npm run build && npx bun bench/control/e2e.ts [--hosts 10000] [--runs 5] [--mode auto|prepare] [--keep]
 */
import { createHmac } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { commitAll, git } from "../../test/_helpers/git.ts";
import { startGitHttp } from "../../test/_helpers/git-http.ts";
import { freePort } from "../../test/_helpers/ports.ts";
import { killAll, spawnVaquero, until } from "../../test/_helpers/vaquero-proc.ts";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "10000" },
    runs: { type: "string", default: "5" },
    mode: { type: "string", default: "auto" },
    keep: { type: "boolean", default: false },
  },
});
const HOSTS = Number(values.hosts);
const RUNS = Number(values.runs);
const MODE = values.mode === "prepare" ? "prepare" : "auto";
const ROOT = resolve(import.meta.dir, "../..");
const SECRET = "bench-webhook-secret-0123456789";
const SITE = "site-000";
const work = mkdtempSync(join(tmpdir(), "vq-bench-e2e-"));
const logDir = join(work, "logs");
const src = join(work, "src");
const env = { BMC_PASSWORD: "x" };

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
mkdirSync(join(work, "ipxe"));
git(work, "init", "-q", "--bare", "served/sot.git");
const push = (): string => {
  git(src, "push", "-q", "--force", join(work, "served/sot.git"), "HEAD:refs/heads/main");
  return git(src, "rev-parse", "HEAD");
};
const first = push();
const gitServer = await startGitHttp(join(work, "served"));
writeFileSync(join(work, "secret"), SECRET);
const bin = join(work, "vaquero");
cpSync(join(ROOT, "dist/vaquero"), bin);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const sot = `${gitServer.url}/sot.git`;
let ok = false;
try {
  const argv = [bin, "server", "--sot", sot, "--data-dir", "data/server", "--http-addr", `127.0.0.1:${port}`];
  argv.push("--webhook-secret-file", "secret", ...(MODE === "auto" ? ["--auto-execute"] : []));
  const server = spawnVaquero("server", argv, { cwd: work, logDir, env });
  const t0 = performance.now();
  await until(async () => (server.log().includes('"release stored"') ? true : undefined), "the first compile", 6000);
  console.log(`first compile at start (${HOSTS} hosts): ${Math.round(performance.now() - t0)} ms after spawn`);
  const admin = readFileSync(join(work, "data/server/admin.token"), "utf8").trim();
  const api = async (method: string, path: string, body?: unknown): Promise<Response> =>
    await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const issued = await api("POST", "/tokens", { name: "agent-000", role: "agent", site: SITE });
  if (issued.status !== 201) throw new Error(`POST /tokens: ${issued.status} ${await issued.text()}`);
  writeFileSync(join(work, "agent.token"), `${((await issued.json()) as { token: string }).token}\n`);
  if (MODE === "prepare") {
    const r = await api("POST", "/prepare", { release: first });
    if (r.status !== 202) throw new Error(`POST /prepare: ${r.status} ${await r.text()}`);
  }
  const agentPort = await freePort();
  const agentArgv = [bin, "agent", "--server", base, "--site", SITE, "--token-file", "agent.token", "--data-dir", "data/agent"];
  agentArgv.push("--name", "a0", "--http-addr", `127.0.0.1:${agentPort}`, "--tftp-addr", "127.0.0.1:0", "--ipxe-dir", "ipxe");
  spawnVaquero("agent", agentArgv, { cwd: work, logDir, env });
  /** The release the server has recorded the agent's ack of. */
  const acked = async (): Promise<string | undefined> => {
    const r = await api("GET", `/status/sites/${SITE}`);
    const s = (await r.json()) as { agents?: { name: string; staged?: string }[] };
    return s.agents?.find((a) => a.name === "a0")?.staged;
  };
  await until(async () => ((await acked()) === first ? true : undefined), "the agent's first ack", 6000);

  const file = join(src, "sites/site-000/cluster-000.yml");
  const original = readFileSync(file, "utf8");
  const total: number[] = [];
  const toAccepted: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    writeFileSync(file, original.replace("metadata: {rack: r000}", `metadata: {rack: r000, bench: ${run}}`));
    commitAll(src, `run ${run}`);
    const sha = push();
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha, repository: { clone_url: sot } });
    const sig = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
    const t = performance.now();
    const r = await fetch(`${base}/postreceive`, {
      method: "POST",
      headers: { "x-github-event": "push", "x-github-delivery": `bench-e2e-${run}`, "x-hub-signature-256": sig },
      body,
    });
    const accepted = performance.now() - t;
    if (r.status !== 202) throw new Error(`run ${run}: ${r.status} ${await r.text()}`);
    if (MODE === "prepare") {
      const p = await api("POST", "/prepare", { release: sha });
      if (p.status !== 202) throw new Error(`run ${run}: POST /prepare ${p.status} ${await p.text()}`);
    }
    // Bounded: 30 s in steps of 5 ms.
    await until(async () => ((await acked()) === sha ? true : undefined), `run ${run}: the ack of ${sha}`, 6000, 5);
    const ms = performance.now() - t;
    const rel = (await (await api("GET", `/releases/${sha}`)).json()) as { sites: Record<string, { hosts_changed: string[] }> };
    const changed = Object.values(rel.sites).flatMap((s) => s.hosts_changed);
    if (changed.join() !== "h000000") throw new Error(`run ${run}: changed ${changed.slice(0, 5).join(",")}…`);
    total.push(ms);
    toAccepted.push(accepted);
    console.log(
      `run ${run}: webhook → 202 ${Math.round(accepted)} ms; → agent's ack stored ${Math.round(ms)} ms (202 → ack ${Math.round(ms - accepted)} ms); hosts_changed [${changed.join(", ")}]`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const sorted = [...total].sort((a, b) => a - b);
  console.log(
    `mode ${MODE}: webhook → ack median ${Math.round(median(total))} ms (min ${Math.round(sorted[0] ?? 0)}, max ${Math.round(sorted.at(-1) ?? 0)}); webhook → 202 median ${Math.round(median(toAccepted))} ms (${RUNS} runs)`,
  );
  ok = true;
} finally {
  await killAll();
  await gitServer.stop();
  if (ok && !values.keep) rmSync(work, { recursive: true, force: true });
  else console.error(`logs kept in ${logDir}`);
}
