/**
 * The conformance suite every {@link Store} backend passes unchanged (the embedded one now, etcd later). It assumes
 * nothing of a backend but the {@link Store} interface and two hooks: `advance` (time passes: a fake clock plus an
 * expiry pass for the embedded store, real sleeps for etcd) and `reopen`. Each test writes under its own random
 * prefix and checks revisions relative to what it wrote, so a shared etcd cluster can run it too; tests run one
 * after the other (bun:test runs a file's tests in order).
 */
import { describe, expect, test } from "bun:test";
import { isStoreError, MAX_REQUEST_BYTES, MAX_TXN_OPS, type StoreCode } from "./_errors.ts";
import type { Store, Watch, WatchEvent } from "./_types.ts";

/** Hooks of a backend under test. */
export interface ConformanceOptions {
  /**
   * Lets at least `ms` of the store's time pass and, once it has, lets the store expire what is due (the embedded
   * store: advance its fake clock and call `expireLeases`; etcd: sleep `ms` plus the leader's expiry delay).
   */
  advance(store: Store, ms: number): Promise<void>;
  /** Closes `store` and opens the same data again (etcd: a new client). */
  reopen(store: Store): Promise<Store>;
  /** Upper bound of any single wait for a watch event, in milliseconds (default 5000): a bound, not a threshold. */
  waitMs?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : dec.decode(v));

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectCode(p: Promise<unknown>, code: StoreCode): Promise<void> {
  const e = await failure(p);
  if (!isStoreError(e, code)) throw new Error(`want ${code}, got ${String(e)}`);
}

