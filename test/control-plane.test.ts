/**
 * The control plane end to end, every process the compiled binary, all on 127.0.0.1: a real git server (git
 * http-backend) holding a SoT of two sites, `vaquero server` (embedded store, webhook secret) and one `vaquero
 * agent` per site, each with an agent token issued through `POST /tokens`. A commit announced by a signed webhook
 * becomes a release; `POST /prepare` stages it and both agents switch to it (their own `/status`, and the agents
 * listed by the server's). `POST /execute` at the server starts a rollout on the s1 agent (the server then lists
 * that release as the agent's `active` one); simulated machines
 * fetch their boot script from the agent and report `booted` and `stage-done`; states and progress reach the
 * server. The server is killed (SIGKILL) mid-rollout: the agent goes on serving boots, takes reports and finishes
 * the rollout; the server restarts on the same data directory and receives every buffered event exactly once.
 * Refused: the s1 agent's process with the s2 agent token (it logs why and keeps serving its staged bundle), and a
 * token of another role (403). No DHCP (`--dhcp-iface` not given), TFTP on an ephemeral port; machines have no
 * BMC, so the engine waits for a person to power them and the simulated machines boot on their own.
 *
 * Logs of every process are written to `<temp dir>/logs/`; the directory is kept when a test fails.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OUTBOX_ACKED_KEY, OUTBOX_LAST_KEY } from "../pkg/control/index.ts";
import { openEmbeddedStore } from "../pkg/store/index.ts";
import { builtBinary } from "./_helpers/build.ts";
import { commitAll, git } from "./_helpers/git.ts";
import { type GitHttpServer, startGitHttp } from "./_helpers/git-http.ts";
import { freePort } from "./_helpers/ports.ts";
import { killAll, spawnVaquero, until, type VaqueroProc } from "./_helpers/vaquero-proc.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-control-plane-"));
const logDir = join(work, "logs");
const bin = join(work, "vaquero");
const src = join(work, "src");
const SECRET = "a-control-plane-webhook-secret";
const MAC = (site: number, n: number) => `52:54:00:00:0${site}:0${n}`;
let gitServer: GitHttpServer;
let sotUrl = "";
let serverPort = 0;
let base = "";
let server: VaqueroProc | undefined;
const agents: Record<string, { proc: VaqueroProc; http: string; dataDir: string; port: number }> = {};
let failures = 0;
const tok: Record<string, string> = {};

/** A cluster file of `n` hosts without BMCs (`prefix-1`…), MACs 52:54:00:00:0<site>:0<i>. */
const hostsYaml = (prefix: string, site: number, n: number) =>
  [
    "hosts:",
    ...Array.from({ length: n }, (_, i) => [
      `  - name: ${prefix}-${i + 1}`,
      "    workflow: node",
      `    interfaces: [{mac: "${MAC(site, i + 1)}", subnet: prov, ipv4: 10.0.0.${11 + i}}]`,
    ]).flat(),
    "",
  ].join("\n");

/** Commits the work tree and pushes it to the served bare repository; returns the commit. */
function push(message: string): string {
  const sha = commitAll(src, message);
  git(src, "push", "-q", "--force", join(work, "served/sot.git"), "HEAD:refs/heads/main");
  return sha;
}

function startServer(): VaqueroProc {
  const argv = [bin, "server", "--sot", sotUrl, "--ref", "main", "--data-dir", "data/server"];
  argv.push("--http-addr", `127.0.0.1:${serverPort}`, "--webhook-secret-file", "secret", "--log-level", "debug");
  return spawnVaquero("server", argv, { cwd: work, logDir });
}

async function startAgent(site: string, tokenFile: string): Promise<void> {
  const prev = agents[site];
  const port = prev?.port ?? (await freePort());
  const dataDir = join(work, `data/agent-${site}`);
  const argv = [bin, "agent", "--server", base, "--site", site, "--token-file", tokenFile, "--data-dir", dataDir];
  argv.push("--name", `a-${site}`, "--http-addr", `127.0.0.1:${port}`, "--tftp-addr", "127.0.0.1:0", "--ipxe-dir", "ipxe");
  argv.push("--boot-rate", "0", "--poll-wait", "5");
  const proc = spawnVaquero(`agent-${site}`, argv, { cwd: work, logDir });
  agents[site] = { proc, http: `http://127.0.0.1:${port}`, dataDir, port };
}

