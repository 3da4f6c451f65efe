/**
 * The main-thread transfer driver (the fallback when the worker driver cannot run: no libc through `bun:ffi`, an
 * IPv6 address, a file that is neither in memory nor a descriptor). The protocol is `_machine.ts`; this file
 * gives it Bun's native UDP socket (not node:dgram) as the transfer's TID, timers and file reads.
 *
 * A window slice goes out in one `sendMany` call (one sendmmsg), DATA packets are assembled in a buffer allocated
 * once per transfer, the file is read in large chunks, and the one timer is re-armed lazily, so an ACK costs no
 * timer call and no allocation.
 */
import type { udp } from "bun";
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { encodePacket, OPCODE, type TftpOption, type TftpPacket } from "./_codec.ts";
import { TransferMachine, UNKNOWN_TID, type Verdict } from "./_machine.ts";
import type { TftpFile, TftpPeer } from "./_sources.ts";

/** What the server reports about a transfer. */
export interface TftpEvent {
  type: "transfer-start" | "transfer-done" | "transfer-error";
  peer: TftpPeer;
  /** The requested name, after the leading `/` is removed. */
  file: string;
  /** Bytes acknowledged by the client so far (the file size on start). */
  bytes: number;
  /** Milliseconds since the request arrived. */
  ms: number;
  blksize: number;
  windowsize: number;
  /** One-line reason, on `transfer-error`. */
  error?: string;
}

/**
 * A transfer's own UDP socket (its TID), unconnected so that packets from other TIDs still arrive and get error 5.
 * Bun fixes a socket's handlers when it is created, so they call the hooks the transfer sets.
 */
export interface TransferSocket {
  readonly udp: udp.Socket<"buffer">;
  onData: (data: Uint8Array, port: number, address: string) => void;
  onError: (e: unknown) => void;
}

/** Binds a transfer socket on an ephemeral port of `address`. */
export async function bindTransferSocket(address: string): Promise<TransferSocket> {
  const hooks: Omit<TransferSocket, "udp"> = { onData: () => {}, onError: () => {} };
  const socket = await Bun.udpSocket({
    hostname: address,
    port: 0,
    binaryType: "buffer",
    socket: {
      data: (_s, data, port, from) => hooks.onData(data, port, from),
      error: (_s, e) => hooks.onError(e),
    },
  });
  return Object.assign(hooks, { udp: socket });
}

/** Everything a transfer needs; the socket is bound and owned by the transfer from now on. */
export interface TransferParams {
  socket: TransferSocket;
  peer: TftpPeer;
  name: string;
  file: TftpFile;
  blksize: number;
  windowsize: number;
  /** OACK to send first; empty → start with DATA block 1. */
  oack: TftpOption[];
  timeoutMs: number;
  /** Adapt the retransmission interval to measured round trips (false: always `timeoutMs`). */
  adaptiveRto: boolean;
  retries: number;
  deadlineMs: number;
  startedAt: number;
  now: () => number;
  log: Logger;
  emit: (e: TftpEvent) => void;
}

/** A running transfer; `done` settles when it ends for any reason (never rejects). */
export interface Transfer {
  done: Promise<void>;
  /** Ends the transfer now (server shutdown), telling the peer with an ERROR. */
  abort(reason: string): void;
}

/** Pause between slices of a window: Bun's shortest timer is about a millisecond. */
const PACE_MS = 1;
/** Bytes asked of the file at once (at least a window): one read serves many small blocks. */
const READ_CHUNK = 256 << 10;

/** The event a transfer reports, from its machine's state. */
export function transferEvent(
  type: TftpEvent["type"],
  p: Pick<TransferParams, "peer" | "name" | "blksize" | "windowsize" | "startedAt" | "now">,
  bytes: number,
  error?: string,
): TftpEvent {
  return {
    type,
    peer: p.peer,
    file: p.name,
    bytes,
    ms: p.now() - p.startedAt,
    blksize: p.blksize,
    windowsize: p.windowsize,
    ...(error === undefined ? {} : { error }),
  };
}

