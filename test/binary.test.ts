/**
 * The product is the compiled binary: these tests build dist/vaquero, copy it to a folder with no node_modules
 * and run it there, on the example SoT, on hostile input and over git smart HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compileTree, readDirTree } from "../pkg/sot/index.ts";
import { builtBinary } from "./_helpers/build.ts";
import { commitAll, git } from "./_helpers/git.ts";
import { type GitHttpServer, startGitHttp } from "./_helpers/git-http.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-bin-"));
const bin = join(work, "vaquero");
let server: GitHttpServer;

beforeAll(async () => {
  // Always the binary of this tree (the build takes under a second), never a stale one.
  const built = join(ROOT, "dist/vaquero");
  builtBinary();
  cpSync(built, bin);
  cpSync(join(ROOT, "examples/sot"), join(work, "sot"), { recursive: true });
  mkdirSync(join(work, "served"));
  git(work, "init", "-q", "--bare", "--", join(work, "served/sot.git"));
  const repo = join(work, "repo");
  cpSync(join(ROOT, "examples/sot"), repo, { recursive: true });
  commitAll(repo, "example");
  git(repo, "tag", "v1");
  git(repo, "push", "-q", join(work, "served/sot.git"), "main", "v1");
  server = await startGitHttp(join(work, "served"));
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the binary in the work folder (no node_modules anywhere above it) with a clean environment. */
async function vq(...args: string[]) {
  const p = Bun.spawn([bin, ...args], { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: work } });
  const timer = setTimeout(() => p.kill(), 60_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

/** A copy of the example with one change, inside the work folder. */
function variant(name: string, change: (dir: string) => void): string {
  const dir = join(work, name);
  cpSync(join(ROOT, "examples/sot"), dir, { recursive: true });
  change(dir);
  return name;
}

describe("compiled binary", () => {
  test("runs with no node_modules in reach", () => {
    expect(existsSync(join(work, "node_modules"))).toBe(false);
    expect(existsSync(join(tmpdir(), "node_modules"))).toBe(false);
  });
  test("version and help of every verb", async () => {
    expect(await vq("version")).toEqual({ code: 0, out: "vaquero 0.1.0\n", err: "" });
    for (const verb of ["validate", "preview", "standalone", "server", "agent", "bmc", "migrate"]) {
      const r = await vq(verb, "--help");
      expect({ verb, code: r.code }).toEqual({ verb, code: 0 });
      expect(r.out).toStartWith(`usage: vaquero ${verb}`);
    }
  });
  test("validates the example: exit 0", async () => {
    const r = await vq("validate", "sot");
    expect(r.code).toBe(0);
    expect(r.out).toContain("sot: valid (0 errors, 0 warnings; 2 sites, 13 hosts rendered");
  });
  test("logs JSON lines with pino on stderr, only the artefact on stdout", async () => {
    const r = await vq("validate", "sot", "--format", "json", "--log-level", "debug");
    expect(r.out).toBe("[]\n");
    const lines = r.err
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string; hosts?: number });
    expect(lines.map((l) => l.msg)).toEqual(["source read", "compiled"]);
    expect(lines[1]?.hosts).toBe(13);
  });
  test("previews a host", async () => {
    const r = await vq("preview", "--sot", "sot", "--mac", "0c:c4:7a:10:00:11");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith("#!ipxe\nkernel https://stable.release.flatcar-linux.net/");
  });
  test("reads a repository over smart HTTP at a tag, and a local one", async () => {
    const remote = await vq("validate", `${server.url}/sot.git`, "--ref", "v1", "--format", "json");
    expect(remote).toMatchObject({ code: 0, out: "[]\n" });
    const local = await vq("validate", "repo", "--ref", "v1");
    expect(local.code).toBe(0);
    expect(local.out).toMatch(/release [0-9a-f]{40}\)/);
  });
  test("renders a large SoT on two threads and agrees with the in-process compiler", async () => {
    const out = join(work, "big");
    const g = Bun.spawnSync([
      process.execPath,
      join(ROOT, "bench/sot/generate.ts"),
      "--hosts",
      "2000",
      "--sites",
      "2",
      "--workflows",
      "8",
      "--out",
      out,
    ]);
    expect(g.exitCode).toBe(0);
    const r = await vq("validate", "big", "--log-level", "info");
    expect(r.code).toBe(0);
    const expected = await compileTree(await readDirTree(out), { parallel: false });
    expect(r.out).toContain(`release ${expected.release?.id})`);
    expect(r.out).toContain("2000 hosts rendered");
  });
});

describe("compiled binary: bad input is a finding or a one-line exit 2, never a stack trace", () => {
  const cases: [string, () => string[], number, string][] = [
    ["a path that does not exist", () => ["validate", "missing"], 2, 'sot: cannot read "missing": no such file or directory'],
    ["an unknown flag", () => ["validate", "sot", "--fromat", "json"], 2, "unknown flag --fromat"],
    ["a ref that does not exist", () => ["validate", "repo", "--ref", "v9"], 2, 'ref "v9" not found'],
    [
      "a remote that refuses",
      () => ["validate", "http://127.0.0.1:9/sot.git", "--timeout", "2"],
      2,
      "cannot reach http://127.0.0.1:9/sot.git",
    ],
    ["a remote repository that is not there", () => ["validate", `${server.url}/nope.git`], 2, "nope.git"],
    [
      "a 100 MB file",
      () => [
        "validate",
        variant("huge", (d) => {
          writeFileSync(join(d, "assets/preseed/huge.cfg"), "");
          truncateSync(join(d, "assets/preseed/huge.cfg"), 100 * 1024 * 1024);
        }),
      ],
      1,
      "FILE_TOO_LARGE",
    ],
    [
      "a binary file",
      () => ["validate", variant("bin", (d) => writeFileSync(join(d, "os/blob.yml"), Buffer.from([0, 1, 2, 0xff, 0xfe])))],
      1,
      "FILE_BINARY",
    ],
    [
      "a symlink out of the tree",
      () => ["validate", variant("link", (d) => symlinkSync("/etc/passwd", join(d, "assets/preseed/passwd")))],
      1,
      "FILE_SYMLINK_ESCAPE",
    ],
    [
      "deep nesting",
      () => ["validate", variant("deep", (d) => writeFileSync(join(d, "os/deep.yml"), `id: x\nfamily: ${"[".repeat(50_000)}`))],
      1,
      "YAML_TOO_DEEP",
    ],
    [
      "malformed YAML",
      () => ["validate", variant("yaml", (d) => writeFileSync(join(d, "os/bad.yml"), "id: [x\nfamily: y\n"))],
      1,
      "YAML_SYNTAX",
    ],
  ];
  for (const [name, argv, code, text] of cases) {
    test(name, async () => {
      const r = await vq(...argv());
      expect(r.code).toBe(code);
      expect(code === 2 ? r.err : r.out).toContain(text);
      expect(r.err).not.toContain("    at ");
      if (code === 2) expect(r.err.trim().split("\n")).toHaveLength(1);
    });
  }
});
