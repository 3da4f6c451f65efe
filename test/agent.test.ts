/**
 * `vaquero agent`, the compiled binary, against a control plane in the test process (the agent link over a seeded
 * store, as `vaquero server` lays it out), all on 127.0.0.1: staging and switching bundles, a bundle whose bytes
 * do not match its hash, tokens of another site or role, a rollout started by a site command, and an outage of the
 * server in the middle of a rollout (every event buffered arrives exactly once), then a restart without the server.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LINK_KEYS, OUTBOX_ACKED_KEY, OUTBOX_LAST_KEY } from "../pkg/control/index.ts";
import { openEmbeddedStore } from "../pkg/store/index.ts";
import { builtBinary } from "./_helpers/build.ts";
import { type LinkServer, linkServer } from "./_helpers/link-server.ts";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-agent-"));
const bin = join(work, "vaquero");
const running = new Set<Bun.Subprocess>();
let server: LinkServer;
let agentToken = "";

const HOSTS = (n: number) =>
  [
    "hosts:",
    ...Array.from({ length: n }, (_, i) => [
      `  - name: node-${i + 1}`,
      "    workflow: node",
      `    interfaces: [{mac: "52:54:00:00:00:0${i + 1}", subnet: prov, ipv4: 10.0.0.1${i + 1}}]`,
    ]).flat(),
    "",
  ].join("\n");

interface Agent {
  p: Bun.Subprocess<"ignore", "pipe", "pipe">;
  http: string;
  log: () => string;
}

/** Starts an agent and reads its log in the background. */
async function startAgent(dataDir: string, tokenFile: string, httpPort: number, name = "a1"): Promise<Agent> {
  const p = Bun.spawn(
    [
      bin,
      "agent",
      "--server",
      server.url,
      "--site",
      "s1",
      "--token-file",
      tokenFile,
      "--data-dir",
      dataDir,
      "--name",
      name,
      "--http-addr",
      `127.0.0.1:${httpPort}`,
      "--tftp-addr",
      "127.0.0.1:0",
      "--ipxe-dir",
      "ipxe",
      "--boot-rate",
      "0",
      "--poll-wait",
      "5",
    ],
    { cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/bin" } },
  );
  running.add(p);
  let text = "";
  void (async () => {
    const reader = p.stderr.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += new TextDecoder().decode(value);
    }
  })();
  return { p, http: `http://127.0.0.1:${httpPort}`, log: () => text };
}

async function stop(a: Agent): Promise<number> {
  running.delete(a.p);
  a.p.kill("SIGTERM");
  return await a.p.exited;
}

/** Polls `probe` until it returns a value (bounded: 600 tries 50 ms apart). */
async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const status = async (a: Agent) => (await (await fetch(`${a.http}/status`)).json()) as { release?: { id: string } };
const release = (a: Agent, id: string) => until(async () => ((await status(a)).release?.id === id ? true : undefined), `release ${id}`);