/** Starts a transfer on Bun's UDP socket. */
export function startTransfer(p: TransferParams): Transfer {
  const { socket, peer, file, blksize, windowsize } = p;
  const udpSocket = socket.udp;
  const m = new TransferMachine({
    size: file.size,
    blksize,
    windowsize,
    oack: p.oack.length > 0,
    timeoutMs: p.timeoutMs,
    adaptiveRto: p.adaptiveRto,
    retries: p.retries,
    deadlineMs: p.deadlineMs,
    paceMs: PACE_MS,
  });
  let closing = false;
  let reading = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  /** A slice is assembled in `slots` (header + data per block) and sent with one call. */
  const perSlice = m.perSlice;
  const slotBytes = blksize + 4;
  const slots = new Uint8Array(perSlice * slotBytes);
  const fullSlots = Array.from({ length: perSlice }, (_, i) => slots.subarray(i * slotBytes, (i + 1) * slotBytes));
  const batch: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < perSlice; i++) {
    slots[i * slotBytes + 1] = OPCODE.DATA;
    batch.push(fullSlots[i]!, peer.port, peer.address);
  }

  /** File bytes from `chunkAt` (block-aligned) on, read ahead for many windows. */
  let chunk: Uint8Array = new Uint8Array(0);
  let chunkAt = 0;
  const chunkBlocks = Math.max(windowsize, Math.ceil(READ_CHUNK / blksize));
  const cached = (from: number, to: number): boolean =>
    (from - 1) * blksize >= chunkAt && Math.min(to * blksize, file.size) <= chunkAt + chunk.length;

  const send = (packet: TftpPacket, to: TftpPeer = peer): void => {
    try {
      udpSocket.send(encodePacket(packet), to.port, to.address);
    } catch (e) {
      p.log.debug({ err: describeError(e) }, "tftp: send failed");
    }
  };

  const finish = (): void => {
    if (closing) return;
    closing = true;
    clearTimeout(timer);
    const error = m.failure?.reason;
    const ev = transferEvent(error === undefined ? "transfer-done" : "transfer-error", p, m.bytes, error);
    if (error === undefined) p.log.debug({ bytes: ev.bytes, ms: ev.ms }, "tftp: transfer done");
    else p.log.info({ bytes: ev.bytes, ms: ev.ms, error }, "tftp: transfer failed");
    p.emit(ev);
    if (m.failure?.tellPeer !== undefined) send({ op: "ERROR", code: 0, message: m.failure.tellPeer });
    socket.onData = () => {};
    socket.onError = () => {};
    void file
      .close()
      .catch(() => {})
      .finally(() => {
        udpSocket.close();
        resolveDone();
      });
  };

  /** Sends the pending slice with one call; answers how many blocks the kernel took. */
  const sendSlice = (from: number, to: number): number => {
    const n = to - from + 1;
    let short = -1; // the slot holding a short (last) block, sent as a shorter view
    for (let i = 0, k = from; i < n; i++, k++) {
      const [at, length] = m.blockBytes(k);
      const data = chunk.subarray(at - chunkAt, at - chunkAt + length);
      const o = i * slotBytes;
      slots[o + 2] = (k >> 8) & 0xff;
      slots[o + 3] = k & 0xff;
      slots.set(data, o + 4);
      if (length !== blksize) {
        short = i;
        batch[i * 3] = slots.subarray(o, o + 4 + length);
      }
    }
    try {
      if (n === 1) return udpSocket.send(batch[0] as Uint8Array, peer.port, peer.address) ? 1 : 0;
      return udpSocket.sendMany(n === perSlice ? batch : batch.slice(0, n * 3));
    } catch (e) {
      p.log.debug({ err: describeError(e) }, "tftp: send failed");
      return n; // left to the retransmission timer
    } finally {
      if (short >= 0) batch[short * 3] = fullSlots[short]!;
    }
  };

  /** Sends what is due now; reads ahead (asynchronously) when the slice is not in memory. */
  const flush = (): void => {
    for (let i = 0; i <= windowsize && m.ready(performance.now()) && !reading; i++) {
      const from = m.sliceFrom;
      const to = Math.min(m.lastBlock, from + windowsize - 1);
      if (!cached(from, m.sliceTo)) {
        reading = true;
        file.read((from - 1) * blksize, chunkBlocks * blksize).then(
          (bytes) => {
            reading = false;
            chunk = bytes;
            chunkAt = (from - 1) * blksize;
            if (!cached(from, to)) act(m.fail({ reason: "read failed: short read", tellPeer: "read error" }));
            else act("send");
          },
          (e) => {
            reading = false;
            act(m.fail({ reason: `read failed: ${describeError(e)}`, tellPeer: "read error" }));
          },
        );
        return;
      }
      m.sentSlice(sendSlice(from, m.sliceTo), performance.now());
    }
  };

  /**
   * The one timer, at the machine's next wake time. ACKs only move that time later, so the pending timer, when it
   * fires early, sleeps again; it is replaced only when the new wake time is earlier.
   */
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  const schedule = (): void => {
    const at = m.wakeAt();
    if (at >= timerAt || closing) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(onTimer, Math.max(0, at - performance.now()));
  };
  function onTimer(): void {
    timerAt = Number.POSITIVE_INFINITY;
    timer = undefined;
    const now = performance.now();
    // setTimeout may fire up to a millisecond early; only sleep again for a real remainder.
    const wake = m.wakeAt();
    act(m.tick(wake - now < 1 ? Math.max(now, wake) : now));
  }

  const act = (v: Verdict): void => {
    if (closing) return;
    if (v === "oack") send({ op: "OACK", options: p.oack });
    else if (v === "send") flush();
    else if (v === "done" || v === "fail") {
      finish();
      return;
    }
    schedule();
  };

  socket.onData = (msg, port, address) => {
    if (m.ended) return;
    if (address !== peer.address || port !== peer.port) {
      send(UNKNOWN_TID, { address, port });
      return;
    }
    act(m.receive(msg, msg.length, performance.now()));
  };
  // Errors on an unconnected UDP socket are ICMP reports (e.g. port unreachable from a stray TID's peer): they
  // must not end the transfer, whose own peer is bounded by the retries.
  socket.onError = (e) => p.log.debug({ err: describeError(e) }, "tftp: socket error");

  p.emit(transferEvent("transfer-start", p, file.size));
  act(m.start(performance.now()));
  return { done, abort: (reason) => act(m.abort(reason)) };
}
