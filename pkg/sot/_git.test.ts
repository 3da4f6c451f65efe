import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exit2Failure } from "../../test/_helpers/errors.ts";
import { git, put } from "../../test/_helpers/git.ts";
import { readDirTree } from "./_dir.ts";
import { type GitSource, isGitRepository, isGitUrl, openGitSource } from "./_git.ts";
import type { SourceFile } from "./_tree.ts";

/** Runs the git CLI in `cwd`, isolated from the user's configuration; returns trimmed stdout. */

/** What a file looks like in assertions: bytes as text, problems as they are. */
function view(files: SourceFile[]): Record<string, string> {
  return Object.fromEntries(
    files.map((f) => [
      f.path,
      f.problem ? `${f.problem}${f.target === undefined ? "" : `:${f.target}`}` : new TextDecoder().decode(f.data),
    ]),
  );
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const e = await exit2Failure(p, code);
  if (message) expect(e.message).toMatch(message);
}

let tmp = "";
let work = "";
let bare = "";
let first = "";
let second = "";
let feature = "";
const opened: GitSource[] = [];

async function open(path: string, maxFileBytes = 1024): Promise<GitSource> {
  const s = await openGitSource(path, { maxFileBytes });
  opened.push(s);
  return s;
}

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(join(tmpdir(), "vaquero-git-test-")));
  work = join(tmp, "work");
  await mkdir(work);
  git(work, "init", "-q");
  await put(work, "os/ubuntu.yml", "id: ubuntu\n");
  await put(work, "sites/dc1/env.yml", "id: dc1\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "one");
  first = git(work, "rev-parse", "HEAD");
  git(work, "tag", "v1-light");
  git(work, "tag", "-a", "v1", "-m", "release one");
  git(work, "tag", "-a", "v1-nested", "-m", "tag of a tag", "v1");
  git(work, "tag", "tree-tag", "HEAD^{tree}");

  await put(work, "sites/dc1/cluster-a.yml", "hosts: []\n");
  await put(work, "deep/a/b/c/d.txt", "deep\n");
  await put(work, ".github/ci.yml", "skipped\n");
  await put(work, ".hidden-target/x.yml", "hidden\n");
  await put(work, "big.bin", new Uint8Array(2048).fill(7));
  await put(work, "exact.bin", new Uint8Array(1024).fill(1));
  await mkdir(join(work, "links"));
  const links: [string, string][] = [
    ["to-file", "../os/ubuntu.yml"],
    ["to-dir", "../sites"],
    ["hidden", "../.hidden-target/x.yml"],
    ["abs", "/etc/passwd"],
    ["up", "../../outside"],
    ["chain", "chain2"],
    ["chain2", "../../outside"],
    ["via-dir", "to-dir/dc1/env.yml"],
    ["dangling", "nope"],
    ["loop1", "loop2"],
    ["loop2", "loop1"],
    ["zself", "."],
    ["root", ".."],
    ["file-slash", "../os/ubuntu.yml/"],
  ];
  for (const [name, target] of links) await symlink(target, join(work, "links", name));
  git(work, "add", "-A");
  // A submodule entry (gitlink) with no .gitmodules: a checkout makes it an empty directory.
  git(work, "update-index", "--add", "--cacheinfo", `160000,${first},vendor/sub`);
  git(work, "commit", "-q", "-m", "two");
  second = git(work, "rev-parse", "HEAD");
  git(work, "checkout", "-q", "-b", "feature");
  await put(work, "feature.yml", "f: 1\n");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "feature");
  feature = git(work, "rev-parse", "HEAD");
  git(work, "checkout", "-q", "main");
  bare = join(tmp, "bare.git");
  git(tmp, "clone", "-q", "--bare", work, bare);
  git(bare, "gc", "-q"); // packed objects and packed refs
  await writeFile(join(tmp, "outside"), "outside the tree\n");
});

