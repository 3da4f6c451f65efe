/**
 * `vaquero server`, the compiled binary, on loopback against a real git server (git http-backend): a commit
 * pushed and announced by a signed GitHub-style webhook becomes a stored release with a bundle per site; a second
 * commit changing one host lists exactly that host as changed; /prepare stages it and /status shows it. Refused:
 * unsigned and wrongly signed deliveries (401), a replayed delivery (nothing re-run), another repository or
 * branch (ignored), a 10 MB body (413), a commit that fails validation (stored rejected; /prepare 409), a token of
 * too weak a role (403).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { commitAll, git } from "./_helpers/git.ts";
import { type GitHttpServer, startGitHttp } from "./_helpers/git-http.ts";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-server-"));
const bin = join(work, "vaquero");
const src = join(work, "src");
const SECRET = "a-webhook-secret-of-some-length";
let gitServer: GitHttpServer;
let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;

const hosts = (ip2: string, extra = "") =>
  [
    "hosts:",
    "  - name: node-1",
    "    workflow: node",
    '    interfaces: [{mac: "52:54:00:00:00:01", subnet: prov, ipv4: 10.0.0.11}]',
    "  - name: node-2",
    "    workflow: node",
    `    interfaces: [{mac: "52:54:00:00:00:02", subnet: prov, ipv4: ${ip2}}]`,
    extra,
  ].join("\n");

/** Commits the work tree and pushes it to the served bare repository; returns the commit. */
function push(message: string): string {
  const sha = commitAll(src, message);
  git(src, "push", "-q", "--force", join(work, "served/sot.git"), "HEAD:refs/heads/main");
  return sha;
}

