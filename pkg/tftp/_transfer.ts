/**
 * One read transfer (RFC 1350 §2, RFC 7440): sends windows of DATA from its own socket (its TID), waits for
 * ACKs, retransmits the window from the last acknowledged block on timeout, never on a duplicate ACK
 * (RFC 1123 §4.2.3.1, the Sorcerer's Apprentice), and rolls block numbers over from 65535 to 0.
 */
import type { Socket } from "node:dgram";
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodePacket, encodePacket, TFTP_ERROR, type TftpOption, type TftpPacket } from "./_codec.ts";
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

/** Everything a transfer needs; the socket is bound and owned by the transfer from now on. */
export interface TransferParams {
  socket: Socket;
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

/** Starts a transfer. */
export function startTransfer(p: TransferParams): Transfer {
  const { socket, peer, file, blksize } = p;
  const lastBlock = Math.floor(file.size / blksize) + 1; // the last block is short, possibly empty
  let base = 0; // highest acknowledged block (absolute, never wraps)
  let sent = 0; // highest block sent (absolute)
  let phase: "oack" | "data" = p.oack.length > 0 ? "oack" : "data";
  let tries = 0;
  let ended = false;
  let pumping = false;
  let repump = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const event = (type: TftpEvent["type"], error?: string): TftpEvent => ({
    type,
    peer,
    file: p.name,
    bytes: type === "transfer-start" ? file.size : Math.min(base * blksize, file.size),
    ms: p.now() - p.startedAt,
    blksize,
    windowsize: p.windowsize,
    ...(error === undefined ? {} : { error }),
  });

  const send = (packet: TftpPacket, to: TftpPeer = peer, then?: () => void): void => {
    try {
      socket.send(encodePacket(packet), to.port, to.address, then && (() => then()));
    } catch (e) {
      p.log.debug({ err: describeError(e) }, "tftp: send failed");
      then?.();
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
    const closeSocket = (): Promise<void> => new Promise<void>((r) => socket.close(() => r()));
    const told =
      tellPeer === undefined
        ? Promise.resolve()
        : new Promise<void>((r) => send({ op: "ERROR", code: TFTP_ERROR.NOT_DEFINED, message: tellPeer }, peer, r));
    void Promise.all([file.close().catch(() => {}), told])
      .then(closeSocket)
      .catch(() => {})
      .finally(resolveDone);
  };

  /**
   * Retransmission timer. The interval adapts to measured round trips like TCP's RTO (RFC 6298: srtt + 4·rttvar,
   * doubled on each consecutive timeout) between MIN_RTO_MS and the configured timeout, so a window whose tail
   * the peer dropped (a full receive buffer) is resent in milliseconds on a fast link instead of after a second.
   * Only timeouts that waited the full configured interval count against `retries`.
   */
  let srtt: number | undefined;
  let rttvar = 0;
  let sentAt = 0;
  const rto = (): number => {
    const interval = srtt === undefined || !p.adaptiveRto ? p.timeoutMs : Math.max(MIN_RTO_MS, srtt + 4 * rttvar);
    return Math.min(p.timeoutMs, interval * 2 ** Math.min(backoff, 16));
  };
  let backoff = 0;
  let waited = 0;
  const arm = (): void => {
    clearTimeout(timer);
    waited = rto();
    sentAt = performance.now();
    timer = setTimeout(onTimeout, waited);
  };
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

  /** Sends the window after the last acknowledged block; re-runs if an ACK moved `base` during the read. */
  const pump = async (): Promise<void> => {
    if (pumping) {
      repump = true;
      return;
    }
    pumping = true;
    try {
      do {
        repump = false;
        const from = base + 1;
        const to = Math.min(base + p.windowsize, lastBlock);
        const bytes = await file.read((from - 1) * blksize, (to - from + 1) * blksize);
        if (ended) return;
        if (base + 1 !== from) {
          repump = true;
          continue;
        }
        for (let k = from, burst = 0; k <= to; k++) {
          burst += blksize;
          if (burst > PACE_BYTES) {
            // A window larger than a default receive buffer holds is sent in slices, PACE_MS apart.
            burst = blksize;
            await new Promise<void>((r) => setTimeout(r, PACE_MS));
            if (ended) return;
            if (base >= k) break; // acknowledged meanwhile (a retransmitted window): resend from the new base
          }
          const at = Math.min((k - from) * blksize, bytes.length);
          send({ op: "DATA", block: k & 0xffff, data: bytes.subarray(at, Math.min(at + blksize, bytes.length)) });
          sent = Math.max(sent, k);
        }
        if (base + 1 !== from) repump = true;
        arm();
      } while (repump && !ended);
    } catch (e) {
      finish(`read failed: ${describeError(e)}`, "read error");
    } finally {
      pumping = false;
    }
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
    } else void pump();
  }

  const onAck = (block: number): void => {
    if (phase === "oack") {
      if (block !== 0) return;
      phase = "data";
      progress();
      void pump();
      return;
    }
    // Which outstanding block does this 16-bit number name? Blocks base+1..sent hold at most 65535 numbers.
    for (let k = base + 1; k <= sent; k++) {
      if ((k & 0xffff) !== block) continue;
      base = k;
      progress();
      if (base >= lastBlock) finish();
      else void pump();
      return;
    }
    // A duplicate or stale ACK: ignored, the retransmission timer alone resends (RFC 1123 §4.2.3.1).
  };

  socket.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    if (ended) return;
    if (rinfo.address !== peer.address || rinfo.port !== peer.port) {
      send({ op: "ERROR", code: TFTP_ERROR.UNKNOWN_TID, message: "unknown transfer ID" }, rinfo);
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
  });
  socket.on("error", (e) => finish(`socket error: ${describeError(e)}`));
  const deadline = setTimeout(() => finish(`exceeded ${p.deadlineMs} ms`, "transfer took too long"), p.deadlineMs);

  p.emit(event("transfer-start"));
  if (phase === "oack") {
    send({ op: "OACK", options: p.oack });
    arm();
  } else void pump();

  return { done, abort: (reason) => finish(reason, "server shutting down") };
}
