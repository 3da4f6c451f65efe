/**
 * `vaquero standalone`, the compiled binary, following a local git repository: with `--sot-poll 1s` a new commit
 * becomes a release in `/releases` (hosts_changed: the one host it changed), is staged in-process and served (the
 * host's boot script changes) while the other machines keep their states; a commit that does not validate is
 * stored rejected and the previous release keeps being served. With `--webhook-secret-file` and `--auto-execute`, a
 * signed push stores the release, stages it and rolls out the host it changed; a rejected tip refuses the next
 * start with exit 1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-poll-"));
const bin = join(work, "vaquero");
const MAC1 = "52:54:00:00:00:01";
const MAC2 = "52:54:00:00:00:02";
const SECRET = "a-webhook-secret-of-some-length";

/** Every binary started here (killed by PID in afterAll if a test failed before stopping it). */
const running = new Set<Bun.Subprocess>();

/** The inventory: two hosts without a BMC (the manual driver), each with a `build` its kernel command line shows. */
function inventory(build1: string, build2: string): string {
  const host = (n: number, build: string) => [
    `  - name: node-${n}`,
    "    workflow: node",
    `    metadata: {build: "${build}"}`,
    `    interfaces: [{mac: "52:54:00:00:00:0${n}", subnet: prov, ipv4: 10.0.0.1${n}}]`,
  ];
  return ["hosts:", ...host(1, build1), ...host(2, build2), ""].join("\n");
}

function git(dir: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

/** A git repository on branch main holding the base SoT with {@link inventory}; returns its path. */
function makeRepo(name: string): string {
  const dir = join(work, name);
  cpSync(join(ROOT, "test/fixtures/_valid-base"), dir, { recursive: true });
  const os = readFileSync(join(dir, "os/flatcar.yml"), "utf8");
  writeFileSync(join(dir, "os/flatcar.yml"), os.replace("cmdline:\n", 'cmdline:\n  vaquero.build: "{{ host.metadata.build }}"\n'));
  writeFileSync(join(dir, "sites/s1/cluster-a.yml"), inventory("1", "1"));
  git(dir, "init", "-q", "-b", "main");
  commit(dir, "first");
  return dir;
}

function commit(dir: string, msg: string): string {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", msg);
  return git(dir, "rev-parse", "HEAD");
}

/** Starts the binary and waits for its "standalone running" line (or its exit). */
async function start(args: string[]) {
  const p = Bun.spawn([bin, "standalone", "--tftp-addr", "127.0.0.1:0", "--ipxe-dir", "ipxe", ...args], {
    cwd: work,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/bin" },
  });
  running.add(p);
  const reader = p.stderr.getReader();
  let log = "";
  for (let i = 0; i < 1000 && !log.includes('"standalone running"'); i++) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`standalone exited: ${log}`);
    log += new TextDecoder().decode(value);
  }
  if (!log.includes('"standalone running"')) throw new Error(`standalone did not start: ${log}`);
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

