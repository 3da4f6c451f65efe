/**
 * One read transfer (RFC 1350 §2, RFC 7440): sends windows of DATA from its own socket (its TID), waits for
 * ACKs, retransmits the window from the last acknowledged block on timeout, never on a duplicate ACK
 * (RFC 1123 §4.2.3.1, the Sorcerer's Apprentice), and rolls block numbers over from 65535 to 0.
 *
 * The socket is Bun's native UDP socket (not node:dgram): a window slice goes out in one `sendMany` call
 * (one sendmmsg), DATA packets are assembled in a buffer allocated once per transfer, the file is read in large
 * chunks, and the retransmission timer is re-armed lazily, so an ACK costs no timer call and no allocation.
 */
import type { udp } from "bun";
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodePacket, encodePacket, OPCODE, TFTP_ERROR, type TftpOption, type TftpPacket } from "./_codec.ts";
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

/** Shortest retransmission interval, whatever the measured round trip. */
const MIN_RTO_MS = 20;
/**
 * Bytes of one window sent back-to-back before a PACE_MS pause. A receiver with Linux's default ~208 KB receive
 * buffer holds only ~12 datagrams of 8 KB (each costs its size plus overhead), so 8192 × 16 sent in one burst
 * loses its tail at the receiver every window; in 64 KB slices it does not.
 */
const PACE_BYTES = 64 << 10;
const PACE_MS = 1;
/** Bytes asked of the file at once (at least a window): one read serves many small blocks. */
const READ_CHUNK = 256 << 10;
/** Pauses of PACE_MS before a slice the kernel would not take (a full send buffer) is left to the timer. */
const SEND_RETRIES = 3;

