import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../internal/log/index.ts";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "../sot/index.ts";
import { createRateLimiter } from "./_ratelimit.ts";
import { createAgentApp, stageSite, withClientIp } from "./index.ts";

describe("token buckets", () => {
  test("a burst, then one token per 1/perSecond; other clients are not affected", () => {
    let t = 0;
    const l = createRateLimiter({ perSecond: 2, burst: 3, now: () => t });
    expect([l.take("a"), l.take("a"), l.take("a")].every((d) => d.ok)).toBe(true);
    expect(l.take("a")).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(l.take("b").ok).toBe(true);
    t = 500;
    expect(l.take("a").ok).toBe(true);
    expect(l.take("a").ok).toBe(false);
    t = 100_000;
    expect([l.take("a"), l.take("a"), l.take("a"), l.take("a")].map((d) => d.ok)).toEqual([true, true, true, false]);
  });
  test("memory is bounded: the least recently used client is dropped", () => {
    const l = createRateLimiter({ perSecond: 1, burst: 1, maxClients: 100, now: () => 0 });
    for (let i = 0; i < 1000; i++) l.take(`10.0.${i >> 8}.${i & 255}`);
    expect(l.size()).toBe(100);
  });
});

describe("the agent's boot endpoints are rate-limited per client address", () => {
  test("past the burst: 429 with Retry-After and a message naming the client; status pages and other clients unaffected", async () => {
    const r = await compileTree(memTree(baseSot()));
    const bundle = r.sites.get("s1")?.bundle;
    if (!bundle) throw new Error("no bundle");
    let t = 0;
    const app = createAgentApp({
      site: () => stageSite(bundle, "dir-test", () => new Date(0)),
      log: silentLogger(),
      bootRate: 2,
      bootRateClock: () => t,
    });
    const get = (ip: string, path: string) => app.handle(withClientIp(new Request(`http://10.0.0.2:8080${path}`), ip));
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await get("10.0.0.50", "/boot.ipxe")).status);
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429]);
    const refused = await get("10.0.0.50", "/config/52:54:00:00:00:01");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toEqual({ error: { code: "RATE_LIMITED", message: "too many requests from 10.0.0.50; retry in 1 s" } });
    expect((await get("10.0.0.50", "/status")).status).toBe(200);
    expect((await get("10.0.0.51", "/boot.ipxe")).status).toBe(200);
    t += 1000;
    expect((await get("10.0.0.50", "/boot.ipxe")).status).toBe(200);
    const off = createAgentApp({ site: () => stageSite(bundle, "dir-test", () => new Date(0)), log: silentLogger(), bootRate: 0 });
    for (let i = 0; i < 200; i++)
      expect((await off.handle(withClientIp(new Request("http://10.0.0.2:8080/boot.ipxe"), "10.0.0.9"))).status).toBe(200);
  });
});
