import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createPathGuard } from "../../internal/pathguard/index.ts";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "../sot/index.ts";
import { createAgentApp, parseRange, type StagedSite, stageSite } from "./index.ts";

const MAC = "52:54:00:00:00:01";
const ORIGIN = "http://10.0.0.2:8080";
const dir = mkdtempSync(join(tmpdir(), "vq-api-"));
let site: StagedSite;
let app: ReturnType<typeof createAgentApp>;
let empty: ReturnType<typeof createAgentApp>;

beforeAll(async () => {
  const r = await compileTree(memTree(baseSot()));
  const bundle = r.sites.get("s1")?.bundle;
  if (!bundle) throw new Error("no bundle");
  let t = Date.UTC(2026, 0, 1);
  const tick = (): Date => {
    t += 1000;
    return new Date(t);
  };
  site = stageSite(bundle, "dir-test", tick);
  mkdirSync(join(dir, "assets/flatcar"), { recursive: true });
  writeFileSync(join(dir, "assets/flatcar/initrd.img"), "0123456789");
  writeFileSync(join(dir, "secret"), "s");
  symlinkSync("../secret", join(dir, "assets/leak"));
  app = createAgentApp({ site: () => site, assets: await createPathGuard(join(dir, "assets")), log: silentLogger(), maxStateBody: 1024 });
  empty = createAgentApp({ site: () => undefined, log: silentLogger() });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const get = (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`${ORIGIN}${path}`, { headers }));
const post = (body: string, type = "application/x-www-form-urlencoded") =>
  app.handle(new Request(`${ORIGIN}/state`, { method: "POST", headers: { "content-type": type }, body }));

describe("agent API", () => {
  test("first contact chains to the per-host script on the address it was asked on", async () => {
    const res = await get("/boot.ipxe");
    expect(await res.text()).toBe(`#!ipxe\nchain ${ORIGIN}/boot.ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}\n`);
  });
  test("a host gets its first stage; the request joins its boot trace", async () => {
    const res = await get("/boot.ipxe?mac=52-54-00-00-00-01&uuid=u&arch=x86_64");
    const text = await res.text();
    expect(text).toStartWith("#!ipxe\nkernel https://stable.release.flatcar-linux.net/amd64-usr/4081.2.0/flatcar_production_pxe.vmlinuz ");
    expect(text).toContain("ignition.config.url=http://10.0.0.2:8080/config/52:54:00:00:00:01?boot=install");
    const trace = (await (await get(`/status/machines/${MAC}`)).json()) as {
      state: string;
      events: { source: string; type: string; detail: object }[];
    };
    expect(trace.state).toBe("booting");
    expect(trace.events.at(-1)).toMatchObject({
      source: "http",
      type: "boot.ipxe",
      detail: { boot: "install", uuid: "u", arch: "x86_64" },
    });
  });
  test("an unknown machine is told why and retries", async () => {
    const text = await (await get("/boot.ipxe?mac=52:54:00:ff:ff:ff")).text();
    expect(text).toContain("echo Vaquero: MAC 52:54:00:ff:ff:ff is not a host of site s1; retrying in 30s");
  });
  test("the unattended config with its content type; unknown MAC and boot are 404s", async () => {
    const res = await get(`/config/${MAC}?boot=install`);
    expect(res.headers.get("content-type")).toBe("application/vnd.coreos.ignition+json");
    expect(await res.json()).toMatchObject({
      ignition: { version: "3.3.0" },
      storage: { files: [{ contents: { source: "data:,node-1" } }] },
    });
    expect((await get("/config/52:54:00:ff:ff:ff")).status).toBe(404);
    const bad = await get(`/config/${MAC}?boot=nope`);
    expect([bad.status, ((await bad.json()) as { error: { code: string } }).error.code]).toEqual([404, "BOOT_UNKNOWN"]);
    expect((await get("/config/zz")).status).toBe(400);
  });
  test("reports move the machine to provisioned; then it boots from disk", async () => {
    expect((await post(`mac=${MAC}&event=booted&kernel=6.1`)).status).toBe(204);
    expect((await post(JSON.stringify({ mac: "525400000001", event: "stage-done" }), "application/json")).status).toBe(204);
    const status = (await (await get("/status")).json()) as object;
    expect(status).toEqual({
      site: "s1",
      release: { id: "dir-test", staged_at: "2026-01-01T00:00:01.000Z" },
      machines: { total: 1, by_state: { provisioned: 1 } },
      rollouts: [],
    });
    expect(await (await get(`/boot.ipxe?mac=${MAC}`)).text()).toBe(
      "#!ipxe\necho Vaquero: host node-1 is provisioned; booting from local disk\nexit\n",
    );
    const page = (await (await get("/status/machines?state=provisioned")).json()) as { machines: { mac: string }[] };
    expect(page.machines.map((m) => m.mac)).toEqual([MAC]);
    const trace = (await (await get(`/status/machines/${MAC}`)).json()) as { events: { type: string; detail: object }[] };
    expect(trace.events.find((e) => e.type === "booted")?.detail).toEqual({ kernel: "6.1" });
  });
  const badReports: [string, string, string, number, string][] = [
    ["no MAC", "event=booted", "application/x-www-form-urlencoded", 400, "MAC_INVALID"],
    ["an unknown event", `mac=${MAC}&event=exploded`, "application/x-www-form-urlencoded", 400, "EVENT_INVALID"],
    ["a MAC of another site", "mac=52:54:00:ff:ff:ff&event=booted", "application/x-www-form-urlencoded", 404, "MAC_UNKNOWN"],
    ["broken JSON", "{mac:", "application/json", 400, "BODY_INVALID"],
    ["a JSON list", "[1]", "application/json", 400, "BODY_INVALID"],
    ["XML", "<a/>", "application/xml", 415, "UNSUPPORTED_MEDIA_TYPE"],
    ["a body over the limit", `mac=${MAC}&event=log&x=${"a".repeat(2000)}`, "application/x-www-form-urlencoded", 413, "BODY_TOO_LARGE"],
  ];
  for (const [name, body, type, status, code] of badReports) {
    test(`/state refuses ${name}`, async () => {
      const res = await post(body, type);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([status, code]);
    });
  }
  test("a 10 MB /state body is refused and the API keeps serving", async () => {
    const res = await post(`mac=${MAC}&event=log&x=${"a".repeat(10 * 1024 * 1024)}`);
    expect(res.status).toBe(413);
    expect((await get("/live")).status).toBe(200);
  });
  test("assets: whole file, ETag, 304, ranges, 416, no way out of the root", async () => {
    const whole = await get("/assets/flatcar/initrd.img");
    const etag = whole.headers.get("etag") ?? "";
    expect([whole.status, await whole.text(), whole.headers.get("accept-ranges")]).toEqual([200, "0123456789", "bytes"]);
    expect((await get("/assets/flatcar/initrd.img", { "if-none-match": etag })).status).toBe(304);
    const part = await get("/assets/flatcar/initrd.img", { range: "bytes=2-4" });
    expect([part.status, await part.text(), part.headers.get("content-range")]).toEqual([206, "234", "bytes 2-4/10"]);
    expect(await (await get("/assets/flatcar/initrd.img", { range: "bytes=-3" })).text()).toBe("789");
    expect((await get("/assets/flatcar/initrd.img", { range: "bytes=20-" })).status).toBe(416);
    expect((await get("/assets/leak")).status).toBe(403);
    expect((await get("/assets/flatcar%2F..%2F..%2Fsecret")).status).toBe(403);
    expect((await get("/assets/none")).status).toBe(404);
    expect((await get("/assets/%E0%A4%A")).status).toBe(400);
  });
  test("nothing staged: boot routes say so with 503, first contact still works, /ready is 503", async () => {
    expect((await empty.handle(new Request(`${ORIGIN}/boot.ipxe?mac=${MAC}`))).status).toBe(503);
    expect((await empty.handle(new Request(`${ORIGIN}/boot.ipxe`))).status).toBe(200);
    expect((await empty.handle(new Request(`${ORIGIN}/ready`))).status).toBe(503);
    expect((await empty.handle(new Request(`${ORIGIN}/nope`))).status).toBe(404);
  });
  test("the API describes itself as OpenAPI at /openapi/json", async () => {
    const doc = (await (await get("/openapi/json")).json()) as { info: { title: string }; paths: Record<string, unknown> };
    expect(doc.info.title).toBe("Vaquero agent API");
    for (const path of [
      "/boot.ipxe",
      "/config/{mac}",
      "/assets/*",
      "/state",
      "/status",
      "/status/machines",
      "/status/machines/{mac}",
      "/live",
      "/ready",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
  test("range parsing follows RFC 9110", () => {
    expect(parseRange("bytes=0-0", 5)).toEqual({ start: 0, end: 0 });
    expect(parseRange("bytes=3-99", 5)).toEqual({ start: 3, end: 4 });
    expect(parseRange("bytes=0-1,3-4", 5)).toBeUndefined();
    expect(parseRange("items=0-1", 5)).toBeUndefined();
    expect(parseRange("bytes=-0", 5)).toBe("unsatisfiable");
    expect(parseRange("bytes=4-2", 5)).toBe("unsatisfiable");
  });
});