/** Starts a transfer. */
export function startTransfer(p: TransferParams): Transfer {
  const { socket, peer, file, blksize, windowsize } = p;
  const udpSocket = socket.udp;
  const lastBlock = Math.floor(file.size / blksize) + 1; // the last block is short, possibly empty
  let base = 0; // highest acknowledged block (absolute, never wraps)
  let sent = 0; // highest block sent (absolute)
  let phase: "oack" | "data" = p.oack.length > 0 ? "oack" : "data";
  let tries = 0;
  let ended = false;
  let pumping = false;
  let repump = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  /** Blocks per slice; a slice is assembled in `slots` (header + data per block) and sent with one call. */
  const perSlice = Math.max(1, Math.min(windowsize, Math.floor(PACE_BYTES / blksize)));
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
  const blockEnd = (k: number): number => Math.min(k * blksize, file.size);
  const cached = (from: number, to: number): boolean => (from - 1) * blksize >= chunkAt && blockEnd(to) <= chunkAt + chunk.length;

  const event = (type: TftpEvent["type"], error?: string): TftpEvent => ({
    type,
    peer,
    file: p.name,
    bytes: type === "transfer-start" ? file.size : Math.min(base * blksize, file.size),
    ms: p.now() - p.startedAt,
    blksize,
    windowsize,
    ...(error === undefined ? {} : { error }),
  });

  const send = (packet: TftpPacket, to: TftpPeer = peer): void => {
    try {
      udpSocket.send(encodePacket(packet), to.port, to.address);
    } catch (e) {
      p.log.debug({ err: describeError(e) }, "tftp: send failed");
    }
  };

  const finish = (error?: string, tellPeer?: string): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    clearTimeout(deadline);
    const ev = event(error === undefined ? "transfer-done" : "transfer-error", error);
    if (error === undefined) p.log.debug({ bytes: ev.bytes, ms: ev.ms }, "tftp: transfer done");
    else p.log.info({ bytes: ev.bytes, ms: ev.ms, error }, "tftp: transfer failed");
    p.emit(ev);
    if (tellPeer !== undefined) send({ op: "ERROR", code: TFTP_ERROR.NOT_DEFINED, message: tellPeer });
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

  /**
   * Retransmission timer. The interval adapts to measured round trips like TCP's RTO (RFC 6298: srtt + 4·rttvar,
   * doubled on each consecutive timeout) between MIN_RTO_MS and the configured timeout, so a window whose tail
   * the peer dropped (a full receive buffer) is resent in milliseconds on a fast link instead of after a second.
   * Only timeouts that waited the full configured interval count against `retries`.
   *
   * Arming only moves `dueAt`: the one pending setTimeout, when it fires early, sleeps again until `dueAt`. It is
   * replaced only when the new due time is earlier than the pending one.
   */
  let srtt: number | undefined;
  let rttvar = 0;
  let sentAt = 0;
  let backoff = 0;
  let waited = 0;
  let dueAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  const rto = (): number => {
    const interval = srtt === undefined || !p.adaptiveRto ? p.timeoutMs : Math.max(MIN_RTO_MS, srtt + 4 * rttvar);
    return Math.min(p.timeoutMs, interval * 2 ** Math.min(backoff, 16));
  };
  const schedule = (at: number, now: number): void => {
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(onTimer, Math.max(0, at - now));
  };
  const arm = (): void => {
    waited = rto();
    sentAt = performance.now();
    dueAt = sentAt + waited;
    if (dueAt < timerAt) schedule(dueAt, sentAt);
  };
  function onTimer(): void {
    timerAt = Number.POSITIVE_INFINITY;
    timer = undefined;
    if (ended) return;
    const now = performance.now();
    // setTimeout may fire up to a millisecond early; only sleep again for a real remainder.
    if (dueAt - now >= 1) schedule(dueAt, now);
    else onTimeout();
  }
  const progress = (): void => {
    if (backoff === 0) {
      const sample = performance.now() - sentAt;
      if (srtt === undefined) {
        srtt = sample;
        rttvar = sample / 2;
      } else {
        rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - sample);
        srtt = 0.875 * srtt + 0.125 * sample;
      }
    }
    backoff = 0;
    tries = 0;
  };

  /** Sends blocks k..to of one slice (at most perSlice) with one call; answers how many the kernel took. */
  const sendSlice = (k: number, to: number): number => {
    const n = to - k + 1;
    let short = -1; // the slot holding a short (last) block, sent as a shorter view
    for (let i = 0; i < n; i++, k++) {
      const at = (k - 1) * blksize - chunkAt;
      const data = chunk.subarray(at, Math.min(at + blksize, chunk.length));
      const o = i * slotBytes;
      slots[o + 2] = (k >> 8) & 0xff;
      slots[o + 3] = k & 0xff;
      slots.set(data, o + 4);
      if (data.length !== blksize) {
        short = i;
        batch[i * 3] = slots.subarray(o, o + 4 + data.length);
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

  /**
   * Sends the window after the last acknowledged block. Synchronous when the window is read already and fits one
   * slice; otherwise it reads, or paces slices PACE_MS apart, and re-runs if an ACK moved `base` meanwhile.
   */
  const pump = (): void => {
    if (pumping) {
      repump = true;
      return;
    }
    repump = false;
    const from = base + 1;
    const to = Math.min(base + windowsize, lastBlock);
    if (!cached(from, to)) {
      pumping = true;
      file.read((from - 1) * blksize, chunkBlocks * blksize).then(
        (bytes) => {
          pumping = false;
          if (ended) return;
          chunk = bytes;
          chunkAt = (from - 1) * blksize;
          if (!cached(from, to)) {
            finish("read failed: short read", "read error");
            return;
          }
          if (base + 1 !== from) repump = true;
          else sendWindow(from, from, to, 0);
          if (repump && !pumping && !ended) pump();
        },
        (e) => {
          pumping = false;
          finish(`read failed: ${describeError(e)}`, "read error");
        },
      );
      return;
    }
    sendWindow(from, from, to, 0);
  };

  /** Sends blocks k..to of the window from..to, slice by slice; `stuck` counts slices the kernel refused. */
  const sendWindow = (from: number, k: number, to: number, stuck: number): void => {
    const end = Math.min(to, k + perSlice - 1);
    const took = sendSlice(k, end);
    sent = Math.max(sent, k + took - 1);
    const next = k + took;
    if (next > to || (took === 0 && stuck >= SEND_RETRIES)) {
      if (base + 1 !== from) repump = true;
      arm();
      if (repump && !ended) pump();
      return;
    }
    // More of this window: a pause, then the rest, unless acknowledged meanwhile (then from the new base).
    pumping = true;
    setTimeout(() => {
      pumping = false;
      if (ended) return;
      if (base >= next || repump) {
        arm();
        pump();
        return;
      }
      sendWindow(from, next, to, took === 0 ? stuck + 1 : 0);
    }, PACE_MS);
  };

  function onTimeout(): void {
    if (ended) return;
    if (waited >= p.timeoutMs) tries++;
    if (tries > p.retries) {
      finish(`no ACK after ${p.retries} retransmissions`);
      return;
    }
    backoff++;
    p.log.debug({ block: base + 1, tries, backoff }, "tftp: timeout, retransmitting");
    if (phase === "oack") {
      send({ op: "OACK", options: p.oack });
      arm();
    } else {
      dueAt = Number.POSITIVE_INFINITY; // re-armed once the window is out
      pump();
    }
  }

  const onAck = (block: number): void => {
    if (phase === "oack") {
      if (block !== 0) return;
      phase = "data";
      progress();
      pump();
      return;
    }
    // Which outstanding block does this 16-bit number name? Blocks base+1..sent hold at most 65535 numbers.
    for (let k = base + 1; k <= sent; k++) {
      if ((k & 0xffff) !== block) continue;
      base = k;
      progress();
      if (base >= lastBlock) finish();
      else pump();
      return;
    }
    // A duplicate or stale ACK: ignored, the retransmission timer alone resends (RFC 1123 §4.2.3.1).
  };

  socket.onData = (msg, port, address) => {
    if (ended) return;
    if (address !== peer.address || port !== peer.port) {
      send({ op: "ERROR", code: TFTP_ERROR.UNKNOWN_TID, message: "unknown transfer ID" }, { address, port });
      return;
    }
    // The common case, a plain 4-byte ACK, without decoding into an object.
    if (msg.length === 4 && msg[0] === 0 && msg[1] === OPCODE.ACK) {
      onAck((msg[2]! << 8) | msg[3]!);
      return;
    }
    let packet: TftpPacket;
    try {
      packet = decodePacket(msg);
    } catch (e) {
      p.log.debug({ err: describeError(e) }, "tftp: dropped malformed packet");
      return;
    }
    if (packet.op === "ACK") onAck(packet.block);
    else if (packet.op === "ERROR") finish(`peer sent error ${packet.code}: ${packet.message.slice(0, 100)}`);
    else p.log.debug({ op: packet.op }, "tftp: ignored unexpected packet");
  };
  // Errors on an unconnected UDP socket are ICMP reports (e.g. port unreachable from a stray TID's peer): they
  // must not end the transfer, whose own peer is bounded by the retries.
  socket.onError = (e) => p.log.debug({ err: describeError(e) }, "tftp: socket error");
  const deadline = setTimeout(() => finish(`exceeded ${p.deadlineMs} ms`, "transfer took too long"), p.deadlineMs);

  p.emit(event("transfer-start"));
  if (phase === "oack") {
    send({ op: "OACK", options: p.oack });
    arm();
  } else pump();

  return { done, abort: (reason) => finish(reason, "server shutting down") };
}
