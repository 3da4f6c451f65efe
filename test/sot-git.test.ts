/**
 * Integration: a SoT fetched over git smart HTTP (a real `git http-backend`) reads exactly as the same commit read
 * from the repository on disk; unreachable and silent servers fail fast with SOT_GIT_UNREACHABLE. Only 127.0.0.1
 * is ever contacted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, realpath, rm, symlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GitSource, openGitSource } from "../pkg/sot/index.ts";
import { exit2Failure } from "./_helpers/errors.ts";
import { git, put } from "./_helpers/git.ts";
import { type GitHttpServer, startGitHttp } from "./_helpers/git-http.ts";

let tmp = "";
let repo = "";
let server: GitHttpServer | undefined;
let url = "";
let v1 = "";
let tip = "";
const sources: GitSource[] = [];

async function open(location: string, timeoutMs?: number): Promise<GitSource> {
  const s = await openGitSource(location, { maxFileBytes: 4096, tmpDir: tmp, ...(timeoutMs ? { timeoutMs } : {}) });
  sources.push(s);
  return s;
}

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), "vaquero-sot-git-")));
  const work = join(tmp, "work");
  await mkdir(work);
  git(work, "init", "-q");
  await put(work, "os/ubuntu.yml", "id: ubuntu\n");
  await put(work, "sites/dc1/env.yml", "id: dc1\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "one");
  git(work, "tag", "-a", "v1", "-m", "release one");
  v1 = git(work, "rev-parse", "HEAD");
  for (let i = 0; i < 50; i++) await put(work, `sites/dc1/cluster-${String(i).padStart(2, "0")}.yml`, `hosts: [{ name: h${i} }]\n`);
  await put(work, "assets/kickstart/base.ks", "text\n".repeat(200));
  await put(
    work,
    "assets/bin/blob",
    new Uint8Array(256).map((_, i) => i),
  );
  await put(work, "assets/bin/huge", new Uint8Array(8192));
  await symlink("../kickstart/base.ks", join(work, "assets/bin/link"));
  await symlink("../../../etc/shadow", join(work, "assets/bin/escape"));
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "two");
  git(work, "tag", "light");
  git(work, "checkout", "-q", "-b", "other");
  await put(work, "other.yml", "x: 1\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "other");
  git(work, "checkout", "-q", "main");
  tip = git(work, "rev-parse", "main");
  await mkdir(join(tmp, "served"));
  repo = join(tmp, "served", "site.git");
  git(tmp, "clone", "-q", "--bare", work, repo);
  server = await startGitHttp(join(tmp, "served"));
  url = `${server.url}/site.git`;
});

afterAll(async () => {
  for (const s of sources) await s.dispose();
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("a SoT over smart HTTP", () => {
  test("resolves HEAD, branches, tags and abbreviated SHAs like the local repository", async () => {
    const remote = await open(url);
    const local = await open(repo);
    expect(remote.location).toBe(url);
    for (const ref of [undefined, "main", "other", "v1", "light", v1.slice(0, 8), tip]) {
      expect(await remote.resolve(ref)).toBe(await local.resolve(ref));
    }
    expect(await remote.resolve("v1")).toBe(v1);
    expect(await remote.resolve()).toBe(tip);
  });

  test("reads the same tree as the local read of the same commit, byte for byte", async () => {
    const remote = await open(url);
    const local = await open(repo);
    for (const ref of [undefined, "v1", "other"]) {
      const commit = await remote.resolve(ref);
      const a = await remote.readTree(commit, ref);
      const b = await local.readTree(commit, ref);
      expect(a.kind).toBe("git");
      expect(a.commit).toBe(commit);
      expect(a.ref).toBe(ref ?? "main");
      expect(a.location).toBe(url);
      expect(a.files).toEqual(b.files);
      expect(a.files.length).toBeGreaterThan(1);
    }
    const tree = await remote.readTree(tip);
    const byPath = new Map(tree.files.map((f) => [f.path, f]));
    expect(byPath.get("assets/bin/blob")?.data).toEqual(new Uint8Array(256).map((_, i) => i));
    expect(byPath.get("assets/bin/link")?.data).toEqual(new TextEncoder().encode("text\n".repeat(200)));
    expect(byPath.get("assets/bin/escape")).toEqual({
      path: "assets/bin/escape",
      size: 0,
      problem: "symlink-escape",
      target: "../../../etc/shadow",
    });
    expect(byPath.get("assets/bin/huge")).toEqual({ path: "assets/bin/huge", size: 8192, problem: "too-large" });
  });

  test("credentials in the URL never show in the location; dispose removes the clone", async () => {
    const withCreds = url.replace("http://", "http://alice:s3cret@");
    const before = (await readdir(tmp)).length;
    const s = await openGitSource(withCreds, { tmpDir: tmp });
    expect(s.location).toBe(url);
    expect((await s.readTree(await s.resolve())).location).toBe(url);
    expect((await readdir(tmp)).length).toBe(before + 1);
    await s.dispose();
    await s.dispose();
    expect((await readdir(tmp)).length).toBe(before);
  });

  test("an unknown ref gives SOT_GIT_REF_UNKNOWN", async () => {
    const remote = await open(url);
    const e = await exit2Failure(remote.resolve("v9"), "SOT_GIT_REF_UNKNOWN");
    expect(e.message).toBe(`sot: ref "v9" not found in ${url}`);
  });

  test("a missing repository gives SOT_GIT_UNREACHABLE with the HTTP status, and leaves no clone", async () => {
    const before = (await readdir(tmp)).length;
    const e = await exit2Failure(openGitSource(`${server?.url}/nope.git`, { tmpDir: tmp }), "SOT_GIT_UNREACHABLE");
    expect(e.message).toMatch(/HTTP 404/);
    expect((await readdir(tmp)).length).toBe(before);
  });
});

describe("remotes without a usable HEAD", () => {
  test("an empty repository opens; HEAD and any ref are unknown", async () => {
    git(tmp, "init", "-q", "--bare", join(tmp, "served", "empty.git"));
    const s = await open(`${server?.url}/empty.git`);
    await exit2Failure(s.resolve(), "SOT_GIT_REF_UNKNOWN");
    await exit2Failure(s.resolve("main"), "SOT_GIT_REF_UNKNOWN");
  });

  test("a HEAD naming a missing branch gives SOT_GIT_READ saying so", async () => {
    git(tmp, "clone", "-q", "--bare", repo, join(tmp, "served", "dangling.git"));
    git(join(tmp, "served", "dangling.git"), "symbolic-ref", "HEAD", "refs/heads/gone");
    const e = await exit2Failure(openGitSource(`${server?.url}/dangling.git`, { tmpDir: tmp }), "SOT_GIT_READ");
    expect(e.message).toMatch(/HEAD names a branch that does not exist/);
  });
});

describe("unreachable remotes", () => {
  test("a closed port fails quickly", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = probe.port;
    await probe.stop(true);
    const started = performance.now();
    const e = await exit2Failure(openGitSource(`http://u:pw@127.0.0.1:${port}/site.git`, { tmpDir: tmp }), "SOT_GIT_UNREACHABLE");
    expect(performance.now() - started).toBeLessThan(5000);
    expect(e.message).toBe(`sot: cannot reach http://127.0.0.1:${port}/site.git: connection refused`);
  });

  test("a server that accepts but never answers fails within timeoutMs", async () => {
    const sockets = new Set<Socket>();
    let accepted = 0;
    const silent: Server = createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const started = performance.now();
      const e = await exit2Failure(
        openGitSource(`http://127.0.0.1:${port}/site.git`, { timeoutMs: 500, tmpDir: tmp }),
        "SOT_GIT_UNREACHABLE",
      );
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(400);
      expect(took).toBeLessThan(3000);
      expect(e.message).toMatch(/no answer within 500 ms/);
      expect(accepted).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test("git:// is refused without any network traffic", async () => {
    const realFetch = globalThis.fetch;
    let calls = 0;
    globalThis.fetch = Object.assign(
      (...args: Parameters<typeof fetch>) => {
        calls++;
        return realFetch(...args);
      },
      { preconnect: realFetch.preconnect },
    );
    try {
      const e = await exit2Failure(openGitSource("git://example.invalid/x", { tmpDir: tmp }), "SOT_GIT_URL_UNSUPPORTED");
      expect(e.message).toContain("git://example.invalid/x");
      expect(calls).toBe(0);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