/** Asks `probe` up to 200 times, 100 ms apart, until it returns a value; fails with `what` otherwise. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await Bun.sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface Release {
  id: string;
  status: string;
  previous?: string;
  findings: unknown[];
  sites: Record<string, { hosts_changed: string[] }>;
}

function client(port: number, dataDir: string) {
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${readFileSync(join(work, dataDir, "admin.token"), "utf8").trim()}` };
  const json = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const r = await fetch(base + path, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
    return (await r.json()) as T;
  };
  return {
    base,
    json,
    releases: async () => (await json<{ releases: { id: string; status: string }[] }>("/releases")).releases,
    release: (id: string) => json<Release>(`/releases/${id}`),
    status: () => json<{ role: string; release: { id: string }; rollouts: { id: string }[] }>("/status"),
    script: async (mac: string) => await (await fetch(`${base}/boot.ipxe?mac=${mac}`)).text(),
    machine: async (mac: string) => (await json<{ state: string }>(`/status/machines/${mac}`)).state,
  };
}

// Building the binary takes seconds, more on a loaded machine: longer than a hook's default 5 s.
beforeAll(() => {
  const b = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(join(work, "ipxe"));
}, 60_000);
afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe("vaquero standalone follows its SoT", () => {
  test("--sot-poll: a new commit is released, staged and served; states are kept; a bad commit is stored rejected", async () => {
    const repo = makeRepo("sot-poll");
    const port = await freePort();
    const p = await start(["--sot", "sot-poll", "--data-dir", "data-poll", "--http-addr", `127.0.0.1:${port}`, "--sot-poll", "1s"]);
    const c = client(port, "data-poll");
    const [r1] = await c.releases();
    expect(r1?.status).toBe("valid");
    expect((await c.status()).release.id).toBe(r1?.id ?? "");
    const before = await c.script(MAC1);
    expect(before).toContain("vaquero.build=1");
    // node-2 boots into its install: its state must survive the switch.
    expect(await c.script(MAC2)).toContain("vaquero.build=1");
    expect((await fetch(`${c.base}/state`, { method: "POST", body: new URLSearchParams({ mac: MAC2, event: "booted" }) })).status).toBe(
      204,
    );
    expect(await c.machine(MAC2)).toBe("installing");

    writeFileSync(join(repo, "sites/s1/cluster-a.yml"), inventory("2", "1"));
    const sha2 = commit(repo, "node-1: build 2");
    const r2 = await until("the second release", async () => (await c.releases()).find((r) => r.id === sha2));
    const rel2 = await c.release(r2.id);
    expect([rel2.status, rel2.previous, rel2.sites.s1?.hosts_changed]).toEqual(["valid", r1?.id, ["node-1"]]);
    await until("the second release staged", async () => ((await c.status()).release.id === sha2 ? true : undefined));
    const after = await c.script(MAC1);
    expect(after).not.toBe(before);
    expect(after).toContain("vaquero.build=2");
    expect(await c.machine(MAC2)).toBe("installing");
    expect((await c.status()).rollouts).toEqual([]);

    writeFileSync(join(repo, "sites/s1/cluster-b.yml"), "hosts: [{name: node-3}]\n");
    const sha3 = commit(repo, "a host without a workflow");
    const r3 = await until("the rejected release", async () => (await c.releases()).find((r) => r.id === sha3));
    expect(r3.status).toBe("rejected");
    expect((await c.release(sha3)).findings.length).toBeGreaterThan(0);
    const st = await c.status();
    expect([st.role, st.release.id]).toEqual(["standalone", sha2]);
    expect(await c.script(MAC1)).toBe(after);
    expect(await c.machine(MAC2)).toBe("installing");
    expect(await stop(p)).toBe(0);
  });

  test("a signed push with --auto-execute stages the release and rolls out the host it changed", async () => {
    const repo = makeRepo("sot-hook");
    writeFileSync(join(work, "secret"), `${SECRET}\n`);
    const port = await freePort();
    const args = ["--sot", "sot-hook", "--ref", "main", "--data-dir", "data-hook", "--http-addr", `127.0.0.1:${port}`];
    const hook = ["--webhook-secret-file", "secret", "--webhook-repo", "acme/sot", "--auto-execute"];
    const p = await start([...args, ...hook]);
    const c = client(port, "data-hook");
    // The first release has nothing to compare with: nothing is rolled out.
    expect((await c.status()).rollouts).toEqual([]);
    const push = async (after: string): Promise<Response> => {
      const body = JSON.stringify({ ref: "refs/heads/main", after, repository: { full_name: "acme/sot" } });
      const sig = createHmac("sha256", SECRET).update(body).digest("hex");
      return await fetch(`${c.base}/postreceive`, { method: "POST", body, headers: { "x-vaquero-signature": `sha256=${sig}` } });
    };
    expect((await fetch(`${c.base}/postreceive`, { method: "POST", body: "{}" })).status).toBe(401);

    writeFileSync(join(repo, "sites/s1/cluster-a.yml"), inventory("1", "2"));
    const sha2 = commit(repo, "node-2: build 2");
    const res = await push(sha2);
    expect([res.status, await res.json()]).toEqual([202, { release: sha2, status: "valid" }]);
    // The release is staged and its rollout started before the push is answered.
    const st = await c.status();
    expect(st.release.id).toBe(sha2);
    expect(st.rollouts.map((r) => r.id)).toEqual([`release-${sha2}`]);
    const rollout = await c.json<{ hosts: Record<string, unknown> }>(`/rollouts/release-${sha2}`);
    expect(Object.keys(rollout.hosts)).toEqual(["node-2"]);
    expect(await c.script(MAC2)).toContain("vaquero.build=2");
    const again = await push(sha2);
    expect(await again.json()).toEqual({ release: sha2, status: "valid", duplicate: true });

    writeFileSync(join(repo, "sites/s1/cluster-b.yml"), "hosts: [{name: node-3}]\n");
    const sha3 = commit(repo, "a host without a workflow");
    expect(await (await push(sha3)).json()).toEqual({ release: sha3, status: "rejected" });
    expect((await c.status()).release.id).toBe(sha2);
    expect(await stop(p)).toBe(0);

    // The tip does not validate: the next start refuses with its findings.
    const q = Bun.spawn([bin, "standalone", ...args, "--tftp-addr", "127.0.0.1:0", "--ipxe-dir", "ipxe"], {
      cwd: work,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [err, exit] = await Promise.all([new Response(q.stderr).text(), q.exited]);
    expect(exit).toBe(1);
    expect(err).toContain("nothing is served");
  });
});
