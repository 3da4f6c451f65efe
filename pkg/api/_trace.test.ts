import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createPathGuard } from "../../internal/pathguard/index.ts";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "../sot/index.ts";
import { createAgentApp, METRICS_CONTENT_TYPE, type StagedSite, stageSite, withClientIp } from "./index.ts";

const MAC = "52:54:00:00:00:01";
const IP = "10.0.0.11";
const ORIGIN = "http://10.0.0.2:8080";
const dir = mkdtempSync(join(tmpdir(), "vq-trace-"));
let site: StagedSite;
let app: ReturnType<typeof createAgentApp>;
let clock = 0;

beforeAll(async () => {
  const r = await compileTree(memTree(baseSot()));
  const bundle = r.sites.get("s1")?.bundle;
  if (!bundle) throw new Error("no bundle");
  site = stageSite(bundle, "dir-test", () => new Date(Date.UTC(2026, 0, 1)));
  mkdirSync(join(dir, "flatcar"), { recursive: true });
  writeFileSync(join(dir, "flatcar/initrd.img"), "0123456789");
  app = createAgentApp({
    site: () => site,
    assets: await createPathGuard(dir),
    programs: new Map([["ipxe.efi", new Uint8Array(64)]]),
    macOf: (ip) => (ip === IP ? MAC : undefined),
    // Each reading of the clock advances it by 2.5 ms: an event's ms is then exactly 2.5.
    now: () => (clock += 2.5),
    log: silentLogger(),
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A request from `ip`, attached the way the HTTP server attaches the peer's address. */
const from = (ip: string | undefined, path: string, headers: Record<string, string> = {}) =>
  app.handle(withClientIp(new Request(`${ORIGIN}${path}`, { headers }), ip));
type Trace = { state: string; events: { source: string; type: string; detail: Record<string, unknown> }[] };
const trace = async (): Promise<Trace> => (await (await from(undefined, `/status/machines/${MAC}`)).json()) as Trace;

describe("requests without a MAC join the boot trace of the machine at their address", () => {
  test("first contact, an asset (whole, range, 304, missing) and a boot program: one event each", async () => {
    const before = (await trace()).events.length;
    expect((await from(IP, "/boot.ipxe")).status).toBe(200);
    const whole = await from(IP, "/assets/flatcar/initrd.img");
    expect(whole.status).toBe(200);
    const etag = whole.headers.get("etag") ?? "";
    expect((await from(IP, "/assets/flatcar/initrd.img", { range: "bytes=2-4" })).status).toBe(206);
    expect((await from(IP, "/assets/flatcar/initrd.img", { "if-none-match": etag })).status).toBe(304);
    expect((await from(IP, "/assets/none")).status).toBe(404);
    expect((await from(IP, "/ipxe/ipxe.efi")).status).toBe(200);
    const t = await trace();
    expect(t.state).toBe("booting");
    const events = t.events.slice(before);
    expect(events.map((e) => [e.source, e.type])).toEqual([
      ["http", "boot.ipxe"],
      ["http", "asset"],
      ["http", "asset"],
      ["http", "asset"],
      ["http", "asset"],
      ["http", "ipxe"],
    ]);
    expect(events[0]?.detail).toMatchObject({ path: "/boot.ipxe", status: 200, ms: 2.5 });
    expect(events[1]?.detail).toEqual({ path: "/assets/flatcar/initrd.img", status: 200, bytes: 10, ms: 2.5 });
    expect(events[2]?.detail).toEqual({ path: "/assets/flatcar/initrd.img", status: 206, bytes: 3, range: "bytes 2-4/10", ms: 2.5 });
    expect(events[3]?.detail).toEqual({ path: "/assets/flatcar/initrd.img", status: 304, ms: 2.5 });
    expect(events[4]?.detail).toMatchObject({ path: "/assets/none", status: 404 });
    expect(events[5]?.detail).toEqual({ path: "/ipxe/ipxe.efi", status: 200, bytes: 64, ms: 2.5 });
  });
  test("requests with a MAC record one event with their own detail, status and size", async () => {
    const before = (await trace()).events.length;
    const script = await from(IP, `/boot.ipxe?mac=${MAC}&uuid=u&arch=x86_64`);
    const config = await from(undefined, `/config/${MAC}`);
    const events = (await trace()).events.slice(before);
    expect(events).toHaveLength(2);
    expect(events[0]?.detail).toEqual({
      path: "/boot.ipxe",
      status: 200,
      boot: "install",
      uuid: "u",
      arch: "x86_64",
      bytes: (await script.arrayBuffer()).byteLength,
      ms: 2.5,
    });
    expect(events[1]).toMatchObject({ type: "config", detail: { boot: "install", type: "ignition", status: 200 } });
    expect(events[1]?.detail.bytes).toBe((await config.arrayBuffer()).byteLength);
  });
  test("an address of no machine, no address at all, and status routes add nothing", async () => {
    const before = (await trace()).events.length;
    await from("10.0.0.99", "/assets/flatcar/initrd.img");
    await from(undefined, "/assets/flatcar/initrd.img");
    await from(IP, "/status");
    await from(IP, "/live");
    expect((await trace()).events.length).toBe(before);
  });
  test("IPv4-mapped IPv6 peers are unmapped", async () => {
    const before = (await trace()).events.length;
    await from(`::ffff:${IP}`, "/ipxe/ipxe.efi");
    expect((await trace()).events.length).toBe(before + 1);
  });
  test("an injected clientIp lookup replaces the attached address", async () => {
    const other = createAgentApp({ site: () => site, clientIp: () => IP, macOf: () => MAC, log: silentLogger() });
    const before = (await trace()).events.length;
    await other.handle(new Request(`${ORIGIN}/boot.ipxe`));
    expect((await trace()).events.length).toBe(before + 1);
  });
});

/** Parses exposition text into `name{labels}` → value, checking every line's form. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
      expect(line).toMatch(/^# (HELP [a-z_]+ .+|TYPE [a-z_]+ (counter|gauge))$/);
      continue;
    }
    const m = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}

describe("/metrics", () => {
  test("Prometheus text: requests by route and status, bytes, machines by state, release", async () => {
    await from(IP, "/assets/flatcar/initrd.img");
    await from(IP, "/nope");
    const res = await from(undefined, "/metrics");
    expect(res.headers.get("content-type")).toBe(METRICS_CONTENT_TYPE);
    expect(METRICS_CONTENT_TYPE.startsWith("text/plain; version=0.0.4")).toBe(true);
    const m = parseMetrics(await res.text());
    expect(m.get('vaquero_http_requests_total{route="/assets/*",status="200"}')).toBeGreaterThanOrEqual(3);
    expect(m.get('vaquero_http_requests_total{route="/assets/*",status="206"}')).toBe(1);
    expect(m.get('vaquero_http_requests_total{route="/assets/*",status="304"}')).toBe(1);
    expect(m.get('vaquero_http_requests_total{route="other",status="404"}')).toBe(1);
    expect(m.get('vaquero_http_response_bytes_total{route="/ipxe/*"}')).toBe(128);
    expect(m.get('vaquero_machines{state="booting"}')).toBe(1);
    expect(m.get('vaquero_machines{state="provisioned"}')).toBe(0);
    expect(m.get('vaquero_release_info{site="s1",release="dir-test",staged_at="2026-01-01T00:00:00.000Z"}')).toBe(1);
    expect([...m.keys()].some((k) => k.startsWith("vaquero_assets_upstream"))).toBe(false);
  });
  test("before a release is staged: counters and machine gauges, no release line", async () => {
    const empty = createAgentApp({ site: () => undefined, log: silentLogger() });
    const m = parseMetrics(await (await empty.handle(new Request(`${ORIGIN}/metrics`))).text());
    expect(m.get('vaquero_machines{state="unknown"}')).toBe(0);
    expect([...m.keys()].some((k) => k.startsWith("vaquero_release_info"))).toBe(false);
  });
});
