import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeStoreConformance } from "./_conformance.ts";
import { type EmbeddedStore, isStoreError, openEmbeddedStore, type Store, type StoreCode } from "./index.ts";

const root = mkdtempSync(join(tmpdir(), "vaquero-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake clock per store file, so reopening keeps the time. */
const clocks = new Map<string, { t: number }>();
let files = 0;

async function openAt(path: string): Promise<EmbeddedStore> {
  let clock = clocks.get(path);
  if (!clock) {
    clock = { t: 1_700_000_000_000 };
    clocks.set(path, clock);
  }
  const c = clock;
  return openEmbeddedStore({ path, now: () => c.t, leaseCheckMs: false });
}

describeStoreConformance("embedded", () => openAt(join(root, `conformance-${++files}.db`)), {
  async advance(store: Store, ms: number) {
    const s = store as EmbeddedStore;
    const c = clocks.get(s.path);
    if (c) c.t += ms;
    await s.expireLeases();
  },
  async reopen(store: Store) {
    const path = (store as EmbeddedStore).path;
    await store.close();
    return openAt(path);
  },
});

async function code(p: Promise<unknown>): Promise<StoreCode | string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  return isStoreError(e) ? e.code : String(e);
}

describe("embedded store", () => {
  test("a second open of the same file is refused with STORE_LOCKED, in this process and in another", async () => {
    const path = join(root, "locked.db");
    const s = await openAt(path);
    expect(await code(openAt(path))).toBe("STORE_LOCKED");
    const script = `import { openEmbeddedStore } from ${JSON.stringify(join(import.meta.dir, "index.ts"))};
      try { await openEmbeddedStore({ path: ${JSON.stringify(path)} }); console.log("opened"); } catch (e) { console.log(e.code, e.message); }`;
    const child = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const out = child.stdout.toString();
    expect(out).toStartWith("STORE_LOCKED");
    expect(out).toContain(path);
    await s.put("/k", "still mine");
    await s.close();
    const again = await openAt(path);
    expect((await again.get("/k"))?.version).toBe(1);
    await again.close();
  });

  test("a file that is not a store is refused with STORE_CORRUPT naming it, and left untouched", async () => {
    const junk = join(root, "junk.db");
    const bytes = Buffer.from("this is not SQLite at all, just a file someone put here\n".repeat(200));
    writeFileSync(junk, bytes);
    const err = await openAt(junk).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreError(err, "STORE_CORRUPT") && err.message).toContain(junk);
    expect(readFileSync(junk).equals(bytes)).toBe(true);

    const { Database } = await import("bun:sqlite");
    const other = join(root, "other.db");
    const db = new Database(other, { create: true });
    db.run("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
    db.close();
    const before = readFileSync(other);
    expect(await code(openAt(other))).toBe("STORE_CORRUPT");
    expect(readFileSync(other).equals(before)).toBe(true);
  });

  test("a missing directory, or one that is a file, is refused with STORE_OPEN", async () => {
    expect(await code(openAt(join(root, "no-such-dir", "vaquero.db")))).toBe("STORE_OPEN");
    writeFileSync(join(root, "plain-file"), "x");
    const e = await openAt(join(root, "plain-file", "vaquero.db")).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isStoreError(e, "STORE_OPEN") && e.exitCode).toBe(2);
  });

  test("leases whose deadline passed while the store was closed expire on open, with delete events", async () => {
    const path = join(root, "lease-closed.db");
    const s = await openAt(path);
    const lease = await s.grant(10);
    const r = await s.put("/l/a", "1", { lease });
    await s.close();
    const c = clocks.get(path);
    if (c) c.t += 11_000;
    const again = await openAt(path);
    expect(await again.get("/l/a")).toBeUndefined();
    const events = [];
    const w = again.watch("/l/", { fromRevision: r + 1 });
    for await (const ev of w) {
      events.push(ev);
      break;
    }
    expect(events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual([["delete", "/l/a", r + 1]]);
    expect(await code(again.keepAlive(lease))).toBe("STORE_LEASE_NOT_FOUND");
    await again.close();
  });

  test("a watch reads long histories in batches without losing or repeating an event", async () => {
    const s = await openAt(join(root, "batches.db"));
    const first = await s.put("/w/first", "0");
    for (let b = 0; b < 3; b++) {
      await s.txn({ compare: [], success: Array.from({ length: 128 }, (_, i) => ({ put: { key: `/w/${b}/${i}`, value: String(i) } })) });
    }
    for (let i = 0; i < 300; i++) await s.put(`/w/single/${i % 7}`, String(i));
    const seen: string[] = [];
    const w = s.watch("/w/", { fromRevision: first });
    for await (const ev of w) {
      seen.push(`${ev.kv.modRevision} ${ev.kv.key}`);
      if (seen.length === 1 + 3 * 128 + 300) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen[1]).toBe(`${first + 1} /w/0/0`);
    expect(seen[128]).toBe(`${first + 1} /w/0/127`);
    expect(seen[129]).toBe(`${first + 2} /w/1/0`);
    expect(seen.at(-1)).toBe(`${first + 3 + 300} /w/single/${299 % 7}`);
    await s.close();
  });

  test("a directory that is not writable is refused with STORE_OPEN", async () => {
    // Root writes through file modes: sysfs refuses new files even to root.
    const ro = process.getuid?.() === 0 ? "/sys" : join(root, "read-only");
    if (ro !== "/sys") mkdirSync(ro, { mode: 0o555 });
    expect(await code(openAt(join(ro, "vaquero.db")))).toBe("STORE_OPEN");
  });

  test("FULL durability opens and writes like NORMAL", async () => {
    const s = await openEmbeddedStore({ path: join(root, "full.db"), durability: "FULL", leaseCheckMs: false });
    expect(await s.put("/f", "1")).toBe(2);
    await s.close();
  });

  test("the lease timer expires leases by itself", async () => {
    let t = 0;
    const s = await openEmbeddedStore({ path: join(root, "timer.db"), now: () => t, leaseCheckMs: 5 });
    const lease = await s.grant(1);
    await s.put("/t", "1", { lease });
    t = 2000;
    const w = s.watch("/t");
    for await (const ev of w) {
      expect([ev.type, ev.kv.key]).toEqual(["delete", "/t"]);
      break;
    }
    await s.close();
  });
});
