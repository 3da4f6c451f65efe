import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EmbeddedStore, openEmbeddedStore, type Store, StoreError } from "../store/index.ts";
import { type CoordClock, createElection, createMutex, createSession, isCoordError, type Leader } from "./index.ts";

const root = mkdtempSync(join(tmpdir(), "vaquero-coord-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake clock shared by the store's leases and the sessions' timers. */
function fakeClock(): CoordClock & { t: number; advance(ms: number): Promise<void> } {
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const clock = {
    t: 1_700_000_000_000,
    now: () => clock.t,
    setTimeout(fn: () => void, ms: number) {
      const id = ++ids;
      timers.push({ at: clock.t + ms, fn, id });
      return id;
    },
    clearTimeout(h: unknown) {
      const i = timers.findIndex((x) => x.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
    /** Moves time in 10 ms steps, running due timers and letting their promises settle. */
    async advance(ms: number) {
      const end = clock.t + ms;
      for (let i = 0; i < 100_000 && clock.t < end; i++) {
        clock.t = Math.min(end, clock.t + 10);
        timers.sort((a, b) => a.at - b.at);
        for (let due = timers[0]; due && due.at <= clock.t; due = timers[0]) {
          timers.shift();
          due.fn();
          await settle();
        }
      }
      await settle();
    },
  };
  return clock;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Bun.sleep(0);
}

let files = 0;
async function setup(): Promise<{ store: EmbeddedStore; clock: ReturnType<typeof fakeClock>; tick(ms: number): Promise<void> }> {
  const clock = fakeClock();
  const store = await openEmbeddedStore({ path: join(root, `coord-${++files}.db`), now: () => clock.t, leaseCheckMs: false });
  return {
    store,
    clock,
    async tick(ms) {
      await clock.advance(ms);
      await store.expireLeases();
      await settle();
    },
  };
}

const state = <T>(p: Promise<T>): { settled: () => boolean; value: () => T | undefined; error: () => unknown } => {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      error = e;
    },
  );
  return { settled: () => done, value: () => value, error: () => error };
};

describe("session", () => {
  test("keeps its lease alive over many TTLs; close revokes it and deletes its keys", async () => {
    const { store, clock, tick } = await setup();
    const s = await createSession(store, { ttlSeconds: 2, clock });
    await store.put("/k", "v", { lease: s.lease });
    await tick(10_000);
    expect(s.isDone()).toBe(false);
    expect(await store.get("/k")).toBeDefined();
    await s.close();
    expect(await s.done).toEqual({ reason: "closed" });
    expect(await store.get("/k")).toBeUndefined();
    await store.close();
  });

  test("a revoked lease ends the session at the next keep-alive", async () => {
    const { store, clock, tick } = await setup();
    const s = await createSession(store, { ttlSeconds: 3, clock });
    await store.revoke(s.lease);
    await tick(1000);
    expect((await s.done).reason).toBe("lease-lost");
    await store.close();
  });

  test("an unreachable store ends the session one TTL after the last renewal, before the lease could outlive it", async () => {
    const { store, clock, tick } = await setup();
    let down = false;
    const flaky: Store = {
      ...store,
      keepAlive: (id) => (down ? Promise.reject(new StoreError("STORE_UNAVAILABLE", "down")) : store.keepAlive(id)),
    };
    const s = await createSession(flaky, { ttlSeconds: 2, clock });
    await tick(1000);
    down = true;
    const renewed = clock.t;
    // The last renewal was at most a keep-alive period (666 ms) before the store went down.
    await tick(1000);
    expect(s.isDone()).toBe(false);
    await tick(1000);
    const end = await s.done;
    expect(end.reason).toBe("expired");
    expect(end.reason === "expired" && end.lastRenewedAt <= renewed).toBe(true);
    await store.close();
  });
});

describe("election", () => {
  test("first campaigner leads; the next leads when it resigns; observe sees both", async () => {
    const { store, clock, tick } = await setup();
    const [sa, sb] = [await createSession(store, { clock }), await createSession(store, { clock })];
    const a = createElection(sa, "/vaquero/leader");
    const b = createElection(sb, "/vaquero/leader/");
    await a.campaign("a");
    const seen: Leader[] = [];
    const stop = new AbortController();
    const watching = (async () => {
      for await (const l of b.observe({ signal: stop.signal })) seen.push(l);
    })();
    const bWins = state(b.campaign("b"));
    await tick(3000);
    expect(bWins.settled()).toBe(false);
    expect((await b.leader())?.value).toBe("a");
    await a.proclaim("a2");
    await a.resign();
    await tick(10);
    expect(bWins.settled() && bWins.error()).toBe(undefined);
    expect((await a.leader())?.value).toBe("b");
    stop.abort();
    await watching;
    expect(seen.map((l) => l.value)).toEqual(["a", "a2", "b"]);
    await sa.close();
    await sb.close();
    await store.close();
  });

  test("a leader whose process stops renewing loses to the next candidate within its TTL", async () => {
    const { store, clock, tick } = await setup();
    const deadClock = fakeClock(); // never advanced: the leader's keep-alives stop, as if it were killed
    deadClock.t = clock.t;
    const sa = await createSession(store, { ttlSeconds: 2, clock: deadClock });
    const sb = await createSession(store, { ttlSeconds: 2, clock });
    await createElection(sa, "/e/").campaign("a");
    const bWins = state(createElection(sb, "/e/").campaign("b"));
    await tick(1500);
    expect(bWins.settled()).toBe(false);
    await tick(600);
    expect(bWins.settled() && bWins.error()).toBe(undefined);
    expect(sb.isDone()).toBe(false);
    await sb.close();
    await store.close();
  });

  test("a campaign fails with COORD_SESSION_LOST when its session ends, and COORD_ABORTED when aborted, withdrawing", async () => {
    const { store, clock, tick } = await setup();
    const [sa, sb, sc] = [
      await createSession(store, { clock }),
      await createSession(store, { clock }),
      await createSession(store, { clock }),
    ];
    await createElection(sa, "/e/").campaign("a");
    const b = createElection(sb, "/e/");
    const lost = state(b.campaign("b"));
    const ctl = new AbortController();
    const c = createElection(sc, "/e/");
    const aborted = state(c.campaign("c", { signal: ctl.signal }));
    await tick(100);
    await store.revoke(sb.lease);
    ctl.abort();
    await tick(1000);
    expect(isCoordError(lost.error(), "COORD_SESSION_LOST")).toBe(true);
    expect(isCoordError(aborted.error(), "COORD_ABORTED")).toBe(true);
    expect((await store.range("/e/")).kvs.length).toBe(1);
    await store.close();
  });
});

describe("mutex", () => {
  test("waiters get the lock in the order they asked; tryLock fails while held", async () => {
    const { store, clock, tick } = await setup();
    const sessions = [];
    for (let i = 0; i < 4; i++) sessions.push(await createSession(store, { clock }));
    const [m0, m1, m2, m3] = sessions.map((s) => createMutex(s, "/lock"));
    if (!m0 || !m1 || !m2 || !m3) throw new Error("four mutexes");
    await m0.lock();
    const order: number[] = [];
    const w1 = m1.lock().then(() => order.push(1));
    await tick(10);
    const w2 = m2.lock().then(() => order.push(2));
    await tick(10);
    expect(await m3.tryLock()).toBe(false);
    expect([m0.held(), m1.held(), m2.held()]).toEqual([true, false, false]);
    await m0.unlock();
    await w1;
    await tick(10);
    expect(order).toEqual([1]);
    await m1.unlock();
    await w2;
    expect(order).toEqual([1, 2]);
    await m2.unlock();
    expect(await m3.tryLock()).toBe(true);
    for (const s of sessions) await s.close();
    await store.close();
  });
});