beforeAll(async () => {
  builtBinary();
  cpSync(join(ROOT, "dist/vaquero"), bin);
  cpSync(join(ROOT, "test/fixtures/_valid-base"), src, { recursive: true });
  // A second site, so a release has two bundles and a change in one site leaves the other's alone.
  cpSync(join(src, "sites/s1"), join(src, "sites/s2"), { recursive: true });
  writeFileSync(join(src, "sites/s2/env.yml"), readFileSync(join(src, "sites/s2/env.yml"), "utf8").replace("id: s1", "id: s2"));
  writeFileSync(join(src, "sites/s1/cluster-a.yml"), hosts("10.0.0.12"));
  writeFileSync(join(src, "sites/s2/cluster-a.yml"), hosts("10.0.0.12").replaceAll("node-", "web-").replaceAll(":00:0", ":01:0"));
  commitAll(src, "first");
  mkdirSync(join(work, "served"));
  git(work, "init", "-q", "--bare", "served/sot.git");
  push("first");
  gitServer = await startGitHttp(join(work, "served"));
  writeFileSync(join(work, "secret"), `${SECRET}\n`);
});
afterAll(async () => {
  if (proc) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
  await gitServer?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Release {
  id: string;
  status: string;
  commit: string;
  findings: { code: string }[];
  sites: Record<string, { bundle: string; hosts: number; hosts_changed: string[] }>;
}

describe("vaquero server", () => {
  test("webhook → release → prepare → status; bad deliveries refused", async () => {
    const port = await freePort();
    const sotUrl = `${gitServer.url}/sot.git`;
    proc = Bun.spawn(
      [
        bin,
        "server",
        "--sot",
        sotUrl,
        "--ref",
        "main",
        "--data-dir",
        "data",
        "--http-addr",
        `127.0.0.1:${port}`,
        "--webhook-secret-file",
        "secret",
      ],
      { cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } },
    );
    const reader = proc.stderr.getReader();
    let log = "";
    // The start: listening, then the branch's tip compiled.
    for (let i = 0; i < 1000 && !log.includes('"release stored"'); i++) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server exited: ${log}`);
      log += new TextDecoder().decode(value);
    }
    expect(log).toContain('"release stored"');
    void (async () => {
      for (;;) if ((await reader.read()).done) return;
    })();
    const base = `http://127.0.0.1:${port}`;
    const admin = readFileSync(join(work, "data/admin.token"), "utf8").trim();
    expect(log).not.toContain(admin);
    const api = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const tokens: Record<string, string> = {};
    for (const role of ["operator", "viewer"]) {
      const r = await api("POST", "/tokens", admin, { name: role, role });
      expect(r.status).toBe(201);
      tokens[role] = ((await r.json()) as { token: string }).token;
    }
    const op = tokens.operator ?? "";
    const viewer = tokens.viewer ?? "";

    let deliveries = 0;
    const payload = (after: string, over: Record<string, unknown> = {}) =>
      JSON.stringify({ ref: "refs/heads/main", after, repository: { clone_url: sotUrl, full_name: "infra/sot" }, ...over });
    const hook = (body: string | Uint8Array, o: { secret?: string; delivery?: string; sign?: boolean } = {}) => {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": o.delivery ?? `d-${++deliveries}`,
      };
      if (o.sign !== false)
        headers["x-hub-signature-256"] = `sha256=${createHmac("sha256", o.secret ?? SECRET)
          .update(bytes)
          .digest("hex")}`;
      return fetch(`${base}/postreceive`, { method: "POST", headers, body: bytes });
    };

    // A commit announced by a signed delivery: 202 once the release is stored, with a bundle per site.
    writeFileSync(
      join(src, "sites/s1/cluster-a.yml"),
      hosts(
        "10.0.0.12",
        '  - name: node-3\n    workflow: node\n    interfaces: [{mac: "52:54:00:00:00:03", subnet: prov, ipv4: 10.0.0.13}]\n',
      ),
    );
    const c2 = push("node-3");
    const r2 = await hook(payload(c2), { delivery: "delivery-c2" });
    expect(r2.status).toBe(202);
    const b2 = (await r2.json()) as { release: string };
    expect(b2.release).toBe(c2);
    const rel2 = (await (await api("GET", `/releases/${c2}`, viewer)).json()) as Release;
    expect(rel2.status).toBe("valid");
    expect(Object.keys(rel2.sites)).toEqual(["s1", "s2"]);
    for (const s of Object.values(rel2.sites)) expect(s.bundle).toMatch(/^[0-9a-f]{64}$/);
    expect(rel2.sites.s1?.hosts_changed).toEqual(["node-3"]);
    expect(rel2.sites.s2?.hosts_changed).toEqual([]);

    // A second commit changing one host: exactly that host.
    writeFileSync(
      join(src, "sites/s1/cluster-a.yml"),
      hosts(
        "10.0.0.42",
        '  - name: node-3\n    workflow: node\n    interfaces: [{mac: "52:54:00:00:00:03", subnet: prov, ipv4: 10.0.0.13}]\n',
      ),
    );
    const c3 = push("node-2 moves");
    const r3 = await hook(payload(c3));
    expect(r3.status).toBe(202);
    const rel3 = (await (await api("GET", `/releases/${c3}`, viewer)).json()) as Release;
    expect(rel3.sites.s1?.hosts_changed).toEqual(["node-2"]);
    expect(rel3.sites.s2?.hosts_changed).toEqual([]);
    expect(rel3.sites.s2?.bundle).toBe(rel2.sites.s2?.bundle ?? "");
    const list = (await (await api("GET", "/releases", viewer)).json()) as { releases: { id: string }[] };
    expect(list.releases.map((r) => r.id).slice(0, 2)).toEqual([c3, c2]);

    // Prepare: a viewer may not; an operator stages it on every site; /status shows it.
    const weak = await api("POST", "/prepare", viewer, { release: c3 });
    expect([weak.status, ((await weak.json()) as { error: { code: string } }).error.code]).toEqual([403, "FORBIDDEN"]);
    const prep = await api("POST", "/prepare", op, { release: c3 });
    expect(prep.status).toBe(202);
    const status = (await (await api("GET", "/status", viewer)).json()) as {
      role: string;
      sites: { id: string; desired?: { release: string; bundle: string } }[];
    };
    expect(status.role).toBe("single");
    expect(status.sites.map((s) => [s.id, s.desired?.release, s.desired?.bundle])).toEqual([
      ["s1", c3, rel3.sites.s1?.bundle],
      ["s2", c3, rel3.sites.s2?.bundle],
    ]);
    expect((await api("GET", "/status/sites/s1", viewer)).status).toBe(200);
    expect((await api("POST", "/prepare", op, { release: "f".repeat(40) })).status).toBe(404);
    expect((await api("POST", "/prepare", op, { release: c3, sites: ["nope"] })).status).toBe(404);

    // Refused and ignored deliveries.
    const unsigned = await hook(payload(c3), { sign: false });
    expect([unsigned.status, ((await unsigned.json()) as { error: { code: string } }).error.code]).toEqual([401, "WEBHOOK_SIGNATURE"]);
    expect((await hook(payload(c3), { secret: "another-secret-entirely" })).status).toBe(401);
    const bytes = new TextEncoder().encode(payload(c3));
    const sig = `sha256=${createHmac("sha256", SECRET).update(bytes).digest("hex")}`;
    bytes[5] = (bytes[5] ?? 0) ^ 1;
    const flipped = await fetch(`${base}/postreceive`, { method: "POST", headers: { "x-hub-signature-256": sig }, body: bytes });
    expect(flipped.status).toBe(401);
    const replay = await hook(payload(c2), { delivery: "delivery-c2" });
    expect([replay.status, await replay.json()]).toEqual([200, { release: c2, status: "valid", duplicate: true }]);
    const otherRepo = await hook(payload(c3, { repository: { clone_url: `${gitServer.url}/other.git`, full_name: "infra/other" } }));
    expect(otherRepo.status).toBe(200);
    expect(((await otherRepo.json()) as { ignored: string }).ignored).toContain("is not --sot");
    const otherBranch = await hook(payload(c3, { ref: "refs/heads/dev" }));
    expect(((await otherBranch.json()) as { ignored: string }).ignored).toContain("refs/heads/main");
    const huge = await hook(`{"x": "${"a".repeat(10 * 1024 * 1024)}"}`);
    expect(huge.status).toBe(413);

    // A commit that fails validation: stored rejected with its findings; it cannot be prepared.
    writeFileSync(join(src, "sites/s1/cluster-a.yml"), hosts("10.0.0.42").replace("workflow: node", "workflow: missing"));
    const c4 = push("broken");
    const r4 = await hook(payload(c4));
    expect([r4.status, await r4.json()]).toEqual([202, { release: c4, status: "rejected" }]);
    const rel4 = (await (await api("GET", `/releases/${c4}`, viewer)).json()) as Release;
    expect(rel4.status).toBe("rejected");
    expect(rel4.findings.length).toBeGreaterThan(0);
    expect(rel4.sites).toEqual({});
    const bad = await api("POST", "/prepare", op, { release: c4 });
    expect([bad.status, ((await bad.json()) as { error: { code: string } }).error.code]).toEqual([409, "RELEASE_REJECTED"]);

    // Unauthenticated reads, health, metrics, OpenAPI.
    expect((await fetch(`${base}/releases`)).status).toBe(401);
    expect((await fetch(`${base}/live`)).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain("vaquero_releases_published_total 4");
    expect((await fetch(`${base}/openapi/json`)).status).toBe(200);
    // The agent link is mounted beside: it wants an agent token.
    expect((await fetch(`${base}/v1/agent/register`, { method: "POST", body: "{}" })).status).toBe(401);

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    proc = undefined;
  }, 120_000);
});