const agentOf = (site: string) => {
  const a = agents[site];
  if (!a) throw new Error(`no agent for ${site}`);
  return a;
};

/** A request to the server with a bearer token. */
const api = (method: string, path: string, token: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const getJson = async <T>(url: string, token?: string): Promise<T> => {
  const r = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as T;
};

interface AgentStatus {
  site: string;
  release?: { id: string };
  machines: { total: number; by_state: Record<string, number> };
  rollouts: { id: string; state: string; hosts?: Record<string, { state: string }> }[];
}
interface ServerSite {
  id: string;
  desired?: { release: string };
  agents: { name: string; staged?: string; active?: string; last_seen?: string; version?: string }[];
  machines: { total: number; by_state: Record<string, number>; list?: { mac: string; host?: string; state?: string }[] };
  rollouts: { id: string; state: string }[];
}
interface RolloutRecord {
  id: string;
  state: string;
  hosts?: Record<string, { state: string; reason?: string }>;
}
const agentStatus = (site: string) => getJson<AgentStatus>(`${agentOf(site).http}/status`);
const agentMachine = (site: string, mac: string) =>
  getJson<{ state: string; reason?: string; events: { type: string }[] }>(`${agentOf(site).http}/status/machines/${mac}`);
const serverSite = (site: string) => getJson<ServerSite>(`${base}/status/sites/${site}`, tok.viewer);
const serverMachine = async (site: string, mac: string) => (await serverSite(site)).machines.list?.find((m) => m.mac === mac);

/** A machine's report to its agent, as a booting OS sends it. */
const report = async (site: string, mac: string, event: string, detail: Record<string, unknown> = {}) => {
  const r = await fetch(`${agentOf(site).http}/state`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mac, event, ...detail }),
  });
  return r.status;
};
/** A machine network-booting from its agent: the first-contact script, then its own. */
const boot = async (site: string, mac: string): Promise<string> => {
  const first = await fetch(`${agentOf(site).http}/boot.ipxe`);
  expect(first.status).toBe(200);
  expect(await first.text()).toContain("#!ipxe");
  const own = await fetch(`${agentOf(site).http}/boot.ipxe?mac=${mac.replaceAll(":", "-")}`);
  expect(own.status).toBe(200);
  return await own.text();
};

beforeAll(async () => {
  builtBinary();
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(join(work, "ipxe"));
  cpSync(join(ROOT, "test/fixtures/_valid-base"), src, { recursive: true });
  cpSync(join(src, "sites/s1"), join(src, "sites/s2"), { recursive: true });
  writeFileSync(join(src, "sites/s2/env.yml"), readFileSync(join(src, "sites/s2/env.yml"), "utf8").replace("id: s1", "id: s2"));
  writeFileSync(join(src, "sites/s1/cluster-a.yml"), hostsYaml("node", 1, 2));
  writeFileSync(join(src, "sites/s2/cluster-a.yml"), hostsYaml("web", 2, 2));
  commitAll(src, "first");
  mkdirSync(join(work, "served"));
  git(work, "init", "-q", "--bare", "served/sot.git");
  push("first");
  gitServer = await startGitHttp(join(work, "served"));
  sotUrl = `${gitServer.url}/sot.git`;
  writeFileSync(join(work, "secret"), `${SECRET}\n`);
  serverPort = await freePort();
  base = `http://127.0.0.1:${serverPort}`;
});

afterAll(async () => {
  await killAll();
  await gitServer?.stop();
  if (failures === 0) rmSync(work, { recursive: true, force: true });
  else console.error(`control-plane test: logs and data kept in ${work}`);
});

/** Runs a step; a failure keeps the temp directory (and its logs) for a look. */
const step = (name: string, fn: () => Promise<void>) =>
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      failures++;
      throw e;
    }
  });

