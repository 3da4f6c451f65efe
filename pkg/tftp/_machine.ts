/**
 * The read transfer as a pure state machine (RFC 1350 §2, RFC 7440 windows, RFC 2347 OACK): no sockets, no timers,
 * no clock of its own. A driver feeds it events — a datagram from the peer, the passing of time, an abort — with the
 * current time in milliseconds, and acts on the verdict: send the OACK, send the pending slice of blocks, finish.
 * Two drivers use it: Bun's UDP socket on the main thread (`_transfer.ts`) and libc sockets in worker threads
 * (`_transfer_worker.ts`).
 *
 * Rules it keeps: windows resend from the last acknowledged block on timeout, never on a duplicate ACK (RFC 1123
 * §4.2.3.1); block numbers roll over from 65535 to 0; windows over `paceBytes` go out in slices `paceMs` apart
 * (a client's ~208 KB receive buffer holds about twelve 8 KB blocks); the retransmission interval adapts to
 * measured round trips (RFC 6298 style, 20 ms floor) and only full-length timeouts count against the retries.
 */
import { OPCODE, TFTP_ERROR } from "./_codec.ts";

/** Shortest retransmission interval, whatever the measured round trip. */
export const MIN_RTO_MS = 20;
/** Bytes of one window sent back-to-back before a pause. */
export const PACE_BYTES = 64 << 10;
/** Pauses before a slice the kernel would not take (a full send buffer) is left to the retransmission timer. */
export const SEND_RETRIES = 3;

/** Parameters of one transfer. */
export interface MachineParams {
  size: number;
  blksize: number;
  windowsize: number;
  /** Whether an OACK goes first (block 0 must be acknowledged before DATA). */
  oack: boolean;
  timeoutMs: number;
  /** Adapt the retransmission interval to measured round trips (false: always `timeoutMs`). */
  adaptiveRto: boolean;
  retries: number;
  /** Longest the transfer may run from `start`. */
  deadlineMs: number;
  /** Pause between slices of a window (ms, fractions allowed). */
  paceMs: number;
  /** Bytes per slice (default {@link PACE_BYTES}). */
  paceBytes?: number;
}

/**
 * What the driver does next: nothing; send the OACK; send the pending slice ({@link TransferMachine.sliceFrom} to
 * {@link TransferMachine.sliceTo}, then report with `sent`); finish with success; finish with
 * {@link TransferMachine.failure}.
 */
export type Verdict = "none" | "oack" | "send" | "done" | "fail";

/** Why a transfer failed, and the ERROR message for the peer (none when the peer ended it). */
export interface Failure {
  reason: string;
  tellPeer?: string;
}

/** One read transfer's protocol state. Methods take the current time in ms (any monotonic clock). */
export class TransferMachine {
  readonly blksize: number;
  readonly windowsize: number;
  readonly size: number;
  /** The last block number (absolute); it is short, possibly empty. */
  readonly lastBlock: number;
  /** Most blocks in one slice. */
  readonly perSlice: number;
  /** Highest acknowledged block (absolute, never wraps). */
  base = 0;
  /** Highest block sent (absolute). */
  sent = 0;
  /** Set once the machine said "fail". */
  failure: Failure | undefined;
  private phase: "oack" | "data" | "ended";
  private next = 1;
  private windowEnd = 0;
  private paceAt = 0;
  private dueAt = Number.POSITIVE_INFINITY;
  private deadlineAt = Number.POSITIVE_INFINITY;
  private tries = 0;
  private backoff = 0;
  private stuck = 0;
  private srtt: number | undefined;
  private rttvar = 0;
  private sentAt = 0;
  private waited = 0;

  constructor(private readonly p: MachineParams) {
    this.size = p.size;
    this.blksize = p.blksize;
    this.windowsize = p.windowsize;
    this.lastBlock = Math.floor(p.size / p.blksize) + 1;
    this.perSlice = Math.max(1, Math.min(p.windowsize, Math.floor((p.paceBytes ?? PACE_BYTES) / p.blksize)));
    this.phase = p.oack ? "oack" : "data";
  }

  /** Begins: "oack" (then wait for ACK 0) or "send" the first window. */
  start(now: number): Verdict {
    this.deadlineAt = now + this.p.deadlineMs;
    if (this.phase === "oack") {
      this.arm(now);
      return "oack";
    }
    this.openWindow();
    return "send";
  }

  /** True once done or failed. */
  get ended(): boolean {
    return this.phase === "ended";
  }

  /** Bytes the peer acknowledged. */
  get bytes(): number {
    return Math.min(this.base * this.blksize, this.size);
  }

  /** First block of the pending slice. */
  get sliceFrom(): number {
    return this.next;
  }

  /** Last block of the pending slice. */
  get sliceTo(): number {
    return Math.min(this.windowEnd, this.next + this.perSlice - 1);
  }

  /** True when a slice is waiting to go out (maybe not before {@link wakeAt}). */
  get pending(): boolean {
    return this.phase === "data" && this.next <= this.windowEnd;
  }

  /** True when the pending slice may go out now. */
  ready(now: number): boolean {
    return this.pending && now >= this.paceAt;
  }

