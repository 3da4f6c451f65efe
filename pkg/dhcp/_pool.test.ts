import { describe, expect, test } from "bun:test";
import { createLeasePool } from "./_pool.ts";

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
