/**
 * `/assets/` through the site's upstream, over real sockets on 127.0.0.1: an upstream Bun.serve (and a raw TCP
 * server that dies mid-body), the agent app on its own Bun.serve, and fetch as the booting machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../internal/log/index.ts";
import { createPathGuard } from "../internal/pathguard/index.ts";
import { createAgentApp, createUpstreamCache, type StagedSite, stageSite, type UpstreamCache, withClientIp } from "../pkg/api/index.ts";
import { compileTree } from "../pkg/sot/index.ts";
import { baseSot, memTree } from "./_helpers/tree.ts";

const MAC = "52:54:00:00:00:01";
const BIG = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251);
const dir = mkdtempSync(join(tmpdir(), "vq-assets-upstream-"));
const requests = new Map<string, number>();
let releaseSlow: () => void = () => undefined;
const slowGate = new Promise<void>((r) => {
  releaseSlow = r;
});

let upstream: ReturnType<typeof Bun.serve>;
let dying: Bun.TCPSocketListener<undefined>;
let agent: ReturnType<typeof Bun.serve>;
let cache: UpstreamCache;
let site: StagedSite;
let base: string;

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      requests.set(path, (requests.get(path) ?? 0) + 1);
      switch (path) {
        case "/mirror/boot/flatcar/big.img":
          return new Response(BIG);
        case "/mirror/boot/slow.img":
          await slowGate;
          return new Response("slow but whole");
        case "/mirror/boot/broken.img":
          return new Response("upstream trouble", { status: 500 });
        case "/mirror/boot/hang.img":
          // Headers and a first kilobyte, then nothing, forever.
          return new Response(new ReadableStream({ start: (c) => c.enqueue(new Uint8Array(1024)) }), {
            headers: { "content-length": "100000" },
          });
        case "/mirror/secret":
          return new Response("outside the base path");
        default:
          return new Response("not here", { status: 404 });
      }
    },
  });
  // An upstream that dies mid-body: promises 100000 bytes, sends 1000, closes the connection.
  dying = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n");
        socket.write(new Uint8Array(1000));
        socket.end();
      },
    },
  });

  const r = await compileTree(memTree(baseSot()));
  const bundle = r.sites.get("s1")?.bundle;
  if (!bundle) throw new Error("no bundle");
  site = stageSite(bundle, "dir-test", () => new Date());
  mkdirSync(join(dir, "local"), { recursive: true });
  writeFileSync(join(dir, "local/local.txt"), "from the asset directory");
  // The idle timeout is short so that the hanging upstream fails this test quickly; no assertion is about time.
  cache = await createUpstreamCache({
    upstream: `http://127.0.0.1:${upstream.port}/mirror/boot`,
    dir: join(dir, "cache"),
    log: silentLogger(),
    idleMs: 300,
  });
  const app = createAgentApp({
    site: () => site,
    assets: await createPathGuard(join(dir, "local")),
    upstream: cache,
    macOf: (ip) => (ip === "127.0.0.1" ? MAC : undefined),
    log: silentLogger(),
  });
  agent = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => app.handle(withClientIp(req, server.requestIP(req)?.address)),
  });
  base = `http://127.0.0.1:${agent.port}`;
});
afterAll(() => {
  agent?.stop(true);
  upstream?.stop(true);
  dying?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
const partials = () => readdirSync(join(dir, "cache/tmp"));
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

describe("assets through the upstream cache", () => {
  test("a file missing locally comes from the upstream once, then from the cache; Range, ETag and 304 work on it", async () => {
    const first = await get("/assets/flatcar/big.img");
    expect(first.status).toBe(200);
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(BIG);
    expect(existsSync(join(dir, "cache/files/flatcar/big.img"))).toBe(true);
    const again = await get("/assets/flatcar/big.img");
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(BIG);
    expect(requests.get("/mirror/boot/flatcar/big.img")).toBe(1);
    const part = await get("/assets/flatcar/big.img", { range: "bytes=1000-1009" });
    expect([part.status, part.headers.get("content-range")]).toEqual([206, `bytes 1000-1009/${BIG.length}`]);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(BIG.slice(1000, 1010));
    const etag = again.headers.get("etag") ?? "";
    expect(etag).not.toBe("");
    expect((await get("/assets/flatcar/big.img", { "if-none-match": etag })).status).toBe(304);
  });

  test("the asset directory wins over the upstream", async () => {
    expect(await (await get("/assets/local.txt")).text()).toBe("from the asset directory");
    expect(requests.get("/mirror/boot/local.txt")).toBeUndefined();
  });

  test("concurrent requests for one file share one upstream fetch", async () => {
    const before = cache.stats();
    const all = Promise.all(Array.from({ length: 6 }, () => get("/assets/slow.img").then(async (r) => [r.status, await r.text()])));
    // Released once all six wait on the one download: one miss, five shared.
    for (let i = 0; i < 2000 && cache.stats().shared - before.shared < 5; i++) await Bun.sleep(2);
    expect(cache.stats().shared - before.shared).toBe(5);
    releaseSlow();
    expect(await all).toEqual(Array.from({ length: 6 }, () => [200, "slow but whole"]));
    expect(requests.get("/mirror/boot/slow.img")).toBe(1);
  });

  test("upstream 404 is 404; upstream 500 is 502 naming the upstream; nothing half-written", async () => {
    const missing = await get("/assets/nowhere.img");
    expect([missing.status, (await errorOf(missing)).code]).toEqual([404, "ASSET_NOT_FOUND"]);
    const broken = await get("/assets/broken.img");
    const e = await errorOf(broken);
    expect([broken.status, e.code]).toEqual([502, "UPSTREAM_FAILED"]);
    expect(e.message).toContain(`upstream http://127.0.0.1:${upstream.port}/mirror/boot`);
    expect(e.message).toContain("answered 500");
    expect(existsSync(join(dir, "cache/files/broken.img"))).toBe(false);
    expect(partials()).toEqual([]);
  });

  test("a hanging upstream times out with 502; the partial download is removed", async () => {
    const res = await get("/assets/hang.img");
    const e = await errorOf(res);
    expect([res.status, e.code]).toEqual([502, "UPSTREAM_TIMEOUT"]);
    expect(e.message).toContain("no data for 300 ms");
    expect(existsSync(join(dir, "cache/files/hang.img"))).toBe(false);
    expect(partials()).toEqual([]);
  });

  test("an upstream that dies mid-body or is gone answers 502; nothing is cached", async () => {
    const died = await createUpstreamCache({ upstream: `http://127.0.0.1:${dying.port}/`, dir: join(dir, "cache2"), log: silentLogger() });
    await expect(died.get("x.img")).rejects.toMatchObject({ code: "UPSTREAM_FAILED" });
    expect(readdirSync(join(dir, "cache2/tmp"))).toEqual([]);
    expect(readdirSync(join(dir, "cache2/files"))).toEqual([]);
    const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    const port = gone.port;
    gone.stop(true);
    const unreachable = await createUpstreamCache({ upstream: `http://127.0.0.1:${port}/`, dir: join(dir, "cache3"), log: silentLogger() });
    await expect(unreachable.get("x.img")).rejects.toMatchObject({
      code: "UPSTREAM_FAILED",
      message: expect.stringContaining("unreachable"),
    });
  });

  test("a killed upstream through the agent: 502 with a clear message", async () => {
    const port = upstream.port;
    upstream.stop(true);
    const res = await get("/assets/after-kill.img");
    const e = await errorOf(res);
    expect([res.status, e.code]).toEqual([502, "UPSTREAM_FAILED"]);
    expect(e.message).toContain(`upstream http://127.0.0.1:${port}/mirror/boot`);
    // What was cached before still serves.
    expect((await get("/assets/flatcar/big.img")).status).toBe(200);
    expect(partials()).toEqual([]);
  });

  test("no way out of the upstream's base path", async () => {
    const before = requests.get("/mirror/secret") ?? 0;
    for (const path of [
      "/assets/..%2Fsecret",
      "/assets/a%2F..%2F..%2Fsecret",
      "/assets/%2Fmirror%2Fsecret",
      "/assets/http:%2F%2F127.0.0.1%2Fsecret",
    ]) {
      const res = await get(path);
      expect([400, 403]).toContain(res.status);
    }
    expect(requests.get("/mirror/secret") ?? 0).toBe(before);
  });

  test("asset requests joined the machine's boot trace; /metrics counts hits and misses", async () => {
    const trace = (await (await get(`/status/machines/${MAC}`)).json()) as { events: { type: string; detail: Record<string, unknown> }[] };
    const assets = trace.events.filter((e) => e.type === "asset");
    expect(assets.find((e) => e.detail.status === 206)?.detail).toMatchObject({
      path: "/assets/flatcar/big.img",
      bytes: 10,
      range: `bytes 1000-1009/${BIG.length}`,
    });
    expect(assets.find((e) => e.detail.status === 502)?.detail.path).toBe("/assets/broken.img");
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toMatch(/^vaquero_assets_upstream_requests_total\{result="miss"\} [1-9]/m);
    expect(metrics).toMatch(/^vaquero_assets_upstream_requests_total\{result="hit"\} [1-9]/m);
    expect(metrics).toMatch(/^vaquero_assets_upstream_requests_total\{result="shared"\} 5$/m);
    expect(metrics).toMatch(/^vaquero_http_requests_total\{route="\/assets\/\*",status="502"\} [1-9]/m);
  });
});

/** One raw HTTP/1.1 request with the given Host line, as a hostile client could send it; the whole answer. */
function rawGet(path: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(agent.port as number, "127.0.0.1");
    const chunks: Buffer[] = [];
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    sock.on("error", reject);
  });
}

describe("the Host a script is built from, over a real socket", () => {
  test("a plain Host is used; a hostile one falls back to agent.url or is refused by the server", async () => {
    expect(await rawGet("/boot.ipxe", "10.0.0.7:8080")).toContain("chain http://10.0.0.7:8080/boot.ipxe?mac=");
    for (const host of ["10.0.0.7 #!ipxe", "${net0/ip}", "a".repeat(5000), "10.0.0.7/evil?"]) {
      const answer = await rawGet(`/boot.ipxe?mac=${MAC}`, host);
      const status = Number(answer.slice(9, 12));
      if (status === 200) expect(answer).toContain("ignition.config.url=http://10.0.0.2:8080/config/");
      else expect(status).toBe(400);
      expect(answer).not.toContain("10.0.0.7");
      expect(answer).not.toContain("evil");
    }
  });
});
