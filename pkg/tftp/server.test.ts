import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { isVaqueroError } from "../../internal/errors/index.ts";
import { silentLogger } from "../../internal/log/index.ts";
import { encodePacket } from "./_codec.ts";
import { createTftpServer, type TftpServer } from "./_server.ts";
import { virtualSource } from "./_sources.ts";
import { readFile, TestPeer } from "./_testclient.ts";
import type { TftpEvent } from "./_transfer.ts";

/** Deterministic bytes of length n. */
function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const FILES = new Map<string, Uint8Array>([
  ["small.bin", pattern(1300)],
  ["empty.bin", new Uint8Array(0)],
  ["multiple.bin", pattern(1024)],
  ["window.bin", pattern(512 * 16 + 100)],
  ["wrap.bin", pattern(65536 * 8 + 5)],
  ["hello.txt", new TextEncoder().encode("hello\n")],
]);

/** Both transfer drivers run the same tests: worker threads on libc sockets, and Bun's socket on this thread. */
const DRIVERS = ["worker", "socket"] as const;

for (const driver of DRIVERS) {
  describe(`driver ${driver}`, () => {
    const events: TftpEvent[] = [];
    let server: TftpServer;
    let port: number;
    const peers: TestPeer[] = [];
    /** Block numbers of the next n packets (-1 for anything but DATA). */
    async function blocks(p: TestPeer, n: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await p.recv();
        out.push(r.packet.op === "DATA" ? r.packet.block : -1);
      }
      return out;
    }
    async function peer(): Promise<TestPeer> {
      const p = await TestPeer.open();
      peers.push(p);
      return p;
    }

    beforeAll(async () => {
      server = await createTftpServer({
        address: "127.0.0.1",
        port: 0,
        files: virtualSource(FILES),
        log: silentLogger(),
        onEvent: (e) => events.push(e),
        timeoutMs: 300,
        retries: 3,
        adaptiveRto: false,
        driver,
      });
      port = server.address().port;
    });
    afterEach(async () => {
      await Promise.all(peers.splice(0).map((p) => p.close()));
    });
    afterAll(() => server.close());

    describe("transfers", () => {
      test("plain transfer, 512-byte blocks, no OACK", async () => {
        const r = await readFile(await peer(), port, "small.bin");
        expect(r.oack).toBeUndefined();
        expect(r.blocks).toBe(3);
        expect(r.data).toEqual(FILES.get("small.bin")!);
      });

      test("blksize and tsize", async () => {
        const r = await readFile(await peer(), port, "small.bin", { blksize: "1024", tsize: "0" });
        expect(r.oack).toEqual({ blksize: "1024", tsize: "1300" });
        expect(r.blocks).toBe(2);
        expect(r.data).toEqual(FILES.get("small.bin")!);
      });

      test("windowsize 4: four blocks, then a wait for the ACK", async () => {
        const p = await peer();
        p.send({ op: "RRQ", filename: "window.bin", mode: "octet", options: [{ name: "windowsize", value: "4" }] }, port);
        const oack = await p.recv();
        expect(oack.packet).toEqual({ op: "OACK", options: [{ name: "windowsize", value: "4" }] });
        p.send({ op: "ACK", block: 0 }, oack.from.port);
        expect(await blocks(p, 4)).toEqual([1, 2, 3, 4]);
        expect(await p.drain(150)).toEqual([]); // then silence until the ACK (or the 300 ms timeout)
        p.send({ op: "ERROR", code: 0, message: "enough" }, oack.from.port);
      });

      test("windowsize 4 full read", async () => {
        const r = await readFile(await peer(), port, "window.bin", { windowsize: "4" });
        expect(r.data).toEqual(FILES.get("window.bin")!);
      });

      test("a 0-byte file is one empty DATA block", async () => {
        const r = await readFile(await peer(), port, "empty.bin", { tsize: "0" });
        expect(r.oack).toEqual({ tsize: "0" });
        expect(r.blocks).toBe(1);
        expect(r.data.length).toBe(0);
      });

      test("a file that is an exact multiple of blksize ends with an empty block", async () => {
        const r = await readFile(await peer(), port, "multiple.bin");
        expect(r.blocks).toBe(3);
        expect(r.data).toEqual(FILES.get("multiple.bin")!);
      });

      test("block numbers wrap from 65535 to 0 (blksize 8, 65536×8+5 bytes)", async () => {
        const r = await readFile(await peer(), port, "wrap.bin", { blksize: "8", windowsize: "64" });
        expect(r.blocks).toBe(65537);
        expect(r.data).toEqual(FILES.get("wrap.bin")!);
      }, 20_000);

      test("leading / is relative to the root", async () => {
        const r = await readFile(await peer(), port, "/hello.txt");
        expect(new TextDecoder().decode(r.data)).toBe("hello\n");
      });

      test("events: start and done with sizes and negotiated values", async () => {
        events.length = 0;
        await readFile(await peer(), port, "small.bin", { blksize: "1024" });
        // The end is reported when the last ACK arrives (from a worker thread: possibly just after the client is done).
        for (let i = 0; i < 200 && !events.some((e) => e.type === "transfer-done" && e.file === "small.bin"); i++) await Bun.sleep(10);
        expect(events.filter((e) => e.file === "small.bin").map((e) => [e.type, e.file, e.bytes, e.blksize, e.windowsize])).toEqual([
          ["transfer-start", "small.bin", 1300, 1024, 1],
          ["transfer-done", "small.bin", 1300, 1024, 1],
        ]);
      });
    });

    describe("loss and misbehaving peers", () => {
      test("a lost ACK → the block is retransmitted after the timeout", async () => {
        const p = await peer();
        p.send({ op: "RRQ", filename: "small.bin", mode: "octet", options: [] }, port);
        const a = await p.recv();
        const b = await p.recv(800); // no ACK sent: the server times out and resends
        expect(a.packet).toEqual(b.packet);
        expect(b.from.port).toBe(a.from.port);
        p.send({ op: "ERROR", code: 0, message: "done" }, a.from.port);
      });

      test("a duplicate ACK does not resend the window (Sorcerer's Apprentice)", async () => {
        const p = await peer();
        p.send({ op: "RRQ", filename: "window.bin", mode: "octet", options: [{ name: "windowsize", value: "4" }] }, port);
        const tid = (await p.recv()).from.port;
        p.send({ op: "ACK", block: 0 }, tid);
        expect(await blocks(p, 4)).toEqual([1, 2, 3, 4]);
        p.send({ op: "ACK", block: 4 }, tid);
        p.send({ op: "ACK", block: 4 }, tid);
        p.send({ op: "ACK", block: 4 }, tid);
        expect(await blocks(p, 4)).toEqual([5, 6, 7, 8]);
        expect(await p.drain(150)).toEqual([]); // no second window, well before the 300 ms timeout
        p.send({ op: "ERROR", code: 0, message: "done" }, tid);
      });

      test("a timeout resends the whole window from the last acknowledged block", async () => {
        const p = await peer();
        p.send({ op: "RRQ", filename: "window.bin", mode: "octet", options: [{ name: "windowsize", value: "4" }] }, port);
        const tid = (await p.recv()).from.port;
        p.send({ op: "ACK", block: 0 }, tid);
        expect(await blocks(p, 8)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]); // the second four after one 300 ms timeout
        p.send({ op: "ERROR", code: 0, message: "done" }, tid);
      });

      test("an ACK inside the window (a gap at the client) sends the next window from it", async () => {
        const p = await peer();
        p.send({ op: "RRQ", filename: "window.bin", mode: "octet", options: [{ name: "windowsize", value: "4" }] }, port);
        const tid = (await p.recv()).from.port;
        p.send({ op: "ACK", block: 0 }, tid);
        expect(await blocks(p, 4)).toEqual([1, 2, 3, 4]);
        p.send({ op: "ACK", block: 2 }, tid);
        expect(await blocks(p, 4)).toEqual([3, 4, 5, 6]);
        p.send({ op: "ERROR", code: 0, message: "done" }, tid);
      });

      test("a packet from an unknown TID gets error 5 and the transfer goes on", async () => {
        const p = await peer();
        const stranger = await peer();
        p.send({ op: "RRQ", filename: "small.bin", mode: "octet", options: [] }, port);
        const first = await p.recv();
        stranger.send({ op: "ACK", block: 1 }, first.from.port);
        const err = await stranger.recv();
        expect(err.packet).toEqual({ op: "ERROR", code: 5, message: "unknown transfer ID" });
        p.send({ op: "ACK", block: 1 }, first.from.port);
        const next = await p.recv();
        expect(next.packet.op === "DATA" && next.packet.block).toBe(2);
        p.send({ op: "ERROR", code: 0, message: "done" }, first.from.port);
      });

      test("no ACK at all: the transfer ends after the retries, with an error event", async () => {
        events.length = 0;
        const p = await peer();
        p.send({ op: "RRQ", filename: "hello.txt", mode: "octet", options: [] }, port);
        // Until this transfer gives up (bounded): 4 sends 300 ms apart at the least, later on a loaded machine. (An
        // earlier test's transfer may still end meanwhile: its event is not this one.)
        const gaveUp = () => events.find((e) => e.type === "transfer-error" && e.error === "no ACK after 3 retransmissions");
        for (let i = 0; i < 200 && !gaveUp(); i++) await Bun.sleep(50);
        const sent = await p.drain(0);
        expect(sent.length).toBe(4); // first send + 3 retries
        expect(gaveUp()).toBeDefined();
      });
    });

    describe("refusals", () => {
      const refused = async (bytes: Uint8Array): Promise<unknown> => {
        const p = await peer();
        p.send(bytes, port);
        return (await p.recv()).packet;
      };
      const rrq = (filename: string, options: Record<string, string> = {}) =>
        encodePacket({ op: "RRQ", filename, mode: "octet", options: Object.entries(options).map(([name, value]) => ({ name, value })) });

      test("WRQ → error 2, read-only server", async () => {
        expect(await refused(encodePacket({ op: "WRQ", filename: "x", mode: "octet", options: [] }))).toEqual({
          op: "ERROR",
          code: 2,
          message: "read-only server",
        });
      });
      test("unknown file → error 1", async () => {
        expect(await refused(rrq("nope"))).toEqual({ op: "ERROR", code: 1, message: "file not found" });
      });
      test("/etc/passwd is looked up under the root → error 1", async () => {
        expect(await refused(rrq("/etc/passwd"))).toEqual({ op: "ERROR", code: 1, message: "file not found" });
      });
      test("mode mail → error 4", async () => {
        expect(await refused(encodePacket({ op: "RRQ", filename: "hello.txt", mode: "mail", options: [] }))).toEqual({
          op: "ERROR",
          code: 4,
          message: "unsupported mode",
        });
      });
      test("blksize 7 is ignored: no OACK, 512-byte blocks", async () => {
        const r = await readFile(await peer(), port, "small.bin", { blksize: "7" });
        expect(r.oack).toBeUndefined();
        expect(r.blocks).toBe(3);
      });
      test("blksize 70000 is clamped to 65464", async () => {
        const r = await readFile(await peer(), port, "small.bin", { blksize: "70000" });
        expect(r.oack).toEqual({ blksize: "65464" });
        expect(r.data).toEqual(FILES.get("small.bin")!);
      });
      test("windowsize 0 is ignored", async () => {
        const r = await readFile(await peer(), port, "small.bin", { windowsize: "0" });
        expect(r.oack).toBeUndefined();
        expect(r.data).toEqual(FILES.get("small.bin")!);
      });

      const dropped: [string, Uint8Array][] = [
        ["a 10 KB name", rrq("a".repeat(10240))],
        ["a request without NUL", new Uint8Array([0, 1, 0x61, 0x62])],
        ["a repeated option", rrq("hello.txt", { blksize: "512", BLKSIZE: "1024" })],
        ["garbage", new Uint8Array([0xff, 0xff, 1, 2, 3])],
        ["an empty datagram", new Uint8Array(0)],
        ["an ACK to the listening port", encodePacket({ op: "ACK", block: 1 })],
      ];
      for (const [name, bytes] of dropped) {
        test(`${name} is dropped and the server keeps serving`, async () => {
          const p = await peer();
          p.send(bytes, port);
          expect(await p.drain(50)).toEqual([]);
          const r = await readFile(p, port, "hello.txt");
          expect(new TextDecoder().decode(r.data)).toBe("hello\n");
        });
      }
    });

    describe("lifecycle", () => {
      test("binding a busy port rejects with TFTP_BIND naming the address", async () => {
        let err: unknown;
        try {
          await createTftpServer({ address: "127.0.0.1", port, files: virtualSource({}), log: silentLogger() });
        } catch (e) {
          err = e;
        }
        expect(isVaqueroError(err, "TFTP_BIND")).toBe(true);
        expect((err as Error).message).toStartWith(`tftp: cannot bind udp 127.0.0.1:${port}: `);
      });

      test("close() aborts a running transfer and tells the peer", async () => {
        const s = await createTftpServer({
          address: "127.0.0.1",
          port: 0,
          files: virtualSource(FILES),
          log: silentLogger(),
          timeoutMs: 5000,
          driver,
        });
        const p = await peer();
        p.send({ op: "RRQ", filename: "small.bin", mode: "octet", options: [] }, s.address().port);
        await p.recv();
        await s.close();
        expect((await p.recv()).packet).toEqual({ op: "ERROR", code: 0, message: "server shutting down" });
      });
    });
  });
}