beforeAll(async () => {
  builtBinary();
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(join(work, "ipxe"));
  cpSync(join(ROOT, "test/fixtures/_valid-base"), join(work, "sot"), { recursive: true });
  writeFileSync(join(work, "sot/sites/s1/cluster-a.yml"), HOSTS(2));
  server = await linkServer(work);
  agentToken = (await server.tokens.issue({ name: "agent-s1", role: "agent", site: "s1" })).token;
  writeFileSync(join(work, "agent.token"), `${agentToken}\n`);
  writeFileSync(join(work, "far.token"), `${(await server.tokens.issue({ name: "agent-far", role: "agent", site: "far" })).token}\n`);
  writeFileSync(join(work, "viewer.token"), `${(await server.tokens.issue({ name: "viewer", role: "viewer" })).token}\n`);
});
afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("vaquero agent", () => {
  setDefaultTimeout(60_000);
  test("stages the desired bundle, switches to a new one keeping machine states, refuses one that does not match its hash", async () => {
    const r1 = await server.prepare(join(work, "sot"), "s1");
    const a = await startAgent(join(work, "data-1"), "agent.token", await freePort());
    await release(a, r1.release);
    const rec = await until(async () => {
      const r = await server.json<{ staged?: string; version?: string }>(LINK_KEYS.agent("s1", "a1"));
      return r?.staged === r1.release ? r : undefined;
    }, "the ack");
    expect(rec.version).toMatch(/^\d+\.\d+\.\d+/);
    // A machine's state survives the switch (same store, engine restarted).
    expect(
      (
        await fetch(`${a.http}/state`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ mac: "52:54:00:00:00:01", event: "failed" }),
        })
      ).status,
    ).toBe(204);
    writeFileSync(join(work, "sot/sites/s1/cluster-a.yml"), HOSTS(3));
    const r2 = await server.prepare(join(work, "sot"), "s1");
    await release(a, r2.release);
    const m1 = (await (await fetch(`${a.http}/status/machines/52:54:00:00:00:01`)).json()) as { state: string };
    expect(m1.state).toBe("failed");
    expect((await fetch(`${a.http}/status/machines/52:54:00:00:00:03`)).status).toBe(200);
    // A bundle whose bytes do not hash to its name: refused and logged, the staged one kept.
    writeFileSync(join(work, "sot/sites/s1/cluster-a.yml"), HOSTS(1));
    const r3 = await server.prepare(join(work, "sot"), "s1");
    server.tamper.set(r3.bundle, new TextEncoder().encode('{"format":1}'));
    await until(async () => (a.log().includes("bundle refused") ? true : undefined), "the refusal");
    expect(a.log()).toContain(r3.bundle);
    expect((await status(a)).release?.id).toBe(r2.release);
    server.tamper.delete(r3.bundle);
    await release(a, r3.release);
    expect(await stop(a)).toBe(0);
  });

  test("a token of another site, or of another role, is refused; the agent says why and keeps serving", async () => {
    for (const file of ["far.token", "viewer.token"]) {
      const a = await startAgent(join(work, `data-${file}`), file, await freePort(), "wrong");
      await until(async () => (a.log().includes("FORBIDDEN") ? true : undefined), `403 for ${file}`);
      expect((await fetch(`${a.http}/live`)).status).toBe(200);
      expect(await stop(a)).toBe(0);
    }
    expect(await server.json(LINK_KEYS.agent("s1", "wrong"))).toBeUndefined();
  });

  test("a rollout by command; the server down mid-rollout: the agent goes on, every buffered event arrives once; restart without the server", async () => {
    writeFileSync(join(work, "sot/sites/s1/cluster-a.yml"), HOSTS(2));
    const r = await server.prepare(join(work, "sot"), "s1");
    const dataDir = join(work, "data-2");
    const port = await freePort();
    let a = await startAgent(dataDir, "agent.token", port, "a2");
    await release(a, r.release);
    const op = (await server.tokens.issue({ name: "op", role: "operator" })).token;
    const started = await fetch(`${server.url}/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${op}` },
      body: JSON.stringify({ site: "s1", hosts: ["node-1", "node-2"], policy: { max_concurrent: 1 } }),
    });
    expect(started.status).toBe(202);
    const id = ((await started.json()) as { rollout: { id: string } }).rollout.id;
    // The agent started it and reported it under the server's id.
    await until(
      async () => ((await server.json<{ state: string }>(LINK_KEYS.rollout("s1", id)))?.state === "running" ? true : undefined),
      "rollout reported",
    );
    const mark = () => server.json<number>(LINK_KEYS.eventMark("s1", "a2"));
    const before = await until(mark, "events acked");

    // Outage: the server stops; machines keep reporting to the agent, which keeps running the rollout.
    server.stop();
    const post = (mac: string, event: string, n: number) =>
      fetch(`${a.http}/state`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ mac, event, n }),
      }).then((x) => x.status);
    for (let n = 0; n < 30; n++) expect(await post("52:54:00:00:00:01", "log", n)).toBe(204);
    expect(await post("52:54:00:00:00:01", "booted", 100)).toBe(204);
    expect(await post("52:54:00:00:00:01", "stage-done", 101)).toBe(204);
    const m = (await (await fetch(`${a.http}/status/machines/52:54:00:00:00:01`)).json()) as { state: string };
    expect(["provisioned", "powering", "booting", "installing"]).toContain(m.state);

    // Back: everything buffered arrives, once.
    server.start();
    const agentState = await until(async () => {
      const s = await server.json<{ state: string }>(LINK_KEYS.machine("s1", "52:54:00:00:00:01"));
      const local = (await (await fetch(`${a.http}/status/machines/52:54:00:00:00:01`)).json()) as { state: string };
      return s?.state === local.state && ((await mark()) ?? 0) > (before ?? 0) + 30 ? s.state : undefined;
    }, "the replay");
    expect(agentState).toBe(m.state === "provisioned" ? "provisioned" : agentState);
    expect(await stop(a)).toBe(0);

    const agentStore = await openEmbeddedStore({ path: join(dataDir, "vaquero.db"), leaseCheckMs: false });
    const last = Number(new TextDecoder().decode((await agentStore.get(OUTBOX_LAST_KEY))?.value));
    const acked = Number(new TextDecoder().decode((await agentStore.get(OUTBOX_ACKED_KEY))?.value));
    await agentStore.close();
    const events = (await server.store.range("/vaquero/sites/s1/events/a2/", { limit: 100_000 })).kvs.map(
      (kv) =>
        JSON.parse(new TextDecoder().decode(kv.value)) as { seq: number; kind: string; event?: { type: string; detail: { n?: number } } },
    );
    expect(acked).toBe(last);
    expect(await mark()).toBe(last);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const logs = events.filter((e) => e.event?.type === "log").map((e) => e.event?.detail.n);
    expect(logs).toEqual(Array.from({ length: 30 }, (_, i) => i));

    // Restarted without the server: serves its last staged bundle, machines as they were.
    server.stop();
    a = await startAgent(dataDir, "agent.token", port, "a2");
    await release(a, r.release);
    const again = (await (await fetch(`${a.http}/status/machines/52:54:00:00:00:01`)).json()) as { state: string };
    expect(again.state).toBe(m.state);
    expect(await stop(a)).toBe(0);
    server.start();
  });
});
