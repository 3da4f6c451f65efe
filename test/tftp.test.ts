/**
 * pkg/tftp against real clients nobody on the project wrote (INTEROP.md, TFTP): tftp-hpa, curl and atftp fetch
 * files from the server on 127.0.0.1 and the bytes are compared. Missing clients fail the test, naming the
 * Debian package.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../internal/log/index.ts";
import { chainSources, createTftpServer, dirSource, type TftpEvent, type TftpServer, virtualSource } from "../pkg/tftp/index.ts";
import { atftp, curlTftp, requireClient, run, tftpHpa } from "./_helpers/tftp-clients.ts";

let base: string;
let root: string;
let out: string;
let server: TftpServer;
let port: number;
const events: TftpEvent[] = [];
const FILES: Record<string, Buffer> = {};

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "vaquero-tftp-"));
  root = join(base, "root");
  out = join(base, "out");
  mkdirSync(join(root, "boot"), { recursive: true });
  mkdirSync(out);
  FILES["pxelinux.0"] = randomBytes(42_377);
  FILES["boot/vmlinuz"] = randomBytes(3 * 1024 * 1024 + 17);
  FILES["exact.bin"] = randomBytes(1468 * 40); // an exact multiple of blksize 1468
  FILES["empty.bin"] = Buffer.alloc(0);
  for (const [name, bytes] of Object.entries(FILES)) writeFileSync(join(root, name), bytes);
  writeFileSync(join(base, "secret"), "outside the root");
  symlinkSync(join(base, "secret"), join(root, "escape"));
  server = await createTftpServer({
    address: "127.0.0.1",
    port: 0,
    files: chainSources(virtualSource({ "boot.ipxe": "#!ipxe\nchain http://127.0.0.1/ipxe\n" }), await dirSource(root)),
    log: silentLogger(),
    onEvent: (e) => events.push(e),
  });
  port = server.address().port;
});

afterAll(async () => {
  await server?.close();
  rmSync(base, { recursive: true, force: true });
});

const fetched = (local: string): Buffer => readFileSync(join(out, local));

/**
 * Events matching `pred`, once there are `n` of them (or after ~2 s): a transfer's end is reported when its last
 * ACK arrives, which a transfer worker posts to this thread, so it may land just after the client exits.
 */
async function eventsWhen(pred: (e: TftpEvent) => boolean, n = 1): Promise<TftpEvent[]> {
  for (let i = 0; i < 200 && events.filter(pred).length < n; i++) await Bun.sleep(10);
  return events.filter(pred);
}

describe("clients are installed", () => {
  for (const bin of ["tftp", "curl", "atftp"] as const) test(bin, () => expect(requireClient(bin)).toStartWith("/"));
});

describe("tftp-hpa (512-byte blocks)", () => {
  for (const name of ["pxelinux.0", "boot/vmlinuz", "exact.bin", "empty.bin"]) {
    test(name, async () => {
      const local = `hpa-${name.replace("/", "_")}`;
      const r = await tftpHpa(port, name, local, out);
      expect(r.code).toBe(0);
      expect(fetched(local).equals(FILES[name]!)).toBe(true);
    });
  }
  test("a generated file", async () => {
    const r = await tftpHpa(port, "boot.ipxe", "hpa-boot.ipxe", out);
    expect(r.code).toBe(0);
    expect(fetched("hpa-boot.ipxe").toString()).toBe("#!ipxe\nchain http://127.0.0.1/ipxe\n");
  });
  test("../ is refused (tftp-hpa exits 0 but prints the error)", async () => {
    const r = await tftpHpa(port, "boot/../../secret", "hpa-dotdot", out);
    expect(r.stdout + r.stderr).toContain("Error code 2: access violation");
  });
  test("a write is refused: read-only server", async () => {
    writeFileSync(join(out, "upload"), "x");
    const r = await run([requireClient("tftp"), "127.0.0.1", String(port), "-c", "put", "upload", "upload"], out);
    expect(r.stdout + r.stderr).toContain("Error code 2: read-only server");
  });
});

describe("curl tftp://", () => {
  for (const blksize of [undefined, 512, 1468, 8192, 65464]) {
    test(`boot/vmlinuz, blksize ${blksize ?? "default"}`, async () => {
      const local = `curl-${blksize ?? "default"}`;
      const r = await curlTftp(port, "boot/vmlinuz", local, out, blksize);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(fetched(local).equals(FILES["boot/vmlinuz"]!)).toBe(true);
    });
  }
  test("a leading / is relative to the root (PXE sends /pxelinux.0)", async () => {
    const r = await curlTftp(port, "/pxelinux.0", "curl-slash", out, 1468);
    expect(r.code).toBe(0);
    expect(fetched("curl-slash").equals(FILES["pxelinux.0"]!)).toBe(true);
  });
  test("a symlink escaping the root is refused (access violation)", async () => {
    const r = await curlTftp(port, "escape", "curl-escape", out);
    expect(r.code).toBe(69); // CURLE_TFTP_PERM
  });
  test("a missing file is not found", async () => {
    const r = await curlTftp(port, "nope", "curl-nope", out);
    expect(r.code).toBe(68); // CURLE_TFTP_NOTFOUND
  });
});

describe("atftp (blksize and windowsize)", () => {
  const CASES: [number, number][] = [
    [512, 1],
    [1468, 4],
    [8192, 16],
    [65464, 4],
  ];
  for (const [blksize, windowsize] of CASES) {
    test(`boot/vmlinuz, blksize ${blksize} × window ${windowsize}`, async () => {
      events.length = 0;
      const local = `atftp-${blksize}-${windowsize}`;
      const r = await atftp(port, "boot/vmlinuz", local, out, blksize, windowsize);
      expect(r.code).toBe(0);
      expect(fetched(local).equals(FILES["boot/vmlinuz"]!)).toBe(true);
      const [done] = await eventsWhen((e) => e.type === "transfer-done" && e.file === "boot/vmlinuz" && e.blksize === blksize);
      expect(done && [done.blksize, done.windowsize, done.bytes]).toEqual([blksize, windowsize, FILES["boot/vmlinuz"]!.length]);
    });
  }
  test("exact.bin, blksize 1468 (ends with an empty block)", async () => {
    const r = await atftp(port, "exact.bin", "atftp-exact", out, 1468, 4);
    expect(r.code).toBe(0);
    expect(fetched("atftp-exact").equals(FILES["exact.bin"]!)).toBe(true);
  });
});

describe("many transfers at once (a PXE storm)", () => {
  test("48 curl fetches of pxelinux.0 and boot.ipxe at once, every one complete", async () => {
    events.length = 0;
    const runs = await Promise.all(
      Array.from({ length: 48 }, (_, i) =>
        i % 2 === 0 ? curlTftp(port, "pxelinux.0", `storm-${i}`, out, 1468) : curlTftp(port, "boot.ipxe", `storm-${i}`, out),
      ),
    );
    expect(runs.map((r) => r.code)).toEqual(runs.map(() => 0));
    for (let i = 0; i < 48; i += 2) expect(fetched(`storm-${i}`).equals(FILES["pxelinux.0"]!)).toBe(true);
    expect(fetched("storm-1").toString()).toBe("#!ipxe\nchain http://127.0.0.1/ipxe\n");
    const storm = (e: TftpEvent): boolean => e.type === "transfer-done" && (e.file === "pxelinux.0" || e.file === "boot.ipxe");
    expect((await eventsWhen(storm, 48)).length).toBe(48);
  });
});