/** Reads exactly `n` events from `w`, failing after `waitMs` without them. */
async function take(w: Watch, n: number, waitMs: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const it = w[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), waitMs);
  });
  try {
    for (let i = 0; i < n; i++) {
      const r = await Promise.race([it.next(), deadline]);
      if (r === "timeout") throw new Error(`watch: got ${out.length} of ${n} events within ${waitMs} ms`);
      if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events`);
      out.push(r.value);
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
}

const brief = (events: WatchEvent[]): string[] =>
  events.map((e) => `${e.type} ${e.kv.key} @${e.kv.modRevision}${e.type === "put" ? ` =${text(e.kv.value)}` : ""}`);

/** Registers the conformance tests of one backend: `open` gives a fresh, open store for each test. */
export function describeStoreConformance(name: string, open: () => Promise<Store>, opts: ConformanceOptions): void {
  const waitMs = opts.waitMs ?? 5000;
  let n = 0;
  /** Runs `fn` with an open store and a fresh key prefix; closes the store whatever happens. */
  const withStore = async (fn: (s: Store, p: string, set: (s: Store) => void) => Promise<void>): Promise<void> => {
    let store = await open();
    const p = `/conformance/${Date.now().toString(36)}-${++n}-${Math.random().toString(36).slice(2, 8)}/`;
    try {
      await fn(store, p, (s) => {
        store = s;
      });
    } finally {
      await store.close();
    }
  };

  describe(`store conformance: ${name}`, () => {
    test("revisions rise by one per change; versions count puts since creation", () =>
      withStore(async (s, p) => {
        const r1 = await s.put(`${p}a`, "1");
        const r2 = await s.put(`${p}b`, "1");
        const r3 = await s.put(`${p}a`, enc.encode("2"));
        expect([r2 - r1, r3 - r2]).toEqual([1, 1]);
        const a = await s.get(`${p}a`);
        expect(a && { ...a, value: text(a.value) }).toEqual({ key: `${p}a`, value: "2", createRevision: r1, modRevision: r3, version: 2 });
        const d = await s.delete(`${p}a`);
        expect(d).toEqual({ deleted: 1, revision: r3 + 1 });
        expect(await s.get(`${p}a`)).toBeUndefined();
        expect((await s.delete(`${p}a`)).deleted).toBe(0);
        expect((await s.status()).revision).toBe(r3 + 1);
        const r5 = await s.put(`${p}a`, "3");
        expect(r5).toBe(r3 + 2);
        expect(await s.get(`${p}a`)).toMatchObject({ createRevision: r5, modRevision: r5, version: 1 });
        await expectCode(s.put("", "x"), "STORE_INVALID");
      }));

    test("range by prefix and by [start, end), with a limit, now and at an older revision", () =>
      withStore(async (s, p) => {
        const r0 = await s.put(`${p}b`, "b0");
        for (const k of ["a", "c", "d/x", "b"]) await s.put(`${p}${k}`, k);
        await s.put(`${p.slice(0, -1)}~outside`, "x");
        const all = await s.range(p);
        expect(all.kvs.map((kv) => kv.key.slice(p.length))).toEqual(["a", "b", "c", "d/x"]);
        expect(all.more).toBe(false);
        const two = await s.range({ prefix: p }, { limit: 2 });
        expect(two.kvs.map((kv) => kv.key.slice(p.length))).toEqual(["a", "b"]);
        expect(two.more).toBe(true);
        const mid = await s.range({ start: `${p}b`, end: `${p}d` });
        expect(mid.kvs.map((kv) => kv.key.slice(p.length))).toEqual(["b", "c"]);
        const old = await s.range(p, { revision: r0 });
        expect(old.kvs.map((kv) => [kv.key.slice(p.length), text(kv.value)])).toEqual([["b", "b0"]]);
        expect(old.revision).toBe(all.revision);
        const gone = await s.delete({ prefix: `${p}d/` });
        expect(gone.deleted).toBe(1);
        expect((await s.range(p)).kvs.length).toBe(3);
        await expectCode(s.range(p, { revision: all.revision + 1000 }), "STORE_FUTURE_REVISION");
      }));

    test("txn: every compare target and operator, both branches, one revision for all writes", () =>
      withStore(async (s, p) => {
        const r1 = await s.put(`${p}k`, "m");
        const kv = { key: `${p}k` };
        const cases: [Parameters<Store["txn"]>[0]["compare"][number], boolean][] = [
          [{ ...kv, target: "value", op: "=", value: "m" }, true],
          [{ ...kv, target: "value", op: "!=", value: "m" }, false],
          [{ ...kv, target: "value", op: "<", value: "n" }, true],
          [{ ...kv, target: "value", op: ">", value: enc.encode("n") }, false],
          [{ ...kv, target: "version", op: "=", value: 1 }, true],
          [{ ...kv, target: "version", op: ">", value: 1 }, false],
          [{ ...kv, target: "createRevision", op: "=", value: r1 }, true],
          [{ ...kv, target: "createRevision", op: "<", value: r1 }, false],
          [{ ...kv, target: "modRevision", op: "<", value: r1 + 1 }, true],
          [{ ...kv, target: "modRevision", op: "!=", value: r1 }, false],
          [{ key: `${p}missing`, target: "version", op: "=", value: 0 }, true],
          [{ key: `${p}missing`, target: "createRevision", op: "=", value: 0 }, true],
          [{ key: `${p}missing`, target: "value", op: "!=", value: "x" }, false],
        ];
        for (const [c, want] of cases) {
          const t = await s.txn({ compare: [c], success: [{ get: `${p}k` }], failure: [] });
          expect([c, t.succeeded]).toEqual([c, want]);
          expect(t.revision).toBe(r1);
        }
        const ok = await s.txn({
          compare: [{ key: `${p}lock`, target: "version", op: "=", value: 0 }],
          success: [
            { put: { key: `${p}lock`, value: "me" } },
            { put: { key: `${p}other`, value: "x" } },
            { delete: `${p}k` },
            { range: p },
          ],
          failure: [{ get: `${p}lock` }],
        });
        expect(ok.succeeded).toBe(true);
        expect(ok.revision).toBe(r1 + 1);
        expect(ok.results.slice(0, 3)).toEqual([{ put: { revision: r1 + 1 } }, { put: { revision: r1 + 1 } }, { delete: { deleted: 1 } }]);
        const [lock, other] = await Promise.all([s.get(`${p}lock`), s.get(`${p}other`)]);
        expect([lock?.modRevision, other?.modRevision, await s.get(`${p}k`)]).toEqual([r1 + 1, r1 + 1, undefined]);
        const again = await s.txn({
          compare: [{ key: `${p}lock`, target: "version", op: "=", value: 0 }],
          success: [{ put: { key: `${p}lock`, value: "you" } }],
          failure: [{ get: `${p}lock` }],
        });
        expect(again.succeeded).toBe(false);
        expect(again.revision).toBe(r1 + 1);
        const got = again.results[0];
        expect(got && "get" in got ? text(got.get?.value) : "none").toBe("me");
        await expectCode(
          s.txn({ compare: [], success: [{ put: { key: `${p}z`, value: "1" } }, { put: { key: `${p}z`, value: "2" } }] }),
          "STORE_INVALID",
        );
        // A failing operation undoes the ones before it: all or nothing.
        const dead = await s.grant(60);
        await s.revoke(dead);
        await expectCode(
          s.txn({
            compare: [],
            success: [{ put: { key: `${p}first`, value: "1" } }, { put: { key: `${p}second`, value: "2", lease: dead } }],
          }),
          "STORE_LEASE_NOT_FOUND",
        );
        expect([await s.get(`${p}first`), (await s.status()).revision]).toEqual([undefined, r1 + 1]);
      }));

    test("a watch from a revision sees exactly the history, in order, then live changes", () =>
      withStore(async (s, p) => {
        const r1 = await s.put(`${p}a`, "1");
        await s.put(`${p.slice(0, -1)}-not/x`, "outside");
        await s.txn({ compare: [], success: [{ put: { key: `${p}b`, value: "2" } }, { put: { key: `${p}c`, value: "3" } }] });
        const rd = (await s.delete(`${p}a`)).revision;
        const w = s.watch(p, { fromRevision: r1 });
        const first = await take(w, 4, waitMs);
        expect(brief(first)).toEqual([`put ${p}a @${r1} =1`, `put ${p}b @${r1 + 2} =2`, `put ${p}c @${r1 + 2} =3`, `delete ${p}a @${rd}`]);
        expect(first[1]?.kv).toMatchObject({ createRevision: r1 + 2, version: 1 });
        // A reader already waiting is woken by the write.
        const waiting = take(w, 1, waitMs);
        const r5 = await s.put(`${p}b`, "4");
        const live = await waiting;
        expect(brief(live)).toEqual([`put ${p}b @${r5} =4`]);
        expect(live[0]?.kv.version).toBe(2);
        w.cancel();
        const end = await w[Symbol.asyncIterator]().next();
        expect(end.done).toBe(true);
        const one = s.watch({ start: `${p}c`, end: `${p}d` }, { fromRevision: r1 });
        expect(brief(await take(one, 1, waitMs))).toEqual([`put ${p}c @${r1 + 2} =3`]);
        one.cancel();
      }));

    test("after compaction, reads and watches from before it fail with STORE_COMPACTED and the compact revision", () =>
      withStore(async (s, p) => {
        const r0 = await s.put(`${p}j`, "old");
        const r1 = await s.put(`${p}k`, "1");
        const r2 = await s.put(`${p}k`, "2");
        const r3 = await s.put(`${p}k`, "3");
        await s.put(`${p}j`, "new");
        await s.put(`${p}gone`, "x");
        await s.delete(`${p}k`);
        await s.compact(r2);
        expect((await s.status()).compactRevision).toBe(r2);
        const w = s.watch(p, { fromRevision: r1 });
        const e = await failure(take(w, 1, waitMs));
        expect(isStoreError(e, "STORE_COMPACTED") ? e.compactRevision : e).toBe(r2);
        w.cancel();
        const r = await failure(s.range(p, { revision: r0 }));
        expect(isStoreError(r, "STORE_COMPACTED") ? r.compactRevision : r).toBe(r2);
        // What was current at the compact revision is still readable there, even when changed since.
        expect((await s.range(p, { revision: r2 })).kvs.map((kv) => `${kv.key.slice(p.length)}=${text(kv.value)}`)).toEqual([
          "j=old",
          "k=2",
        ]);
        expect((await s.range(p, { revision: r3 + 1 })).kvs.map((kv) => `${kv.key.slice(p.length)}=${text(kv.value)}`)).toEqual([
          "j=new",
          "k=3",
        ]);
        const after = s.watch(p, { fromRevision: r2 + 1 });
        expect(brief(await take(after, 4, waitMs))).toEqual([
          `put ${p}k @${r3} =3`,
          `put ${p}j @${r3 + 1} =new`,
          `put ${p}gone @${r3 + 2} =x`,
          `delete ${p}k @${r3 + 3}`,
        ]);
        after.cancel();
        await s.delete(`${p}gone`);
        await s.compact(r3 + 4);
        expect((await s.range(p)).kvs.map((kv) => kv.key.slice(p.length))).toEqual(["j"]);
        await expectCode(s.compact(r1), "STORE_COMPACTED");
        await expectCode(s.compact(r3 + 1000), "STORE_FUTURE_REVISION");
      }));

    test("an expired lease deletes its keys, with delete events; keep-alive extends it", () =>
      withStore(async (s, p) => {
        const lease = await s.grant(4);
        const kept = await s.grant(4);
        const r1 = await s.put(`${p}a`, "1", { lease });
        await s.put(`${p}b`, "2", { lease });
        await s.put(`${p}kept`, "3", { lease: kept });
        expect((await s.get(`${p}a`))?.lease).toBe(lease);
        const w = s.watch(p, { fromRevision: r1 + 3 });
        await opts.advance(s, 2000);
        expect(await s.keepAlive(kept)).toBe(4);
        await opts.advance(s, 3000);
        // One revision deletes both; etcd does not promise their order within it.
        const events = (await take(w, 2, waitMs)).sort((x, y) => (x.kv.key < y.kv.key ? -1 : 1));
        expect(events.map((e) => [e.type, e.kv.key])).toEqual([
          ["delete", `${p}a`],
          ["delete", `${p}b`],
        ]);
        expect(events[0]?.kv.modRevision).toBe(events[1]?.kv.modRevision);
        expect(await s.get(`${p}a`)).toBeUndefined();
        expect(text((await s.get(`${p}kept`))?.value)).toBe("3");
        await expectCode(s.keepAlive(lease), "STORE_LEASE_NOT_FOUND");
        await expectCode(s.put(`${p}c`, "x", { lease }), "STORE_LEASE_NOT_FOUND");
        await opts.advance(s, 3000);
        expect(await s.get(`${p}kept`)).toBeUndefined();
        w.cancel();
      }));

    test("revoke deletes the lease's keys at once, with delete events", () =>
      withStore(async (s, p) => {
        const lease = await s.grant(60);
        const r1 = await s.put(`${p}a`, "1", { lease });
        await s.put(`${p}free`, "2");
        const w = s.watch(p, { fromRevision: r1 + 2 });
        await s.revoke(lease);
        expect(brief(await take(w, 1, waitMs))).toEqual([`delete ${p}a @${r1 + 2}`]);
        expect(await s.get(`${p}a`)).toBeUndefined();
        expect(await s.get(`${p}free`)).toBeDefined();
        await expectCode(s.revoke(lease), "STORE_LEASE_NOT_FOUND");
        w.cancel();
      }));

    test("keys, revisions, leases and history survive a reopen", () =>
      withStore(async (s0, p, set) => {
        const lease = await s0.grant(600);
        const r1 = await s0.put(`${p}a`, "1");
        const r2 = await s0.put(`${p}b`, "2", { lease });
        const r3 = await s0.put(`${p}a`, "3");
        const s = await opts.reopen(s0);
        set(s);
        expect(await s.get(`${p}a`)).toMatchObject({ createRevision: r1, modRevision: r3, version: 2 });
        expect((await s.get(`${p}b`))?.lease).toBe(lease);
        expect(await s.keepAlive(lease)).toBe(600);
        expect(await s.put(`${p}c`, "4")).toBe(r3 + 1);
        const w = s.watch(p, { fromRevision: r1 });
        expect(brief(await take(w, 4, waitMs))).toEqual([
          `put ${p}a @${r1} =1`,
          `put ${p}b @${r2} =2`,
          `put ${p}a @${r3} =3`,
          `put ${p}c @${r3 + 1} =4`,
        ]);
        w.cancel();
        await s.revoke(lease);
      }));

    test("limits: a put over 1.5 MiB and a transaction over 128 operations are refused, nothing written", () =>
      withStore(async (s, p) => {
        const before = (await s.status()).revision;
        await expectCode(s.put(`${p}big`, new Uint8Array(MAX_REQUEST_BYTES + 1)), "STORE_TOO_LARGE");
        const many = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ put: { key: `${p}k${i}`, value: "v" } }));
        await expectCode(s.txn({ compare: [], success: many }), "STORE_TOO_MANY_OPS");
        await expectCode(
          s.txn({
            compare: [],
            success: [
              { put: { key: `${p}h1`, value: new Uint8Array(MAX_REQUEST_BYTES / 2 + 1) } },
              { put: { key: `${p}h2`, value: new Uint8Array(MAX_REQUEST_BYTES / 2 + 1) } },
            ],
          }),
          "STORE_TOO_LARGE",
        );
        expect((await s.status()).revision).toBe(before);
        expect((await s.range(p)).kvs).toEqual([]);
        const r = await s.put(`${p}mib`, new Uint8Array(1024 * 1024).fill(7));
        expect((await s.get(`${p}mib`))?.value.length).toBe(1024 * 1024);
        const t = await s.txn({ compare: [], success: many.slice(0, MAX_TXN_OPS) });
        expect(t.revision).toBe(r + 1);
        expect((await s.range(p, { limit: 1 })).more).toBe(true);
      }));

    test("a closed store refuses calls with STORE_CLOSED and ends its watches", () =>
      withStore(async (s0, p, set) => {
        const s = await opts.reopen(s0);
        set(s);
        const w = s.watch(p);
        const pending = w[Symbol.asyncIterator]().next();
        await s.close();
        expect((await pending).done).toBe(true);
        await expectCode(s.get(`${p}a`), "STORE_CLOSED");
        await expectCode(s.put(`${p}a`, "1"), "STORE_CLOSED");
      }));
  });
}
