/**
 * Leadership of `vaquero server` (pkg/control's startLeadership with pkg/coord) over the embedded store, in one
 * process: two instances elect one leader, the follower sees it and is ready; the leader's fenced write fails
 * with NOT_LEADER once its election key is gone, and the other instance takes over. The servers on etcd, as
 * processes: test/ha.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVaqueroError } from "../internal/errors/index.ts";
import { createLogger } from "../internal/log/index.ts";
import { type Coordination, ELECTION_PREFIX, type Leadership, type LeaderTerm, startLeadership } from "../pkg/control/index.ts";
import { createElection, createSession, type Session } from "../pkg/coord/index.ts";
import { openEmbeddedStore, type Store } from "../pkg/store/index.ts";

const dir = mkdtempSync(join(tmpdir(), "vq-leader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger({ level: "silent" });
const coord: Coordination = { createSession, createElection: (s, prefix) => createElection(s as Session, prefix) };
const open = (): Promise<Store> => openEmbeddedStore({ path: join(dir, "s.db"), leaseCheckMs: 20 });

/** Polls `f` until it returns something, at most `tries` times 20 ms apart. */
async function until<T>(f: () => T | undefined, what: string, tries = 500): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = f();
    if (v !== undefined) return v;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("leadership", () => {
  test("one leader of two; the other takes over when it stops; a deposed leader's write fails NOT_LEADER", async () => {
    const store = await open();
    const terms: { a: LeaderTerm[]; b: LeaderTerm[] } = { a: [], b: [] };
    const start = (name: "a" | "b"): Leadership =>
      startLeadership({ store, coord, ttlSeconds: 1, name, log, pollMs: 50, onLead: (t) => terms[name].push(t) });
    const a = start("a");
    await until(() => (a.role() === "leader" ? true : undefined), "a leads");
    const b = start("b");
    await until(() => (b.leader() === "a" && b.readiness().ready ? true : undefined), "b sees a");
    expect(b.role()).toBe("follower");
    expect(a.readiness()).toEqual({ ready: true });
    // A fenced write while leading lands.
    await a.store.txn({ compare: [], success: [{ put: { key: "/t/1", value: "x" } }] });
    expect(await store.get("/t/1")).toBeDefined();
    // Someone removes a's election key (as an expired lease would): its next fenced write fails.
    const key = terms.a[0]?.key ?? "";
    await store.delete(key);
    const err = await a.store.txn({ compare: [], success: [{ put: { key: "/t/2", value: "x" } }] }).catch((e: unknown) => e);
    expect(isVaqueroError(err, "NOT_LEADER")).toBe(true);
    expect(await store.get("/t/2")).toBeUndefined();
    expect(terms.a[0]?.signal.aborted).toBe(true);
    await until(() => (b.role() === "leader" || a.role() === "leader" ? true : undefined), "a new leader");
    await a.stop();
    await until(() => (b.role() === "leader" ? true : undefined), "b leads");
    expect((await store.range(ELECTION_PREFIX)).kvs.length).toBe(1);
    await b.stop();
    await store.close();
  });
});
