/**
 * `vaquero standalone`, the compiled binary, on loopback: the admin token it writes on first start, tokens issued
 * with it, a rollout started, followed, paused, resumed and cancelled over HTTP for a host without a BMC (the
 * manual driver: it waits for a person), 401/403 at the role boundaries, and all of it still there after a
 * restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-control-"));
const bin = join(work, "vaquero");

/** Every binary started here (killed by PID in afterAll if a test failed before stopping it). */
const running = new Set<Bun.Subprocess>();

/** Starts the binary and waits until it says DHCP is off (the last service it starts). */
async function start(http: number): Promise<Bun.Subprocess<"ignore", "pipe", "pipe">> {
  const p = Bun.spawn(
    [
      bin,
      "standalone",
      "--sot",
      "sot",
      "--data-dir",
      "data",
      "--http-addr",
      `127.0.0.1:${http}`,
      "--tftp-addr",
      "127.0.0.1:0",
      "--ipxe-dir",
      "ipxe",
    ],
    { cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/bin" } },
  );
  running.add(p);
  const reader = p.stderr.getReader();
  let log = "";
  for (let i = 0; i < 1000 && !log.includes('"DHCP is off'); i++) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`standalone exited: ${log}`);
    log += new TextDecoder().decode(value);
  }
  if (!log.includes('"DHCP is off')) throw new Error(`standalone did not start: ${log}`);
  // The admin token is in the file only, never in the log.
  const token = readFileSync(join(work, "data/admin.token"), "utf8").trim();
  expect(log).not.toContain(token);
  void (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  return p;
}

async function stop(p: Bun.Subprocess): Promise<number> {
  running.delete(p);
  p.kill("SIGTERM");
  return await p.exited;
}

// Building the binary takes seconds, more on a loaded machine: longer than a hook's default 5 s.
beforeAll(() => {
  const b = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(join(work, "ipxe"));
  cpSync(join(ROOT, "test/fixtures/_valid-base"), join(work, "sot"), { recursive: true });
  // Two hosts without a BMC: power is the manual driver's, which asks a person.
  writeFileSync(
    join(work, "sot/sites/s1/cluster-a.yml"),
    [
      "hosts:",
      "  - name: node-1",
      "    workflow: node",
      '    interfaces: [{mac: "52:54:00:00:00:01", subnet: prov, ipv4: 10.0.0.11}]',
      "  - name: node-2",
      "    workflow: node",
      '    interfaces: [{mac: "52:54:00:00:00:02", subnet: prov, ipv4: 10.0.0.12}]',
      "",
    ].join("\n"),
  );
}, 60_000);
afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

interface View {
  id: string;
  state: string;
  hosts: Record<string, { state: string; machine?: { state: string; reason?: string } }>;
}

describe("vaquero standalone: control endpoints", () => {
  test("admin token, tokens, a rollout driven over HTTP, role boundaries, a restart", async () => {
    const port = await freePort();
    let p = await start(port);
    const base = `http://127.0.0.1:${port}`;
    const adminPath = join(work, "data/admin.token");
    expect(statSync(adminPath).mode & 0o777).toBe(0o600);
    const admin = readFileSync(adminPath, "utf8");
    expect(admin).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    const api = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const issued: Record<string, string> = {};
    for (const role of ["operator", "viewer"]) {
      const r = await api("POST", "/tokens", admin.trim(), { name: role, role });
      expect(r.status).toBe(201);
      issued[role] = ((await r.json()) as { token: string }).token;
    }
    const op = issued.operator ?? "";
    const viewer = issued.viewer ?? "";

    const wrong = await api("GET", "/rollouts", "x".repeat(43));
    expect([wrong.status, wrong.headers.get("www-authenticate")?.startsWith("Bearer")]).toEqual([401, true]);
    expect((await fetch(`${base}/rollouts`)).status).toBe(401);
    const weak = await api("POST", "/execute", viewer, { site: "s1", hosts: ["node-1"] });
    expect([weak.status, ((await weak.json()) as { error: { code: string } }).error.code]).toEqual([403, "FORBIDDEN"]);

    const started = await api("POST", "/execute", op, { site: "s1", hosts: ["node-1", "node-2"], policy: { max_concurrent: 1 } });
    expect(started.status).toBe(202);
    const { rollout } = (await started.json()) as { rollout: View };
    expect(rollout.state).toBe("running");

    // The manual driver asks a person; the machine waits in powering with that reason.
    let view: View | undefined;
    for (let i = 0; i < 100; i++) {
      view = (await (await api("GET", `/rollouts/${rollout.id}`, viewer)).json()) as View;
      if (view.hosts["node-1"]?.machine?.reason) break;
      await Bun.sleep(50);
    }
    expect(view?.hosts["node-1"]?.machine?.state).toBe("powering");
    expect(view?.hosts["node-1"]?.machine?.reason).toStartWith("waiting for a person: set node-1 to boot from pxe");
    expect(view?.hosts["node-2"]?.state).toBe("waiting");

    for (const [action, state] of [
      ["pause", "paused"],
      ["pause", "paused"],
      ["resume", "running"],
    ]) {
      const r = await api("POST", `/rollouts/${rollout.id}/${action}`, op);
      expect([action, r.status, ((await r.json()) as View).state]).toEqual([action, 200, state]);
    }
    const status = (await (await fetch(`${base}/status`)).json()) as { role: string; rollouts: { id: string; state: string }[] };
    expect(status.role).toBe("standalone");
    expect(status.rollouts).toEqual([expect.objectContaining({ id: rollout.id, state: "running" })]);
    expect((await api("POST", `/rollouts/${rollout.id}/cancel`, viewer)).status).toBe(403);
    const cancelled = await api("POST", `/rollouts/${rollout.id}/cancel`, op);
    expect(((await cancelled.json()) as View).state).toBe("cancelled");
    expect((await api("POST", `/rollouts/${rollout.id}/cancel`, op)).status).toBe(409);
    expect(await stop(p)).toBe(0);

    // A restart keeps the tokens (the admin token file is not rewritten) and the rollout.
    p = await start(port);
    expect(readFileSync(adminPath, "utf8")).toBe(admin);
    const again = (await (await api("GET", `/rollouts/${rollout.id}`, viewer)).json()) as View;
    expect([again.state, again.hosts["node-2"]?.state]).toEqual(["cancelled", "cancelled"]);
    expect((await api("GET", "/rollouts", op)).status).toBe(200);
    expect(await stop(p)).toBe(0);
  }, 120_000);
});