describe("control plane end to end", () => {
  setDefaultTimeout(120_000);
  let c2 = "";
  let rollout = "";

  step("server and two agents start; tokens through POST /tokens", async () => {
    server = startServer();
    await until(async () => (server?.log().includes('"release stored"') ? true : undefined), "the server's first compile");
    const admin = readFileSync(join(work, "data/server/admin.token"), "utf8").trim();
    const issue = async (name: string, role: string, site?: string) => {
      const r = await api("POST", "/tokens", admin, { name, role, ...(site ? { site } : {}) });
      expect(r.status).toBe(201);
      tok[name] = ((await r.json()) as { token: string }).token;
      writeFileSync(join(work, `${name}.token`), `${tok[name]}\n`);
    };
    await issue("operator", "operator");
    await issue("viewer", "viewer");
    await issue("agent-s1", "agent", "s1");
    await issue("agent-s2", "agent", "s2");
    await startAgent("s1", "agent-s1.token");
    await startAgent("s2", "agent-s2.token");
    for (const site of ["s1", "s2"]) {
      await until(
        async () => ((await serverSite(site)).agents.some((a) => a.name === `a-${site}`) ? true : undefined),
        `${site} registered`,
      );
      expect((await fetch(`${agentOf(site).http}/live`)).status).toBe(200);
    }
  });

  step("commit → signed webhook → 202 {release} → POST /prepare → both agents switch", async () => {
    writeFileSync(join(src, "sites/s1/cluster-a.yml"), hostsYaml("node", 1, 3));
    c2 = push("node-3");
    const body = new TextEncoder().encode(
      JSON.stringify({ ref: "refs/heads/main", after: c2, repository: { clone_url: sotUrl, full_name: "infra/sot" } }),
    );
    const hook = await fetch(`${base}/postreceive`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "e2e-1",
        "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`,
      },
      body,
    });
    expect(hook.status).toBe(202);
    expect(((await hook.json()) as { release: string }).release).toBe(c2);
    const prep = await api("POST", "/prepare", tok.operator ?? "", { release: c2 });
    expect(prep.status).toBe(202);
    for (const site of ["s1", "s2"]) {
      await until(async () => ((await agentStatus(site)).release?.id === c2 ? true : undefined), `agent ${site} on ${c2}`);
      const s = await until(async () => {
        const x = await serverSite(site);
        return x.agents.find((a) => a.name === `a-${site}`)?.staged === c2 ? x : undefined;
      }, `the server sees a-${site} staged ${c2}`);
      expect(s.desired?.release).toBe(c2);
      expect(s.agents[0]?.version).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect((await agentStatus("s1")).machines.total).toBe(3);
    expect((await agentStatus("s2")).machines.total).toBe(2);
    // The fleet view lists both sites, each with its agent.
    const fleet = await getJson<{ sites: ServerSite[] }>(`${base}/status`, tok.viewer);
    expect(fleet.sites.map((s) => [s.id, s.agents.map((a) => [a.name, a.staged])])).toEqual([
      ["s1", [["a-s1", c2]]],
      ["s2", [["a-s2", c2]]],
    ]);
  });

  step("POST /execute at the server → the s1 agent runs the rollout; machine reports reach the server", async () => {
    const r = await api("POST", "/execute", tok.operator ?? "", { site: "s1", hosts: ["node-1", "node-2"], policy: { max_concurrent: 1 } });
    expect(r.status).toBe(202);
    rollout = ((await r.json()) as { rollout: { id: string } }).rollout.id;
    // The agent started it under the server's id: node-1 waits for a person to power it (no BMC), node-2 waits.
    const m1 = await until(async () => {
      const m = await agentMachine("s1", MAC(1, 1));
      return m.state === "powering" ? m : undefined;
    }, "node-1 powering on the agent");
    expect(JSON.stringify(m1)).toContain("waiting for a person");
    expect((await agentStatus("s1")).rollouts.map((x) => [x.id, x.state])).toContainEqual([rollout, "running"]);
    const seen = await until(async () => {
      const x = await getJson<RolloutRecord>(`${base}/rollouts/${rollout}`, tok.viewer);
      return x.state === "running" && x.hosts?.["node-1"] ? x : undefined;
    }, "the rollout at the server");
    expect(seen.hosts?.["node-2"]?.state).toBe("waiting");
    // The server lists the release rolled out as the s1 agent's active one; s2 rolled nothing out.
    await until(
      async () => ((await serverSite("s1")).agents.find((a) => a.name === "a-s1")?.active === c2 ? true : undefined),
      "a-s1 active at the server",
    );
    expect((await serverSite("s2")).agents.find((a) => a.name === "a-s2")?.active).toBeUndefined();
    await until(
      async () => ((await serverMachine("s1", MAC(1, 1)))?.state === "powering" ? true : undefined),
      "node-1 powering at the server",
    );
    // node-1 boots from the agent and reports like its OS would.
    expect(await boot("s1", MAC(1, 1))).toContain("kernel");
    expect(await report("s1", MAC(1, 1), "booted")).toBe(204);
    expect(await report("s1", MAC(1, 1), "installed")).toBe(204);
    await until(
      async () => ((await serverMachine("s1", MAC(1, 1)))?.state === "provisioned" ? true : undefined),
      "node-1 provisioned at the server",
    );
    const progress = await until(async () => {
      const x = await getJson<RolloutRecord>(`${base}/rollouts/${rollout}`, tok.viewer);
      return x.hosts?.["node-1"]?.state === "provisioned" && x.hosts["node-2"]?.state === "running" ? x : undefined;
    }, "the rollout's progress at the server");
    expect(progress.state).toBe("running");
    const s1 = await serverSite("s1");
    expect(s1.machines.by_state.provisioned).toBe(1);
    expect(s1.rollouts.map((x) => x.id)).toContain(rollout);
  });

  step("the server killed mid-rollout: the agent finishes it; after a restart every buffered event arrives once", async () => {
    await until(
      async () => ((await serverMachine("s1", MAC(1, 2)))?.state === "powering" ? true : undefined),
      "node-2 powering at the server",
    );
    expect(await server?.kill("SIGKILL")).not.toBe(0);
    server = undefined;
    // What the server had stored of the s1 agent's events when it died.
    const dead = await openEmbeddedStore({ path: join(work, "data/server/vaquero.db"), leaseCheckMs: false });
    const markKey = "/vaquero/sites/s1/events-acked/a-s1";
    const before = Number(new TextDecoder().decode((await dead.get(markKey))?.value ?? new Uint8Array())) || 0;
    await dead.close();
    expect(before).toBeGreaterThan(0);

    // Offline: node-2 boots from the agent, logs, installs; the rollout finishes on the agent.
    expect(await boot("s1", MAC(1, 2))).toContain("kernel");
    const LOGS = 20;
    for (let n = 0; n < LOGS; n++) expect(await report("s1", MAC(1, 2), "log", { n })).toBe(204);
    expect(await report("s1", MAC(1, 2), "booted")).toBe(204);
    expect(await report("s1", MAC(1, 2), "stage-done")).toBe(204);
    expect((await agentMachine("s1", MAC(1, 2))).state).toBe("provisioned");
    await until(async () => {
      const r = (await agentStatus("s1")).rollouts.find((x) => x.id === rollout);
      return r?.state === "done" ? true : undefined;
    }, "the rollout done on the agent");
    expect((await fetch(`${agentOf("s1").http}/ready`)).status).toBe(200);
    await until(async () => (agentOf("s1").proc.log().includes("cannot reach the server") ? true : undefined), "the outbox noticing");

    // Back on the same data directory: the agent replays; the server shows the final states.
    server = startServer();
    await until(async () => {
      const r = await getJson<RolloutRecord>(`${base}/rollouts/${rollout}`, tok.viewer);
      const m2 = await serverMachine("s1", MAC(1, 2));
      return r.state === "done" && m2?.state === "provisioned" ? true : undefined;
    }, "the final states at the server");
    const s1 = await serverSite("s1");
    // Machines the agent has reported: node-3, in no rollout and never booted, has nothing to report yet.
    expect(s1.machines.by_state).toEqual({ provisioned: 2 });
    expect(s1.rollouts.find((x) => x.id === rollout)?.state).toBe("done");

    // Every event once: stop the agent and the server, then compare their stores.
    expect(await agentOf("s1").proc.kill("SIGTERM")).toBe(0);
    expect(await server.kill("SIGTERM")).toBe(0);
    server = undefined;
    const agentStore = await openEmbeddedStore({ path: join(agentOf("s1").dataDir, "vaquero.db"), leaseCheckMs: false });
    const num = async (k: string) => Number(new TextDecoder().decode((await agentStore.get(k))?.value ?? new Uint8Array())) || 0;
    const last = await num(OUTBOX_LAST_KEY);
    const acked = await num(OUTBOX_ACKED_KEY);
    await agentStore.close();
    const st = await openEmbeddedStore({ path: join(work, "data/server/vaquero.db"), leaseCheckMs: false });
    const mark = Number(new TextDecoder().decode((await st.get(markKey))?.value ?? new Uint8Array())) || 0;
    const events = (await st.range("/vaquero/sites/s1/events/a-s1/", { limit: 100_000 })).kvs.map(
      (kv) =>
        JSON.parse(new TextDecoder().decode(kv.value)) as {
          seq: number;
          kind: string;
          mac?: string;
          event?: { type: string; detail?: { n?: number } };
        },
    );
    await st.close();
    expect(acked).toBe(last);
    expect(mark).toBe(last);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const logs = events.filter((e) => e.kind === "event" && e.event?.type === "log").map((e) => e.event?.detail?.n);
    expect(logs).toEqual(Array.from({ length: LOGS }, (_, i) => i));
    const buffered = events.filter((e) => e.seq > before);
    console.log(
      `outage: server had ${before} of the s1 agent's entries; ${buffered.length} buffered during the outage (${buffered.filter((e) => e.kind === "event").length} events, ${buffered.filter((e) => e.kind === "machine").length} machine states, ${buffered.filter((e) => e.kind === "rollout").length} rollout records) delivered after the restart; ${last} in all, each once`,
    );
    expect(buffered.length).toBe(last - before);
    expect(buffered.length).toBeGreaterThanOrEqual(LOGS);
  });

  step("refused: the s2 token in the s1 agent's process; a token of another role (403)", async () => {
    server = startServer();
    await until(async () => ((await fetch(`${base}/ready`)).status === 200 ? true : undefined), "the server ready");
    // The s1 agent's process started with the s2 agent token: refused, it says so and serves its staged bundle.
    await startAgent("s1", "agent-s2.token");
    const a = agentOf("s1");
    await until(async () => (a.proc.log().includes("FORBIDDEN") ? true : undefined), "the refusal in the agent's log");
    expect(a.proc.log()).toContain('is for site \\"s2\\" only');
    expect((await agentStatus("s1")).release?.id).toBe(c2);
    expect(await boot("s1", MAC(1, 3))).toContain("kernel");
    expect((await agentMachine("s1", MAC(1, 1))).state).toBe("provisioned");
    expect(await a.proc.kill("SIGTERM")).toBe(0);
    // The same at the link: another site's token, a viewer or operator token.
    const register = (token: string) =>
      fetch(`${base}/v1/agent/register`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ site: "s1", name: "a-s1", version: "0.0.0" }),
      });
    for (const t of [tok["agent-s2"], tok.viewer, tok.operator]) {
      const r = await register(t ?? "");
      expect([r.status, ((await r.json()) as { error: { code: string } }).error.code]).toEqual([403, "FORBIDDEN"]);
    }
    // An agent token is no operator's: /execute and /prepare refuse it.
    expect((await api("POST", "/execute", tok["agent-s1"] ?? "", { site: "s1", hosts: ["node-1"] })).status).toBe(403);
    expect((await api("POST", "/prepare", tok["agent-s1"] ?? "", { release: c2 })).status).toBe(403);
    // The s1 agent's process with a viewer token: 403 logged, still serving.
    await startAgent("s1", "viewer.token");
    await until(async () => (agentOf("s1").proc.log().includes("FORBIDDEN") ? true : undefined), "the viewer token's refusal");
    expect((await agentStatus("s1")).release?.id).toBe(c2);
    expect(await agentOf("s1").proc.kill("SIGTERM")).toBe(0);
    expect(await agentOf("s2").proc.kill("SIGTERM")).toBe(0);
    expect(await server.kill("SIGTERM")).toBe(0);
  });
});
