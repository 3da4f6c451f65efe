import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "../sot/index.ts";
import type { PowerControl } from "../state/index.ts";
import { type EmbeddedStore, openEmbeddedStore } from "../store/index.ts";
import {
  ADMIN_TOKEN_FILE,
  createAgentApp,
  createControlApp,
  createTokenStore,
  prepareTokens,
  type StagedSite,
  stageSite,
  TOKEN_PREFIX,
} from "./index.ts";

const ORIGIN = "http://127.0.0.1:8080";
const dir = mkdtempSync(join(tmpdir(), "vq-control-"));
const log = silentLogger();
let clock = Date.UTC(2026, 0, 1);
let store: EmbeddedStore;
let site: StagedSite;
let app: { handle(r: Request): Promise<Response> };
const tok: Record<"admin" | "operator" | "viewer", string> = { admin: "", operator: "", viewer: "" };

/** Like the manual driver: every step is an instruction for a person. */
const manual: PowerControl = {
  powerStatus: async () => "unknown",
  power: async (a) => ({ done: false, instruction: `${a} the machine` }),
  setBootDevice: async (d) => ({ done: false, instruction: `set the machine to boot from ${d} once` }),
};

function sot(): Record<string, string> {
  const files = baseSot();
  files["sites/s1/cluster-b.yml"] = [
    "hosts:",
    "  - name: node-2",
    "    workflow: node",
    '    interfaces: [{mac: "52:54:00:00:00:02", subnet: prov, ipv4: 10.0.0.12}]',
    "  - name: node-3",
    "    workflow: node",
    "    never_provision: true",
    '    interfaces: [{mac: "52:54:00:00:00:03", subnet: prov, ipv4: 10.0.0.13}]',
    "",
  ].join("\n");
  return files;
}

beforeAll(async () => {
  const r = await compileTree(memTree(sot()));
  const bundle = r.sites.get("s1")?.bundle;
  if (!bundle) throw new Error(`no bundle: ${JSON.stringify(r.findings)}`);
  store = await openEmbeddedStore({ path: join(dir, "vaquero.db") });
  const now = (): number => clock;
  site = stageSite(bundle, "rel-1", () => new Date(clock), { store, power: () => manual, now, tickMs: false });
  await site.engine.start();
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { mode: 0o700 });
  const { tokens } = await prepareTokens({ store, dataDir, log, now });
  tok.admin = readFileSync(join(dataDir, ADMIN_TOKEN_FILE), "utf8").trim();
  app = createAgentApp({ site: () => site, log, role: "standalone", bootRate: 0 }).use(createControlApp({ site: () => site, tokens, log }));
});
afterAll(async () => {
  await site.engine.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown> & { error?: { code: string; message: string } };
const call = async (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const h: Record<string, string> = { ...headers };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  const init: RequestInit = { method, headers: h };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await app.handle(new Request(`${ORIGIN}${path}`, init));
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : {}) as Json };
};
const code = (r: { json: Json }) => r.json.error?.code;

interface View {
  id: string;
  state: string;
  reason?: string;
  counts: Record<string, number>;
  hosts: Record<string, { state: string; machine?: { state: string; reason?: string } }>;
}

