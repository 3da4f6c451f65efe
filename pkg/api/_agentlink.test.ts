import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createLink, LINK_KEYS, putBundle } from "../control/index.ts";
import { encodeJson, openEmbeddedStore, type Store } from "../store/index.ts";
import { createAgentLinkApp } from "./_agentlink.ts";
import { createTokenStore } from "./_tokens.ts";

const log = silentLogger();
const dirs: string[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const d = mkdtempSync(join(tmpdir(), "vq-agentlink-"));
  dirs.push(d);
  const store: Store = await openEmbeddedStore({ path: join(d, "vaquero.db"), leaseCheckMs: false });
  closers.push(() => store.close());
  const tokens = createTokenStore(store);
  const lab = (await tokens.issue({ name: "agent-lab", role: "agent", site: "lab" })).token;
  const far = (await tokens.issue({ name: "agent-far", role: "agent", site: "far" })).token;
  const op = (await tokens.issue({ name: "op", role: "operator" })).token;
  const viewer = (await tokens.issue({ name: "viewer", role: "viewer" })).token;
  const link = createLink({ store });
  closers.push(() => link.close());
  const app = createAgentLinkApp({ store, tokens, log, link });
  const call = (path: string, token: string | undefined, init: RequestInit = {}) =>
    app.handle(
      new Request(`http://127.0.0.1${path}`, {
        ...init,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) },
      }),
    );
  return { store, app, call, lab, far, op, viewer };
}

describe("agent link routes", () => {
  test("agent tokens only, each on its own site", async () => {
    const { call, lab, far, op } = await setup();
    const body = JSON.stringify({ site: "lab", name: "a1", version: "0.1.0" });
    expect((await call("/v1/agent/register", undefined, { method: "POST", body })).status).toBe(401);
    expect((await call("/v1/agent/register", op, { method: "POST", body })).status).toBe(403);
    const wrong = await call("/v1/agent/register", far, { method: "POST", body });
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    expect((await call("/v1/agent/desired?site=lab&wait=0s", far)).status).toBe(403);
    const ok = await call("/v1/agent/register", lab, { method: "POST", body });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ site: "lab" });
  });

  test("malformed JSON, a wrong shape and a huge events body are refused with their codes", async () => {
    const { call, lab } = await setup();
    const bad = await call("/v1/agent/events", lab, { method: "POST", body: "[{" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("BODY_INVALID");
    expect((await call("/v1/agent/events", lab, { method: "POST", body: '{"seq":1}' })).status).toBe(400);
    expect((await call("/v1/agent/events", lab, { method: "POST", body: '[{"seq":0,"at":"x","kind":"event","event":{}}]' })).status).toBe(
      400,
    );
    const many = JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ seq: i + 1, at: "t", kind: "event", event: {} })));
    expect((await call("/v1/agent/events", lab, { method: "POST", body: many })).status).toBe(413);
    const huge = `[${"1,".repeat(5 * 1024 * 1024)}1]`;
    expect((await call("/v1/agent/events", lab, { method: "POST", body: huge })).status).toBe(413);
    const fine = JSON.stringify([{ seq: 1, at: "t", kind: "machine", machine: { mac: "52:54:00:00:00:01", state: "booting" } }]);
    const r = await call("/v1/agent/events", lab, { method: "POST", body: fine, headers: { "vaquero-agent": "a1" } });
    expect(await r.json()).toEqual({ acked: 1 });
  });

  test("bundles: the desired one by hash; another site's is not found", async () => {
    const { store, call, lab, far } = await setup();
    const bytes = new TextEncoder().encode('{"format":1}');
    const { manifest } = await putBundle(store, bytes);
    await store.put(LINK_KEYS.desired("lab"), encodeJson({ release: "r1", bundle: manifest.sha256, staged_at: "t" }));
    const r = await call(`/v1/agent/bundles/${manifest.sha256}`, lab);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('{"format":1}');
    expect((await call(`/v1/agent/bundles/${manifest.sha256}`, far)).status).toBe(404);
    expect((await call("/v1/agent/bundles/nothex", lab)).status).toBe(404);
  });

  test("execute and rollout control become site commands on the poll; GET /rollouts/<id> shows what the agent reported", async () => {
    const { store, call, lab, op, viewer } = await setup();
    const exec = (token: string) =>
      call("/execute", token, { method: "POST", body: JSON.stringify({ site: "lab", hosts: ["node-1"], policy: { max_concurrent: 1 } }) });
    expect((await exec(viewer)).status).toBe(403);
    expect((await exec(op)).status).toBe(404);
    await store.put(LINK_KEYS.desired("lab"), encodeJson({ release: "r1", bundle: "b".repeat(64), staged_at: "t" }));
    const started = await exec(op);
    expect(started.status).toBe(202);
    const { rollout } = (await started.json()) as { rollout: { id: string; state: string } };
    expect(rollout.state).toBe("requested");
    expect((await call(`/rollouts/${rollout.id}/pause`, op, { method: "POST" })).status).toBe(202);
    expect((await call("/rollouts/r-nope/pause", op, { method: "POST" })).status).toBe(404);
    const poll = (await (await call(`/v1/agent/desired?after=${"b".repeat(64)}&commands_after=0&wait=1s`, lab)).json()) as {
      commands: { seq: number; kind: string; rollout: string; hosts?: string[] }[];
    };
    expect(poll.commands.map((c) => [c.seq, c.kind, c.rollout])).toEqual([
      [1, "execute", rollout.id],
      [2, "pause", rollout.id],
    ]);
    expect(poll.commands[0]?.hosts).toEqual(["node-1"]);
    expect(await (await call(`/rollouts/${rollout.id}`, viewer)).json()).toEqual({ id: rollout.id, site: "lab", state: "requested" });
    const report = [{ seq: 1, at: "t", kind: "rollout", rollout: { id: rollout.id, state: "paused" } }];
    await call("/v1/agent/events", lab, { method: "POST", body: JSON.stringify(report) });
    expect(((await (await call(`/rollouts/${rollout.id}`, viewer)).json()) as { state: string }).state).toBe("paused");
  });
});
