import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isVaqueroError } from "../../internal/errors/index.ts";
import { createLogger } from "../../internal/log/index.ts";
import { commitAll } from "../../test/_helpers/git.ts";
import { openEmbeddedStore } from "../store/index.ts";
import { createReleaser } from "./_compile.ts";
import { createCompileThread } from "./_compile_thread.ts";

const SOT = resolve(import.meta.dir, "../../examples/sot");
const dir = mkdtempSync(join(tmpdir(), "vq-compile-thread-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger({ level: "silent" });
/** examples/sot as a git repository, so a compile also resolves the branch to a commit. */
const REPO = join(dir, "repo");
cpSync(SOT, REPO, { recursive: true });
const COMMIT = commitAll(REPO, "first");

/** A release of examples/sot made by a releaser compiling on `on`, and the stored record. */
async function releaseOn(on: "worker" | "main") {
  const store = await openEmbeddedStore({ path: join(dir, `${on}.db`) });
  const releaser = createReleaser({ store, sot: REPO, ref: "main", timeoutMs: 30_000, log, compileOn: on });
  try {
    const { release } = await releaser.compile({ trigger: "api" });
    return release;
  } finally {
    await releaser.close();
    await store.close();
  }
}

describe("compile thread", () => {
  test("a SoT compiled on the worker gives the release id, bundle digests and changed hosts of the main thread", async () => {
    const [worker, main] = [await releaseOn("worker"), await releaseOn("main")];
    expect(worker.status).toBe("valid");
    expect([worker.id, worker.commit]).toEqual([main.id, COMMIT]);
    expect(worker.findings).toEqual(main.findings);
    expect(Object.keys(worker.sites).length).toBeGreaterThan(0);
    expect(worker.sites).toEqual(main.sites);
  });

  test("the job runs on a worker and hands back canonical bytes with their digest", async () => {
    const thread = createCompileThread({ log });
    try {
      const job = await thread.open({ sot: SOT, ref: "main", timeoutMs: 30_000 });
      expect(thread.onWorker).toBe(true);
      expect(job.commit).toBeUndefined();
      const result = await job.compile();
      await job.dispose();
      expect(result.valid).toBe(true);
      for (const [, s] of result.sites) {
        expect(new Bun.CryptoHasher("sha256").update(s.bytes).digest("hex")).toBe(s.hash);
        expect(s.fingerprints.size).toBe(s.hosts);
      }
    } finally {
      await thread.close();
    }
  });

  test("errors come back typed: an unreadable --sot is SOT_UNAVAILABLE; a closed thread fails what is in flight", async () => {
    const thread = createCompileThread({ log });
    const err = await thread.open({ sot: join(dir, "missing"), ref: "main", timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(isVaqueroError(err, "SOT_UNAVAILABLE")).toBe(true);
    expect(thread.onWorker).toBe(true);
    const job = await thread.open({ sot: SOT, ref: "main", timeoutMs: 30_000 });
    const compiling = job.compile().catch((e: unknown) => e);
    await thread.close();
    expect(isVaqueroError(await compiling, "COMPILE_WORKER")).toBe(true);
    expect(thread.onWorker).toBe(false);
  });
});
