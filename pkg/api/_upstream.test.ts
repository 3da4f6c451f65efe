import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { upstreamUrl } from "./_upstream.ts";
import { type Clock, createUpstreamCache, type UpstreamCacheOptions } from "./index.ts";

const UPSTREAM = "https://mirror.example.org/boot";
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vq-upstream-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A clock whose timers fire only when the test says so. */
function manualClock() {
  const timers = new Set<() => void>();
  let started = 0;
  const clock: Clock = {
    after(_ms, fn) {
      started++;
      timers.add(fn);
      return () => timers.delete(fn);
    },
  };
  return {
    clock,
    pending: () => timers.size,
    started: () => started,
    fire() {
      const all = [...timers];
      timers.clear();
      for (const fn of all) fn();
    },
  };
}

/** Waits (a bounded number of event-loop turns) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await Bun.sleep(1);
  expect(cond()).toBe(true);
}

type FetchFn = NonNullable<UpstreamCacheOptions["fetch"]>;
const open = (fetch: FetchFn, extra: Partial<UpstreamCacheOptions> = {}) =>
  createUpstreamCache({ upstream: UPSTREAM, dir, log: silentLogger(), fetch, ...extra });
const leftovers = () => [...readdirSync(join(dir, "tmp")), ...readdirSync(join(dir, "files"), { recursive: true })];

describe("upstream cache", () => {
  test("a miss downloads once into the cache; then it is a hit", async () => {
    const urls: string[] = [];
    const cache = await open(async (url) => {
      urls.push(url);
      return new Response("kernel bytes", { headers: { "content-length": "12" } });
    });
    const first = await cache.get("flatcar/4081.2.0/vmlinuz");
    expect(first.hit).toBe(false);
    expect(readFileSync(first.path, "utf8")).toBe("kernel bytes");
    expect(first.path).toBe(join(dir, "files/flatcar/4081.2.0/vmlinuz"));
    expect((await cache.get("flatcar/4081.2.0/vmlinuz")).hit).toBe(true);
    expect(urls).toEqual(["https://mirror.example.org/boot/flatcar/4081.2.0/vmlinuz"]);
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, shared: 0, errors: 0, bytes: 12 });
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  test("concurrent requests for one file share one download", async () => {
    let calls = 0;
    let push: ReadableStreamDefaultController<Uint8Array> | undefined;
    const cache = await open(async () => {
      calls++;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          push = c;
        },
      });
      return new Response(body, { headers: { "content-length": "6" } });
    });
    const all = Promise.all([cache.get("a/b.img"), cache.get("a/b.img"), cache.get("a/b.img")]);
    await until(() => push !== undefined && cache.stats().shared === 2);
    push?.enqueue(new TextEncoder().encode("abc"));
    push?.enqueue(new TextEncoder().encode("def"));
    push?.close();
    const got = await all;
    expect(calls).toBe(1);
    expect(got.map((g) => readFileSync(g.path, "utf8"))).toEqual(["abcdef", "abcdef", "abcdef"]);
    expect(cache.stats()).toMatchObject({ misses: 1, shared: 2 });
  });

  test("upstream 404 is ASSET_NOT_FOUND, a 5xx or an unreachable upstream UPSTREAM_FAILED naming it; nothing is left", async () => {
    const answers: (() => Promise<Response>)[] = [
      async () => new Response("no", { status: 404 }),
      async () => new Response("oops", { status: 503 }),
      async () => {
        throw new TypeError("Unable to connect. Is the computer able to access the url?");
      },
    ];
    let i = 0;
    const cache = await open(() => (answers[i++] as () => Promise<Response>)());
    await expect(cache.get("x.img")).rejects.toMatchObject({ code: "ASSET_NOT_FOUND" });
    await expect(cache.get("x.img")).rejects.toMatchObject({
      code: "UPSTREAM_FAILED",
      message: 'asset "x.img" from upstream https://mirror.example.org/boot: answered 503',
    });
    await expect(cache.get("x.img")).rejects.toMatchObject({ code: "UPSTREAM_FAILED", message: expect.stringContaining("unreachable") });
    expect(leftovers()).toEqual([]);
    expect(cache.stats().errors).toBe(3);
  });

  test("a body shorter than its Content-Length is not cached", async () => {
    const cache = await open(async () => new Response("short", { headers: { "content-length": "100" } }));
    await expect(cache.get("x.img")).rejects.toMatchObject({ code: "UPSTREAM_FAILED", message: expect.stringContaining("5 of 100") });
    expect(leftovers()).toEqual([]);
  });

  test("an upstream that sends no headers times out and the request is aborted", async () => {
    const t = manualClock();
    let signal: AbortSignal | undefined;
    const cache = await open(
      (_url, init) => {
        signal = init.signal ?? undefined;
        return new Promise<Response>(() => undefined);
      },
      { clock: t.clock, idleMs: 5000 },
    );
    const got = cache.get("x.img");
    await until(() => t.pending() === 1);
    t.fire();
    await expect(got).rejects.toMatchObject({ code: "UPSTREAM_TIMEOUT", message: expect.stringContaining("no answer for 5000 ms") });
    expect(signal?.aborted).toBe(true);
    expect(leftovers()).toEqual([]);
  });

  test("an upstream that stalls mid-body times out; the partial file is removed", async () => {
    const t = manualClock();
    const cache = await open(
      async () =>
        new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(1000)) }), {
          headers: { "content-length": "5000" },
        }),
      { clock: t.clock },
    );
    const got = cache.get("x.img");
    // The headers' timer, the first read's, then the second read's, which waits forever.
    await until(() => t.started() >= 3 && t.pending() === 1 && readdirSync(join(dir, "tmp")).length === 1);
    t.fire();
    await expect(got).rejects.toMatchObject({ code: "UPSTREAM_TIMEOUT", message: expect.stringContaining("no data") });
    expect(leftovers()).toEqual([]);
  });

  test("the size limit holds by header and by content", async () => {
    const byHeader = await open(async () => new Response("x".repeat(10), { headers: { "content-length": "10" } }), { maxBytes: 4 });
    await expect(byHeader.get("x.img")).rejects.toMatchObject({ code: "UPSTREAM_TOO_LARGE" });
    const byContent = await open(async () => new Response(new Blob(["x".repeat(10)]).stream()), { maxBytes: 4 });
    await expect(byContent.get("y.img")).rejects.toMatchObject({ code: "UPSTREAM_TOO_LARGE" });
    expect(leftovers()).toEqual([]);
  });

  test("downloads at once are limited", async () => {
    const cache = await open(() => new Promise<Response>(() => undefined), { maxDownloads: 1, clock: manualClock().clock });
    void cache.get("a.img").catch(() => undefined);
    await until(() => cache.stats().misses === 1);
    await expect(cache.get("b.img")).rejects.toMatchObject({ code: "UPSTREAM_BUSY" });
  });

  test("downloads a previous run left unfinished are cleared at start", async () => {
    mkdirSync(join(dir, "tmp"), { recursive: true });
    writeFileSync(join(dir, "tmp/partial"), "half");
    await open(async () => new Response("x"));
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  const refused: [string, string][] = [
    ["dot-dot", "../x"],
    ["inner dot-dot", "a/../../x"],
    ["an absolute path", "/etc/passwd"],
    ["an absolute URL", "http://evil.example/x"],
    ["a protocol-relative URL", "//evil.example/x"],
    ["an empty segment", "a//b"],
    ["a dot segment", "./a"],
    ["a backslash", "a\\..\\x"],
    ["a NUL byte", "a\0b"],
  ];
  for (const [name, path] of refused) {
    test(`refuses ${name} without asking the upstream`, async () => {
      let calls = 0;
      const cache = await open(async () => {
        calls++;
        return new Response("x");
      });
      await expect(cache.get(path)).rejects.toMatchObject({ code: expect.stringMatching(/^PATH_(INVALID|OUTSIDE_ROOT)$/) });
      expect(calls).toBe(0);
    });
  }

  test("upstream URLs: segments are encoded and stay under the base path", () => {
    const base = new URL("https://mirror.example.org/boot/");
    expect(upstreamUrl(base, "a b/c?d#e")).toBe("https://mirror.example.org/boot/a%20b/c%3Fd%23e");
    expect(upstreamUrl(base, "%2e%2e/x")).toBe("https://mirror.example.org/boot/%252e%252e/x");
    expect(upstreamUrl(base, "a:b/c")).toBe("https://mirror.example.org/boot/a%3Ab/c");
    expect(() => upstreamUrl(base, "../x")).toThrow();
  });
});
