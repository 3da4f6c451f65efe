/**
 * `vaquero migrate` with the compiled binary, run from a folder without node_modules (and, as root, with the
 * build tree's node_modules hidden, so that nothing can be read from the build machine): embedded → etcd →
 * embedded gives the same keys and values; refusals and exit codes.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openEmbeddedStore } from "../pkg/store/index.ts";
import { ETCD_SKIP, type EtcdCluster, startEtcd } from "./_helpers/etcd.ts";
import { freePort } from "./_helpers/ports.ts";

setDefaultTimeout(120_000);
const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-migrate-"));
const bin = join(work, "vaquero");
const empty = join(work, "empty");
/** Root can hide the build tree's node_modules from the binary in a private mount namespace. */
const hide = process.getuid?.() === 0 && Bun.spawnSync(["unshare", "--mount", "true"]).exitCode === 0;

async function vq(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cmd = hide
    ? ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"', empty, join(ROOT, "node_modules"), bin, ...args]
    : [bin, ...args];
  const p = Bun.spawn(cmd, { cwd: work, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** Seeds `dir`'s store: small and large values, binary bytes, a lease-bound key and a key outside /vaquero/. */
async function seed(dir: string): Promise<Map<string, string>> {
  const store = await openEmbeddedStore({ path: join(dir, "vaquero.db") });
  const want = new Map<string, string>();
  for (let i = 0; i < 300; i++) {
    const value = i === 7 ? new Uint8Array(1024 * 1024).map((_, j) => j % 251) : new TextEncoder().encode(`value ${i} ${"x".repeat(i)}`);
    await store.put(`/vaquero/k/${String(i).padStart(4, "0")}`, value);
    want.set(`/vaquero/k/${String(i).padStart(4, "0")}`, Buffer.from(value).toString("base64"));
  }
  await store.put("/vaquero/bin", new Uint8Array([0, 255, 1, 254]));
  want.set("/vaquero/bin", Buffer.from([0, 255, 1, 254]).toString("base64"));
  await store.put("/vaquero/leader/x", "me", { lease: await store.grant(600) });
  await store.put("/other/key", "not Vaquero's");
  await store.close();
  return want;
}

async function contents(dir: string): Promise<Map<string, string>> {
  const store = await openEmbeddedStore({ path: join(dir, "vaquero.db") });
  const r = await store.range("/");
  await store.close();
  return new Map(r.kvs.map((kv) => [kv.key, Buffer.from(kv.value).toString("base64")]));
}

let etcd: EtcdCluster | undefined;
beforeAll(async () => {
  mkdirSync(empty);
  const pkg = (await Bun.file(join(ROOT, "package.json")).json()) as { scripts: { build: string } };
  // The project's own build command, writing into the work folder instead of dist/.
  const cmd = pkg.scripts.build
    .replace(/^bun /, "")
    .replace(/--outfile \S+/, `--outfile ${bin}`)
    .split(/\s+/);
  const b = Bun.spawnSync([process.execPath, ...cmd], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
  if (!ETCD_SKIP) etcd = await startEtcd(1);
});
afterAll(async () => {
  await etcd?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("vaquero migrate (compiled binary)", () => {
  test("--help exits 0; bad flags, a missing source and the same store twice exit 2", async () => {
    expect((await vq("migrate", "--help")).code).toBe(0);
    expect((await vq("migrate", "--from", "embedded:/x")).code).toBe(2);
    expect((await vq("migrate", "--from", "mysql:/x", "--to", "embedded:/y")).code).toBe(2);
    const missing = await vq("migrate", "--from", `embedded:${join(work, "nothing")}`, "--to", `embedded:${join(work, "b")}`);
    expect([missing.code, missing.err]).toEqual([2, expect.stringContaining("no store")]);
    const same = await vq("migrate", "--from", `embedded:${work}/a`, "--to", `embedded:${work}/a/`);
    expect([same.code, same.err]).toEqual([2, expect.stringContaining("same store")]);
  });

  test("an unreachable etcd exits 2", async () => {
    const src = join(work, "src-unreachable");
    mkdirSync(src);
    await seed(src);
    const port = await freePort();
    const r = await vq("migrate", "--from", `embedded:${src}`, "--to", `etcd:http://127.0.0.1:${port}`, "--dial-timeout", "1");
    expect([r.code, r.err]).toEqual([2, expect.stringContaining("no member")]);
  });

  test.skipIf(ETCD_SKIP !== undefined)(
    "embedded → etcd → embedded gives identical keys and values; a non-empty destination needs --force",
    async () => {
      const url = `etcd:${etcd?.endpoints.join(",")}`;
      const a = join(work, "a");
      const b = join(work, "b");
      mkdirSync(a);
      mkdirSync(b);
      const want = await seed(a);
      const bytes = [...want.values()].reduce((n, v) => n + Buffer.from(v, "base64").length, 0);
      const there = await vq("migrate", "--from", `embedded:${a}`, "--to", url);
      expect([there.code, there.err]).toEqual([0, ""]);
      expect(there.out).toBe(`migrated ${want.size} keys (${bytes} bytes) from embedded:${a} to ${url}, 1 lease-bound keys left out\n`);
      const again = await vq("migrate", "--from", `embedded:${a}`, "--to", url);
      expect([again.code, again.err]).toEqual([2, expect.stringContaining("--force")]);
      const back = await vq("migrate", "--from", url, "--to", `embedded:${b}`);
      expect([back.code, back.out]).toEqual([0, `migrated ${want.size} keys (${bytes} bytes) from ${url} to embedded:${b}\n`]);
      expect(await contents(b)).toEqual(want);
      const forced = await vq("migrate", "--from", `embedded:${a}`, "--to", `embedded:${b}`, "--force");
      expect(forced.code).toBe(0);
      expect(await contents(b)).toEqual(want);
    },
  );
});
