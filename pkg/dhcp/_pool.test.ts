import { describe, expect, test } from "bun:test";
import { createLeasePool, type PoolChange, type PoolLease } from "./_pool.ts";

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};
const A = "52:54:00:00:00:0a";
const B = "52:54:00:00:00:0b";

describe("lease pool", () => {
  test("two clients asking at once never get the same address", () => {
    const c = clock();
    const pool = createLeasePool({ start: "10.0.0.10", end: "10.0.0.11", leaseSeconds: 60, now: c.now });
    const a = pool.offer(A);
    const b = pool.offer(B);
    expect(a).toBe("10.0.0.10");
    expect(b).toBe("10.0.0.11");
    expect(pool.offer("52:54:00:00:00:0c")).toBeUndefined();
    expect(pool.bind(B, "10.0.0.10")).toBe(false);
    expect(pool.bind(A, "10.0.0.10")).toBe(true);
  });
  test("a client keeps its address; an offer expires, a lease lasts its time", () => {
    const c = clock();
    const pool = createLeasePool({ start: "10.0.0.10", end: "10.0.0.10", leaseSeconds: 60, offerSeconds: 5, now: c.now });
    expect(pool.offer(A)).toBe("10.0.0.10");
    expect(pool.offer(A)).toBe("10.0.0.10");
    c.advance(6000);
    expect(pool.offer(B)).toBe("10.0.0.10");
    expect(pool.bind(B, "10.0.0.10")).toBe(true);
    c.advance(59_000);
    expect(pool.offer(A)).toBeUndefined();
    c.advance(2000);
    expect(pool.offer(A)).toBe("10.0.0.10");
  });
  test("excluded addresses (reservations) are never handed out; a requested address is honoured when free", () => {
    const c = clock();
    const pool = createLeasePool({ start: "10.0.0.10", end: "10.0.0.12", exclude: ["10.0.0.10"], leaseSeconds: 60, now: c.now });
    expect(pool.offer(A, "10.0.0.12")).toBe("10.0.0.12");
    expect(pool.offer(B, "10.0.0.10")).toBe("10.0.0.11");
    expect(pool.bind(B, "10.0.0.10")).toBe(false);
  });
  test("release frees, decline quarantines", () => {
    const c = clock();
    const pool = createLeasePool({ start: "10.0.0.10", end: "10.0.0.10", leaseSeconds: 60, declineSeconds: 10, now: c.now });
    pool.bind(A, "10.0.0.10");
    pool.release(B, "10.0.0.10");
    expect(pool.offer(B)).toBeUndefined();
    pool.release(A, "10.0.0.10");
    expect(pool.offer(B)).toBe("10.0.0.10");
    pool.decline(B, "10.0.0.10");
    expect(pool.offer(A)).toBeUndefined();
    c.advance(11_000);
    expect(pool.offer(A)).toBe("10.0.0.10");
  });
  test("leases survive a restart through leases()", () => {
    const c = clock();
    const p1 = createLeasePool({ start: "10.0.0.10", end: "10.0.0.20", leaseSeconds: 60, now: c.now });
    p1.bind(A, "10.0.0.15");
    const p2 = createLeasePool({ start: "10.0.0.10", end: "10.0.0.20", leaseSeconds: 60, now: c.now, leases: p1.leases() });
    expect(p2.offer(B, "10.0.0.15")).not.toBe("10.0.0.15");
    expect(p2.offer(A)).toBe("10.0.0.15");
  });
});

describe("lease pool: changes for persistence", () => {
  const setup = (extra: Partial<Parameters<typeof createLeasePool>[0]> = {}) => {
    const c = clock();
    const changes: PoolChange[] = [];
    const pool = createLeasePool({
      start: "10.0.0.10",
      end: "10.0.0.12",
      leaseSeconds: 60,
      offerSeconds: 5,
      declineSeconds: 10,
      now: c.now,
      onChange: (ch) => changes.push(ch),
      ...extra,
    });
    return { c, changes, pool };
  };

  test("offers are not told; a bind and a renewal are, with the new expiry", () => {
    const { c, changes, pool } = setup();
    expect(pool.offer(A)).toBe("10.0.0.10");
    expect(changes).toEqual([]);
    pool.bind(A, "10.0.0.10");
    c.advance(30_000);
    expect(pool.offer(A)).toBe("10.0.0.10");
    pool.bind(A, "10.0.0.10");
    expect(changes).toEqual([
      { mac: A, ip: "10.0.0.10", state: "bound", expires: 1_000_000 + 60_000 },
      { mac: A, ip: "10.0.0.10", state: "bound", expires: 1_030_000 + 60_000 },
    ]);
  });

  test("release, decline and the reclaim of an expired lease are told; an expired offer is not", () => {
    const { c, changes, pool } = setup();
    pool.bind(A, "10.0.0.10");
    pool.release(B, "10.0.0.10");
    pool.release(A, "10.0.0.10");
    pool.decline(B, "10.0.0.11");
    pool.offer(B, "10.0.0.12");
    pool.bind(A, "10.0.0.10");
    changes.length = 0;
    c.advance(61_000);
    expect(pool.leases()).toEqual([]);
    expect(changes.sort((x, y) => (x.ip < y.ip ? -1 : 1))).toEqual([
      { ip: "10.0.0.10", removed: true },
      { ip: "10.0.0.11", removed: true },
    ]);
  });

  test("the told changes are exactly what a restart needs", () => {
    const { c, changes, pool } = setup();
    pool.bind(A, "10.0.0.11");
    pool.decline(B, "10.0.0.10");
    pool.bind(B, "10.0.0.12");
    pool.release(B, "10.0.0.12");
    const saved = new Map<string, PoolLease>();
    for (const ch of changes) {
      if ("removed" in ch) saved.delete(ch.ip);
      else saved.set(ch.ip, ch);
    }
    expect([...saved.keys()].sort()).toEqual(["10.0.0.10", "10.0.0.11"]);
    const again = createLeasePool({ start: "10.0.0.10", end: "10.0.0.12", leaseSeconds: 60, now: c.now, leases: [...saved.values()] });
    expect(again.offer(B, "10.0.0.11")).toBe("10.0.0.12");
    expect(again.offer(A)).toBe("10.0.0.11");
  });

  test("moving a bound client to another address frees the old one for the store", () => {
    const { changes, pool } = setup();
    pool.bind(A, "10.0.0.10");
    pool.bind(A, "10.0.0.12");
    expect(changes.slice(1)).toEqual([
      { ip: "10.0.0.10", removed: true },
      { mac: A, ip: "10.0.0.12", state: "bound", expires: 1_060_000 },
    ]);
  });
});
