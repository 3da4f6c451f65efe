/**
 * "Never lose acknowledged state": a child process writes to the embedded store and reports each acknowledged
 * write; the test kills it with SIGKILL at a random point, reopens the file and finds every acknowledged write
 * with its revision, in a file SQLite calls intact. Several rounds on the same file, each resuming the last.
 */

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openEmbeddedStore } from "../pkg/store/index.ts";

const dir = mkdtempSync(join(tmpdir(), "vaquero-store-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const WRITER = resolve(import.meta.dir, "_helpers/store-writer.ts");
const ROUNDS = 4;

/** Runs one writer, kills it after `killAfter` acknowledgements (or when it ends); returns every ack it printed. */
async function writeAndKill(path: string, run: number, killAfter: number): Promise<Map<string, number>> {
  const child = Bun.spawn([process.execPath, WRITER, path, "200000", String(run)], { stdout: "pipe", stderr: "pipe" });
  const acks = new Map<string, number>();
  const decoder = new TextDecoder();
  let rest = "";
  let killed = false;
  const watchdog = setTimeout(() => child.kill(9), 40_000);
  try {
    // Bounded by the writer's own bounds (writes and 30 s) and the watchdog.
    for await (const chunk of child.stdout) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const [tag, key, rev] = line.split(" ");
        if (tag === "ack" && key && rev) acks.set(key, Number(rev));
      }
      if (!killed && acks.size >= killAfter) {
        child.kill(9);
        killed = true;
      }
    }
    await child.exited;
  } finally {
    clearTimeout(watchdog);
    if (child.exitCode === null) child.kill(9);
  }
  const err = await new Response(child.stderr).text();
  if (!killed) throw new Error(`writer ended before being killed (exit ${child.exitCode}): ${err}`);
  expect(child.signalCode).toBe("SIGKILL");
  return acks;
}

test("every acknowledged write survives kill -9 of the writer, round after round", async () => {
  const path = join(dir, "vaquero.db");
  const seed = Math.floor(Math.random() * 2 ** 31);
  let state = seed;
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const all = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const killAfter = 20 + Math.floor(random() * 3000);
    const acks = await writeAndKill(path, round, killAfter);
    expect(acks.size).toBeGreaterThanOrEqual(killAfter);
    for (const [k, r] of acks) all.set(k, r);

    const store = await openEmbeddedStore({ path, leaseCheckMs: false });
    try {
      const missing: string[] = [];
      for (const [key, rev] of all) {
        const kv = await store.get(key);
        const want = `v${key.split("/")[3]}`;
        if (!kv || kv.modRevision !== rev || new TextDecoder().decode(kv.value) !== want) {
          missing.push(`${key}@${rev}: ${kv ? `${kv.modRevision} ${new TextDecoder().decode(kv.value)}` : "absent"}`);
        }
      }
      expect({ seed, round, missing: missing.slice(0, 5) }).toEqual({ seed, round, missing: [] });
      const status = await store.status();
      expect(status.revision).toBeGreaterThanOrEqual(Math.max(...all.values()));
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    db.close();
  }
});