afterAll(async () => {
  for (const s of opened) await s.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("isGitUrl", () => {
  const cases: [string, boolean][] = [
    ["http://example.com/r.git", true],
    ["HTTPS://user:pw@example.com/r", true],
    ["git://example.com/r", false],
    ["ssh://git@example.com/r", false],
    ["git@example.com:r.git", false],
    ["file:///srv/r", false],
    ["/srv/r", false],
    ["http://", false],
  ];
  for (const [s, want] of cases) test(s, () => expect(isGitUrl(s)).toBe(want));
});

describe("isGitRepository", () => {
  test("work tree, bare repository, gitfile and linked work tree", async () => {
    expect(await isGitRepository(work)).toBe(true);
    expect(await isGitRepository(bare)).toBe(true);
    const gitfile = join(tmp, "gitfile");
    await mkdir(gitfile);
    await writeFile(join(gitfile, ".git"), "gitdir: ../bare.git\n");
    expect(await isGitRepository(gitfile)).toBe(true);
    git(work, "worktree", "add", "-q", join(tmp, "linked"), "feature");
    expect(await isGitRepository(join(tmp, "linked"))).toBe(true);
    expect(await (await open(join(tmp, "linked"))).resolve()).toBe(feature);
    expect(await (await open(gitfile)).resolve()).toBe(second);
  });
  test("never an enclosing repository; not a plain dir, file or missing path", async () => {
    expect(await isGitRepository(join(work, "os"))).toBe(false);
    expect(await isGitRepository(join(work, "os/ubuntu.yml"))).toBe(false);
    expect(await isGitRepository(join(tmp, "missing"))).toBe(false);
    expect(await isGitRepository(tmp)).toBe(false);
    await rejectsWith(openGitSource(join(work, "os")), "SOT_GIT_NOT_REPO", /is not a git repository/);
  });
  test("a clone borrowing objects (--shared) is refused with SOT_GIT_READ", async () => {
    git(tmp, "clone", "-q", "--shared", bare, join(tmp, "shared"));
    expect(await isGitRepository(join(tmp, "shared"))).toBe(true);
    await rejectsWith(openGitSource(join(tmp, "shared")), "SOT_GIT_READ", /borrows objects/);
  });
});

describe("resolve", () => {
  const refs: [string, () => string][] = [
    ["(HEAD)", () => second],
    ["HEAD", () => second],
    ["main", () => second],
    ["feature", () => feature],
    ["refs/heads/feature", () => feature],
    ["v1-light", () => first],
    ["v1", () => first],
    ["v1-nested", () => first],
    ["tags/v1", () => first],
    ["abbrev", () => first],
    ["full", () => first],
  ];
  for (const where of ["work", "bare"] as const) {
    for (const [ref, want] of refs) {
      test(`${where}: ${ref}`, async () => {
        const s = await open(where === "work" ? work : bare);
        const asked = ref === "(HEAD)" ? undefined : ref === "abbrev" ? first.slice(0, 7) : ref === "full" ? first.toUpperCase() : ref;
        expect(await s.resolve(asked)).toBe(want());
      });
    }
  }
  test("unknown, malformed and non-commit refs", async () => {
    const s = await open(work);
    await rejectsWith(s.resolve("v9"), "SOT_GIT_REF_UNKNOWN", new RegExp(`^sot: ref "v9" not found in ${work}$`));
    await rejectsWith(s.resolve("../../etc/passwd"), "SOT_GIT_REF_UNKNOWN");
    await rejectsWith(s.resolve("config"), "SOT_GIT_REF_UNKNOWN");
    await rejectsWith(s.resolve("0000000000000000000000000000000000000000"), "SOT_GIT_REF_UNKNOWN");
    await rejectsWith(s.resolve("fffffff"), "SOT_GIT_REF_UNKNOWN");
    await rejectsWith(s.resolve("tree-tag"), "SOT_GIT_REF_UNKNOWN", /names a tree, not a commit/);
  });
});

describe("readTree", () => {
  const want: Record<string, string> = {
    "big.bin": "too-large",
    "deep/a/b/c/d.txt": "deep\n",
    "exact.bin": "\x01".repeat(1024),
    "links/abs": "symlink-escape:/etc/passwd",
    "links/chain": "symlink-escape:chain2",
    "links/chain2": "symlink-escape:../../outside",
    "links/dangling": "symlink-escape:(dangling)",
    "links/file-slash": "symlink-escape:(dangling)",
    "links/hidden": "hidden\n",
    "links/loop1": "symlink-escape:(dangling)",
    "links/loop2": "symlink-escape:(dangling)",
    "links/to-dir/dc1/cluster-a.yml": "hosts: []\n",
    "links/to-dir/dc1/env.yml": "id: dc1\n",
    "links/to-file": "id: ubuntu\n",
    "links/up": "symlink-escape:../../outside",
    "links/via-dir": "id: dc1\n",
    "os/ubuntu.yml": "id: ubuntu\n",
    "sites/dc1/cluster-a.yml": "hosts: []\n",
    "sites/dc1/env.yml": "id: dc1\n",
  };
  // links/zself is the directory links itself, listed once through the link, as the directory reader does: in
  // it, zself, root (the tree root) and to-dir (sites, already listed through links/to-dir) are not listed again.
  for (const [k, v] of Object.entries(want))
    if (k.startsWith("links/") && !k.startsWith("links/to-dir/")) want[k.replace("links/", "links/zself/")] = v;

  test("nested dirs, dot entries, symlinks, oversized blobs, submodules", async () => {
    const s = await open(work);
    const tree = await s.readTree(second);
    expect(tree.kind).toBe("git");
    expect(tree.location).toBe(work);
    expect(tree.commit).toBe(second);
    expect(tree.ref).toBe("main");
    expect(view(tree.files)).toEqual(want);
    const paths = tree.files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    const big = tree.files.find((f) => f.path === "big.bin");
    expect(big).toEqual({ path: "big.bin", size: 2048, problem: "too-large" });
    for (const f of tree.files) expect(f.data === undefined || f.data.constructor === Uint8Array).toBe(true);
  });

  test("an older commit, by SHA and by tag, with the ref as asked", async () => {
    const s = await open(work);
    const byTag = await s.readTree(await s.resolve("v1"), "v1");
    expect(byTag.commit).toBe(first);
    expect(byTag.ref).toBe("v1");
    expect(view(byTag.files)).toEqual({ "os/ubuntu.yml": "id: ubuntu\n", "sites/dc1/env.yml": "id: dc1\n" });
    const bySha = await s.readTree(first);
    expect(bySha.ref).toBeUndefined();
    expect(bySha.files).toEqual(byTag.files);
    await rejectsWith(s.readTree("nope"), "SOT_GIT_REF_UNKNOWN");
    await rejectsWith(s.readTree("1111111111111111111111111111111111111111"), "SOT_GIT_REF_UNKNOWN");
  });

  test("a bare, packed repository gives the same files as the work tree's repository", async () => {
    const fromWork = await (await open(work)).readTree(second);
    const fromBare = await (await open(bare)).readTree(second);
    expect(fromBare.files).toEqual(fromWork.files);
    expect(fromBare.ref).toBe("main");
  });

  test("the same files as the directory reader on a checkout of the commit", async () => {
    const checkout = join(tmp, "checkout");
    git(tmp, "clone", "-q", bare, checkout);
    const fromDir = await readDirTree(checkout, { maxFileBytes: 1024 });
    const fromGit = await (await open(bare)).readTree(second);
    expect(fromGit.files).toEqual(fromDir.files);
  });

  test("maxFileBytes: a blob of exactly the limit is read, one byte over is not", async () => {
    const tree = await (await open(work, 2047)).readTree(second);
    expect(tree.files.find((f) => f.path === "big.bin")?.problem).toBe("too-large");
    const roomy = await (await open(work, 2048)).readTree(second);
    expect(roomy.files.find((f) => f.path === "big.bin")?.data?.length).toBe(2048);
  });
});

describe("openGitSource refuses other URL kinds without touching the network", () => {
  for (const url of ["git://example.invalid/x", "ssh://u:secret@example.invalid/x", "git@example.invalid:x.git", "file:///srv/x"]) {
    test(url, async () => {
      await rejectsWith(openGitSource(url), "SOT_GIT_URL_UNSUPPORTED", /not supported/);
      await openGitSource(url).catch((e: Error) => expect(e.message).not.toContain("secret"));
    });
  }
});