  /** When {@link tick} has something to do: a paced slice, a retransmission, the deadline. */
  wakeAt(): number {
    if (this.phase === "ended") return Number.POSITIVE_INFINITY;
    const t = Math.min(this.dueAt, this.deadlineAt);
    return this.pending ? Math.min(t, this.paceAt) : t;
  }

  /** Byte offset and length of block `k`'s data. */
  blockBytes(k: number): [offset: number, length: number] {
    const at = (k - 1) * this.blksize;
    return [at, Math.max(0, Math.min(this.blksize, this.size - at))];
  }

  /** The driver sent `took` blocks of the pending slice (0: the kernel refused them). */
  sentSlice(took: number, now: number): void {
    this.next += took;
    if (this.next - 1 > this.sent) this.sent = this.next - 1;
    this.stuck = took === 0 ? this.stuck + 1 : 0;
    if (this.next > this.windowEnd || this.stuck > SEND_RETRIES) {
      this.windowEnd = this.next - 1; // the window is out (or left to the timer)
      this.arm(now);
    } else this.paceAt = now + this.p.paceMs;
  }

  /** A datagram from the transfer's peer (`length` bytes of `msg`). */
  receive(msg: Uint8Array, length: number, now: number): Verdict {
    if (this.phase === "ended" || length < 4 || msg[0] !== 0) return "none";
    const op = msg[1];
    if (op === OPCODE.ACK) return length === 4 ? this.ack((msg[2]! << 8) | msg[3]!, now) : "none";
    if (op === OPCODE.ERROR) {
      let end = 4;
      while (end < length && end < 104 && msg[end] !== 0) end++;
      const text = new TextDecoder("utf-8", { fatal: false }).decode(msg.subarray(4, end));
      return this.fail({ reason: `peer sent error ${(msg[2]! << 8) | msg[3]!}: ${text.slice(0, 100)}` });
    }
    return "none";
  }

  /** An ACK of 16-bit block number `block`. Duplicates and stale numbers are ignored. */
  ack(block: number, now: number): Verdict {
    if (this.phase === "oack") {
      if (block !== 0) return "none";
      this.phase = "data";
      this.progress(now);
      this.openWindow();
      return "send";
    }
    if (this.phase === "ended") return "none";
    // Blocks base+1..sent hold at most 64 numbers: the one this ACK names, if any, is unique.
    const k = this.base + 1 + ((block - this.base - 1) & 0xffff);
    if (k > this.sent) return "none";
    this.base = k;
    this.progress(now);
    if (this.base >= this.lastBlock) {
      this.phase = "ended";
      return "done";
    }
    this.openWindow();
    return "send";
  }

  /** Time passed: the deadline, a retransmission, or a paced slice may be due. */
  tick(now: number): Verdict {
    if (this.phase === "ended") return "none";
    if (now >= this.deadlineAt) return this.fail({ reason: `exceeded ${this.p.deadlineMs} ms`, tellPeer: "transfer took too long" });
    if (now >= this.dueAt) return this.timeout(now);
    return this.ready(now) ? "send" : "none";
  }

  /** Ends the transfer now (server shutdown); the peer is told. */
  abort(reason: string): Verdict {
    return this.phase === "ended" ? "none" : this.fail({ reason, tellPeer: "server shutting down" });
  }

  /** Ends the transfer with a local failure (a read error); the peer is told `tellPeer`. */
  fail(f: Failure): Verdict {
    if (this.phase === "ended") return "none";
    this.phase = "ended";
    this.failure = f;
    return "fail";
  }

  private timeout(now: number): Verdict {
    if (this.waited >= this.p.timeoutMs) this.tries++;
    if (this.tries > this.p.retries) return this.fail({ reason: `no ACK after ${this.p.retries} retransmissions` });
    this.backoff++;
    if (this.phase === "oack") {
      this.arm(now);
      return "oack";
    }
    this.openWindow();
    return "send";
  }

  private openWindow(): void {
    this.next = this.base + 1;
    this.windowEnd = Math.min(this.base + this.windowsize, this.lastBlock);
    this.dueAt = Number.POSITIVE_INFINITY; // armed once the window is out
    this.stuck = 0;
  }

  private rto(): number {
    const { timeoutMs } = this.p;
    const interval = this.srtt === undefined || !this.p.adaptiveRto ? timeoutMs : Math.max(MIN_RTO_MS, this.srtt + 4 * this.rttvar);
    return Math.min(timeoutMs, interval * 2 ** Math.min(this.backoff, 16));
  }

  private arm(now: number): void {
    this.waited = this.rto();
    this.sentAt = now;
    this.dueAt = now + this.waited;
  }

  private progress(now: number): void {
    if (this.backoff === 0) {
      const sample = now - this.sentAt;
      if (this.srtt === undefined) {
        this.srtt = sample;
        this.rttvar = sample / 2;
      } else {
        this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - sample);
        this.srtt = 0.875 * this.srtt + 0.125 * sample;
      }
    }
    this.backoff = 0;
    this.tries = 0;
  }
}

/** The ERROR every transfer socket answers a packet from another TID with (RFC 1350 §4). */
export const UNKNOWN_TID = { op: "ERROR", code: TFTP_ERROR.UNKNOWN_TID, message: "unknown transfer ID" } as const;