describe("tokens", () => {
  test("the admin issues an operator and a viewer token, shown once; a taken name is 409", async () => {
    for (const role of ["operator", "viewer"] as const) {
      const r = await call("POST", "/tokens", tok.admin, { name: `t-${role}`, role, site: "s1" });
      expect(r.status).toBe(201);
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.json).toMatchObject({ name: `t-${role}`, role, site: "s1" });
      tok[role] = String(r.json.token);
      expect(tok[role]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    const dup = await call("POST", "/tokens", tok.admin, { name: "t-viewer", role: "viewer" });
    expect([dup.status, code(dup)]).toEqual([409, "TOKEN_EXISTS"]);
  });
  test("only the admin issues tokens; bodies are checked", async () => {
    const op = await call("POST", "/tokens", tok.operator, { name: "x", role: "admin" });
    expect([op.status, code(op)]).toEqual([403, "FORBIDDEN"]);
    expect(op.json.error?.message).toContain("needs the admin role");
    expect(code(await call("POST", "/tokens", tok.admin, { name: "x", role: "root" }))).toBe("BODY_INVALID");
    expect(code(await call("POST", "/tokens", tok.admin, { name: "x", role: "agent" }))).toBe("BODY_INVALID");
    expect(code(await call("POST", "/tokens", tok.admin, { name: "x", role: "viewer", site: "s9" }))).toBe("SITE_UNKNOWN");
    const extra = await call("POST", "/tokens", tok.admin, { name: "x", role: "viewer", token: "mine" });
    expect(extra.json.error?.message).toBe('/tokens: unknown field "token"');
    expect(code(await call("POST", "/tokens", tok.admin, { name: "Bad Name", role: "viewer" }))).toBe("BODY_INVALID");
  });
  test("tokens from --tokens-file: POST /tokens is refused", async () => {
    const managed = createControlApp({ site: () => site, tokens: createTokenStore(store), tokensManaged: true, log });
    const res = await managed.handle(
      new Request(`${ORIGIN}/tokens`, { method: "POST", headers: { authorization: `Bearer ${tok.admin}` }, body: "{}" }),
    );
    expect(res.status).toBe(409);
  });
});

describe("role boundaries", () => {
  test("no token, a wrong token, a deleted token: 401 with a Bearer challenge", async () => {
    const none = await call("GET", "/rollouts");
    expect([none.status, code(none), none.headers.get("www-authenticate")]).toEqual([401, "UNAUTHORIZED", 'Bearer realm="vaquero"']);
    const wrong = await call("POST", "/execute", "not-a-token", { site: "s1", hosts: ["node-1"] });
    expect([wrong.status, code(wrong)]).toEqual([401, "UNAUTHORIZED"]);
    const { token } = await createTokenStore(store).issue({ name: "gone", role: "operator" });
    expect((await call("GET", "/rollouts", token)).status).toBe(200);
    await store.delete(`${TOKEN_PREFIX}gone`);
    expect((await call("GET", "/rollouts", token)).status).toBe(401);
  });
  test("a viewer reads but cannot execute or steer; an agent token reads nothing", async () => {
    expect((await call("GET", "/rollouts", tok.viewer)).status).toBe(200);
    const ex = await call("POST", "/execute", tok.viewer, { site: "s1", hosts: ["node-1"] });
    expect([ex.status, ex.json.error?.message]).toEqual([403, 'this needs the operator role (or higher); token "t-viewer" has viewer']);
    expect((await call("POST", "/rollouts/r-1-1/pause", tok.viewer)).status).toBe(403);
    const { token: agent } = await createTokenStore(store).issue({ name: "agent-1", role: "agent", site: "s1" });
    expect((await call("GET", "/rollouts", agent)).status).toBe(403);
    const { token: other } = await createTokenStore(store).issue({ name: "other-site", role: "admin", site: "s2" });
    expect((await call("GET", "/rollouts", other)).status).toBe(403);
  });
  test("status, health and boot endpoints stay open", async () => {
    for (const path of ["/status", "/status/machines", "/status/machines/52:54:00:00:00:01", "/live", "/ready", "/metrics", "/boot.ipxe"]) {
      expect([path, (await app.handle(new Request(`${ORIGIN}${path}`))).status]).toEqual([path, 200]);
    }
  });
});

describe("rollouts", () => {
  let id = "";
  test("POST /execute starts a rollout: 202 with per-host and machine state", async () => {
    clock += 1000;
    const r = await call("POST", "/execute", tok.operator, { site: "s1", hosts: ["node-1", "node-2"], policy: { max_concurrent: 1 } });
    expect(r.status).toBe(202);
    const v = r.json.rollout as View;
    id = v.id;
    expect(v.state).toBe("running");
    expect(v.counts).toMatchObject({ running: 1, waiting: 1 });
    expect(v.hosts["node-1"]?.state).toBe("running");
    expect(v.hosts["node-2"]?.state).toBe("waiting");
    await site.engine.flush();
    const one = (await call("GET", `/rollouts/${id}`, tok.viewer)).json as unknown as View;
    expect(one.hosts["node-1"]?.machine).toMatchObject({
      state: "powering",
      reason: "waiting for a person: set the machine to boot from pxe once",
    });
    expect(one.hosts["node-2"]?.machine?.state).toBe("pending");
  });
  test("a host already in a running rollout: 409 ROLLOUT_BUSY", async () => {
    const r = await call("POST", "/execute", tok.operator, { site: "s1", hosts: ["node-2"] });
    expect([r.status, code(r)]).toEqual([409, "ROLLOUT_BUSY"]);
  });
  test("pause and resume are idempotent; cancel ends it; a second cancel is 409", async () => {
    for (const [action, state] of [
      ["pause", "paused"],
      ["pause", "paused"],
      ["resume", "running"],
      ["resume", "running"],
      ["cancel", "cancelled"],
    ] as const) {
      const r = await call("POST", `/rollouts/${id}/${action}`, tok.operator);
      expect([action, r.status, (r.json as unknown as View).state]).toEqual([action, 200, state]);
    }
    const v = (await call("GET", `/rollouts/${id}`, tok.viewer)).json as unknown as View;
    expect(v.reason).toBe("cancelled by an operator");
    expect(v.hosts["node-2"]?.state).toBe("cancelled");
    const again = await call("POST", `/rollouts/${id}/cancel`, tok.operator);
    expect([again.status, code(again)]).toEqual([409, "ROLLOUT_STATE"]);
    expect(code(await call("POST", `/rollouts/${id}/resume`, tok.operator))).toBe("ROLLOUT_STATE");
  });
  test("unknown rollouts are 404", async () => {
    for (const path of ["/rollouts/r-nope-1", "/rollouts/..%2F..", `/rollouts/${"x".repeat(300)}`]) {
      const r = await call("GET", path, tok.viewer);
      expect([r.status, code(r)]).toEqual([404, "ROLLOUT_UNKNOWN"]);
    }
    expect(code(await call("POST", "/rollouts/r-nope-1/pause", tok.operator))).toBe("ROLLOUT_UNKNOWN");
  });
  test("changed: true takes every host but never_provision ones (node-1 is free again: its rollout was cancelled)", async () => {
    clock += 1000;
    const r = await call("POST", "/execute", tok.operator, {
      site: "s1",
      changed: true,
      policy: { max_concurrent: 0, min_standing: null },
    });
    expect(r.status).toBe(202);
    const v = r.json.rollout as View;
    expect(Object.keys(v.hosts)).toEqual(["node-1", "node-2"]);
  });
  test("GET /rollouts lists newest first; /status shows them with its role", async () => {
    const list = (await call("GET", "/rollouts", tok.viewer)).json as { rollouts: View[] };
    expect(list.rollouts.map((r) => r.state)).toEqual(["running", "cancelled"]);
    expect(list.rollouts[1]?.id).toBe(id);
    expect(list.rollouts[0]).not.toHaveProperty("hosts");
    const running = (await call("GET", "/rollouts?state=cancelled&limit=5", tok.viewer)).json as { rollouts: View[] };
    expect(running.rollouts.map((r) => r.id)).toEqual([id]);
    const status = (await call("GET", "/status")).json as { role: string; rollouts: Omit<View, "hosts">[] };
    expect(status.role).toBe("standalone");
    expect(status.rollouts.map((r) => r.state)).toEqual(["cancelled", "running"]);
    expect(status.rollouts[0]).toEqual({ id, state: "cancelled", reason: "cancelled by an operator", counts: expect.any(Object) });
  });
});

describe("hostile input", () => {
  const exec = (body: unknown, headers: Record<string, string> = {}) => call("POST", "/execute", tok.operator, body, headers);
  test("a 10 MB body is 413, declared or not", async () => {
    const big = JSON.stringify({ site: "s1", hosts: ["x".repeat(10 * 1024 * 1024)] });
    expect(code(await exec(big))).toBe("BODY_TOO_LARGE");
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 160; i++) c.enqueue(new Uint8Array(64 * 1024).fill(32));
        c.close();
      },
    });
    const res = await app.handle(
      new Request(`${ORIGIN}/execute`, { method: "POST", headers: { authorization: `Bearer ${tok.operator}` }, body: stream }),
    );
    expect(res.status).toBe(413);
  });
  test("not JSON, not an object, empty: 400 BODY_INVALID with the reason", async () => {
    const bad = await exec("{site: s1");
    expect([bad.status, code(bad)]).toEqual([400, "BODY_INVALID"]);
    expect(bad.json.error?.message).toStartWith("/execute wants a JSON object: ");
    expect((await exec("")).json.error?.message).toBe("/execute wants a JSON object: the body is empty");
    expect((await exec("[1]")).json.error?.message).toBe("/execute: the body must be a JSON object");
    expect(code(await exec("null"))).toBe("BODY_INVALID");
  });
  test("wrong types and unknown fields name the field", async () => {
    const cases: [unknown, string][] = [
      [{ site: 1, hosts: ["node-1"] }, '/execute: field "site": site must be a string'],
      [{ site: "s1", hosts: "node-1" }, '/execute: field "hosts": hosts must be a list of host names'],
      [{ site: "s1", changed: "yes" }, '/execute: field "changed": changed may only be true'],
      [{ site: "s1", changed: true, policy: { max_fail: -1 } }, '/execute: field "policy.max_fail": max_fail must be 0 or more'],
      [
        { site: "s1", changed: true, policy: { max_concurrent: 1.5 } },
        '/execute: field "policy.max_concurrent": max_concurrent must be an integer',
      ],
      [{ site: "s1", changed: true, policy: { parallel: 3 } }, '/execute: unknown field "policy.parallel"'],
      [{ site: "s1", changed: true, policy: { after: ["x"] } }, '/execute: unknown field "policy.after"'],
      [{ site: "s1", changed: true, force: true }, '/execute: unknown field "force"'],
      [{ site: "s1", hosts: ["node-1"], changed: true }, "/execute: give exactly one of hosts (host names) or changed: true"],
      [{ site: "s1" }, "/execute: give exactly one of hosts (host names) or changed: true"],
    ];
    for (const [body, message] of cases) {
      const r = await exec(body);
      expect([r.status, r.json.error?.message]).toEqual([400, message]);
    }
  });
  test("another site is 404 SITE_UNKNOWN, quoted", async () => {
    const r = await exec({ site: "s2\u001b[31m", hosts: ["node-1"] });
    expect([r.status, code(r)]).toEqual([404, "SITE_UNKNOWN"]);
    expect(r.json.error?.message).toBe('site "s2\\u001b[31m" is not served here (this serves "s1")');
  });
  test("200 unknown hosts, an empty list, a name with control characters", async () => {
    const many = await exec({ site: "s1", hosts: Array.from({ length: 200 }, (_, i) => `ghost-${i}`) });
    expect([many.status, code(many)]).toEqual([400, "ROLLOUT_HOST_UNKNOWN"]);
    expect(many.json.error?.message.split(", ").length).toBe(20);
    const empty = await exec({ site: "s1", hosts: [] });
    expect([empty.status, code(empty)]).toEqual([400, "ROLLOUT_EMPTY"]);
    const ctl = await exec({ site: "s1", hosts: ["node-1", "node\u0000-2\n"] });
    expect([ctl.status, ctl.json.error?.message]).toEqual([
      400,
      '/execute: field "hosts.1": is not a host name ([a-z0-9][a-z0-9._-]{0,62})',
    ]);
  });
});

