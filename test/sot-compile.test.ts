/**
 * The same commit gives the same release wherever it is read from: a plain checkout, a local repository (work
 * tree or bare) and a remote over smart HTTP. Site pins compile the pinned site from its tag.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compileTree, openSource } from "../pkg/sot/index.ts";
import { commitAll, git } from "./_helpers/git.ts";
import { type GitHttpServer, startGitHttp } from "./_helpers/git-http.ts";

const EXAMPLE = resolve(import.meta.dir, "../examples/sot");
const work = mkdtempSync(join(tmpdir(), "vq-compile-"));
const repo = join(work, "sot");
const served = join(work, "served");
let server: GitHttpServer;
let v1: string;
let v2: string;

async function compile(location: string, ref?: string) {
  const src = await openSource(location, ref ? { ref } : {});
  try {
    const r = await compileTree(src.tree, src.readPin ? { readPin: src.readPin } : {});
    return { ...r, tree: src.tree };
  } finally {
    await src.dispose();
  }
}
const hashes = (r: Awaited<ReturnType<typeof compile>>) => Object.fromEntries([...r.sites].map(([id, s]) => [id, s.hash]));

beforeAll(async () => {
  cpSync(EXAMPLE, repo, { recursive: true });
  v1 = commitAll(repo, "v1");
  git(repo, "tag", "v1.0.0");
  const env = join(repo, "sites/lab/env.yml");
  writeFileSync(env, readFileSync(env, "utf8").replace("name: Lab", "name: Lab (rack 2)"));
  v2 = commitAll(repo, "v2");
  git(work, "init", "-q", "--bare", "--", join(served, "sot.git"));
  git(repo, "push", "-q", join(served, "sot.git"), "main", "v1.0.0");
  server = await startGitHttp(served);
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("one commit, one release", () => {
  test("a plain directory, a local repository and a remote give the same bundles", async () => {
    const plain = await compile(EXAMPLE);
    const local = await compile(repo, "v1.0.0");
    const remote = await compile(`${server.url}/sot.git`, "v1.0.0");
    expect(local.findings).toEqual([]);
    expect(hashes(local)).toEqual(hashes(plain));
    expect(hashes(remote)).toEqual(hashes(plain));
    expect(local.release?.id).toBe(v1);
    expect(remote.release?.id).toBe(v1);
    expect(plain.release?.id).toMatch(/^dir-/);
  });

  test("compiling the same commit twice gives the same hashes; a change moves only its site", async () => {
    const a = await compile(repo, v2);
    const b = await compile(repo, v2);
    const old = await compile(repo, v1);
    expect(hashes(a)).toEqual(hashes(b));
    expect(a.release?.id).toBe(v2);
    expect(a.sites.get("dc-east")?.hash).toBe(old.sites.get("dc-east")?.hash as string);
    expect(a.sites.get("lab")?.hash).not.toBe(old.sites.get("lab")?.hash as string);
    expect(a.tree.ref).toBe(v2);
    expect((await compile(repo)).tree.ref).toBe("main");
  });

  test("a site pinned to a tag compiles from that tag; the release id carries the pins", async () => {
    const env = join(repo, "sites/lab/env.yml");
    writeFileSync(env, `${readFileSync(env, "utf8")}release: v1.0.0\n`);
    const v3 = commitAll(repo, "pin lab");
    const r = await compile(repo);
    expect(r.findings).toEqual([]);
    const old = await compile(repo, "v1.0.0");
    expect(r.sites.get("lab")?.hash).toBe(old.sites.get("lab")?.hash as string);
    expect(r.sites.get("lab")?.pinned).toEqual({ ref: "v1.0.0", commit: v1 });
    expect(r.release?.id).toMatch(new RegExp(`^${v3}\\+[0-9a-f]{12}$`));
    expect(r.release?.sites.lab?.pinned?.commit).toBe(v1);
    git(repo, "reset", "-q", "--hard", "HEAD~1");
  });

  test("a pin to a release that pins the same site again takes that release's site as it was written", async () => {
    const env = join(repo, "sites/lab/env.yml");
    const original = readFileSync(env, "utf8");
    writeFileSync(env, `${original}release: v1.0.0\n`);
    commitAll(repo, "pin lab to v1");
    git(repo, "tag", "v2.0.0");
    writeFileSync(env, `${original}release: v2.0.0\n`);
    commitAll(repo, "pin lab to v2");
    const r = await compile(repo);
    expect(r.findings).toEqual([]);
    const src = await openSource(repo, { ref: "v2.0.0" });
    const asWritten = await compileTree(src.tree, { followPins: false });
    await src.dispose();
    expect(r.sites.get("lab")?.hash).toBe(asWritten.sites.get("lab")?.hash as string);
    expect(r.hostsRendered).toBe(13);
    git(repo, "reset", "-q", "--hard", "HEAD~2");
    git(repo, "tag", "-d", "v2.0.0");
  });

  test("a pin to a tag that does not exist is a finding at the pin", async () => {
    const env = join(repo, "sites/lab/env.yml");
    writeFileSync(env, `${readFileSync(env, "utf8")}release: v9.9.9\n`);
    commitAll(repo, "bad pin");
    const r = await compile(repo);
    expect(r.findings.map((f) => `${f.code} ${f.file}`)).toEqual(["RELEASE_PIN_UNKNOWN sites/lab/env.yml"]);
    expect(r.findings[0]?.message).toContain('"v9.9.9"');
    git(repo, "reset", "-q", "--hard", "HEAD~1");
  });

  test("an unknown ref is an exit-2 error naming it", async () => {
    await expect(compile(repo, "no-such-branch")).rejects.toMatchObject({ code: "SOT_GIT_REF_UNKNOWN", exitCode: 2 });
  });
});
