/**
 * A tiny scripted TFTP peer for loopback tests (not used by the server): send raw or encoded packets, receive
 * with a deadline, and a complete read that acknowledges each window.
 */
import { createSocket, type Socket } from "node:dgram";
import { decodePacket, encodePacket, type TftpPacket } from "./_codec.ts";

/** A received packet and where it came from. */
export interface Received {
  packet: TftpPacket;
  from: { address: string; port: number };
}

/** A UDP peer on 127.0.0.1 with a receive queue. */
export class TestPeer {
  private readonly queue: Received[] = [];
  private waiter: (() => void) | undefined;
  private constructor(readonly socket: Socket) {
    socket.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
      this.queue.push({ packet: decodePacket(msg), from: { address: rinfo.address, port: rinfo.port } });
      this.waiter?.();
    });
  }

  /** Binds a new peer on an ephemeral port. */
  static async open(): Promise<TestPeer> {
    const s = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    return new TestPeer(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(p: TftpPacket | Uint8Array, port: number): void {
    this.socket.send(p instanceof Uint8Array ? p : encodePacket(p), port, "127.0.0.1");
  }

  /** The next packet, or a rejection after `ms`. */
  async recv(ms = 1000): Promise<Received> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Resolves with the packets that arrived within `ms` (to assert silence, expect none). */
  async drain(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/** Outcome of {@link readFile}. */
export interface ReadResult {
  data: Uint8Array;
  oack?: Record<string, string>;
  blocks: number;
  tid: number;
}

/**
 * Reads `name` from a server at `port`: RRQ with `options`, ACK 0 after an OACK, then ACK at the end of each
 * window of `windowsize` blocks and on the final short block. Rejects on an ERROR or a silence over `ms`.
 */
export async function readFile(
  peer: TestPeer,
  port: number,
  name: string,
  options: Record<string, string> = {},
  ms = 1000,
): Promise<ReadResult> {
  peer.send({ op: "RRQ", filename: name, mode: "octet", options: Object.entries(options).map(([n, value]) => ({ name: n, value })) }, port);
  let first = await peer.recv(ms);
  const tid = first.from.port;
  let oack: Record<string, string> | undefined;
  if (first.packet.op === "OACK") {
    oack = Object.fromEntries(first.packet.options.map((o) => [o.name, o.value]));
    peer.send({ op: "ACK", block: 0 }, tid);
    first = await peer.recv(ms);
  }
  const blksize = Number(oack?.blksize ?? 512);
  const window = Number(oack?.windowsize ?? 1);
  const chunks: Uint8Array[] = [];
  let expected = 1;
  let blocks = 0;
  let inWindow = 0;
  for (let r: Received | undefined = first; ; r = await peer.recv(ms)) {
    const p = r.packet;
    if (p.op === "ERROR") throw new Error(`error ${p.code}: ${p.message}`);
    if (p.op !== "DATA") throw new Error(`unexpected ${p.op}`);
    if (p.block !== (expected & 0xffff)) continue; // out of order: wait for the retransmission
    chunks.push(p.data);
    blocks++;
    inWindow++;
    expected++;
    const last = p.data.length < blksize;
    if (last || inWindow === window) {
      peer.send({ op: "ACK", block: p.block }, tid);
      inWindow = 0;
    }
    if (last) break;
  }
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { data, blocks, tid, ...(oack ? { oack } : {}) };
}