describe("OpenAPI", () => {
  test("the control routes are described, with tags, summaries and the bearer scheme", async () => {
    const doc = (await (await app.handle(new Request(`${ORIGIN}/openapi/json`))).json()) as {
      paths: Record<string, Record<string, { tags?: string[]; summary?: string; security?: unknown }>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    };
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    for (const [path, method, tag] of [
      ["/execute", "post", "rollouts"],
      ["/rollouts", "get", "rollouts"],
      ["/rollouts/{id}", "get", "rollouts"],
      ["/rollouts/{id}/pause", "post", "rollouts"],
      ["/rollouts/{id}/resume", "post", "rollouts"],
      ["/rollouts/{id}/cancel", "post", "rollouts"],
      ["/tokens", "post", "tokens"],
    ] as const) {
      const op = doc.paths[path]?.[method];
      expect([path, op?.tags, typeof op?.summary, op?.security]).toEqual([path, [tag], "string", [{ bearer: [] }]]);
    }
  });
});

describe("changed: true with the staged release's changes known", () => {
  test("only the hosts the release changed; none changed → ROLLOUT_EMPTY", async () => {
    const r = await compileTree(memTree(sot()));
    const bundle = r.sites.get("s1")?.bundle;
    if (!bundle) throw new Error("no bundle");
    const s = stageSite(bundle, "rel-2", () => new Date(clock), { power: () => manual, now: () => clock, tickMs: false });
    await s.engine.start();
    const tokens = createTokenStore(store);
    let changed: string[] = ["node-2"];
    const a = createControlApp({ site: () => s, tokens, log, changedHosts: async () => changed });
    const exec = (body: unknown) =>
      a.handle(
        new Request("http://localhost/execute", {
          method: "POST",
          headers: { authorization: `Bearer ${tok.admin}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      );
    const first = await exec({ site: "s1", changed: true });
    expect(first.status).toBe(202);
    expect(Object.keys(((await first.json()) as { rollout: View }).rollout.hosts)).toEqual(["node-2"]);
    changed = [];
    const none = await exec({ site: "s1", changed: true });
    expect([none.status, ((await none.json()) as Json).error?.code]).toEqual([400, "ROLLOUT_EMPTY"]);
    await s.engine.stop();
  });
});
