/**
 * The owner's side of the worker driver (`_transfer_worker.ts`): a small pool of worker threads, each running many
 * transfers on libc sockets; a new transfer goes to the least-loaded worker. Files held in memory are handed over
 * once per content as shared memory; files from a directory as the descriptor the owner opened behind the path
 * guard (the worker `pread`s it; the owner closes it when the transfer ends). Events are emitted here, on the
 * owner's thread, exactly as the main-thread driver emits them.
 */
import { ptr } from "bun:ffi";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import { type Libc, loadLibc } from "../../internal/libc/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { encodePacket } from "./_codec.ts";
import type { TftpFile } from "./_sources.ts";
import { type Transfer, type TransferParams, transferEvent } from "./_transfer.ts";
import type { WorkerEnd, WorkerStart } from "./_transfer_worker.ts";

/** Pause between 64 KB slices of a window in the worker (ms): sub-millisecond, as `ppoll` allows. */
export const WORKER_PACE_MS = 0.3;

/** What a worker transfer needs: the main-thread parameters without the socket. */
export type WorkerTransferParams = Omit<TransferParams, "socket">;

/** A pool of transfer workers. */
export interface WorkerPool {
  /** True when this file can go to a worker (its bytes are in memory or it has a descriptor). */
  accepts(file: TftpFile): boolean;
  /** Starts a transfer in the least-loaded worker; the owner binds nothing. */
  start(p: WorkerTransferParams, bind: string): Transfer;
  /** Aborts every transfer, waits for the workers to report them ended (≤ 2 s), and ends the threads. */
  close(): Promise<void>;
}

type Outbound = WorkerEnd | { type: "ready"; wakeFd: number } | { type: "failed"; message: string } | { type: "stopped" };

interface Slot {
  worker: Worker;
  wakeFd: number;
  load: number;
  stopped: Promise<void>;
}

interface Running {
  slot: Slot;
  p: WorkerTransferParams;
  resolve: () => void;
}

/** Shared copies of in-memory contents, made once per content object. */
const shared = new WeakMap<Uint8Array, Uint8Array>();

function sharedBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  let s = shared.get(bytes);
  if (!s) {
    s = new Uint8Array(new SharedArrayBuffer(Math.max(1, bytes.length)), 0, bytes.length);
    s.set(bytes);
    shared.set(bytes, s);
  }
  return s;
}

/** The worker's code: beside this file from source; inside a compiled binary, under its embedded root. */
function workerUrl(): string {
  // Inside the compiled binary (Bun.main lies under /$bunfs/; import.meta.url keeps the source path in a
  // bytecode build) the worker is the bundled entry point, never a file of the build machine.
  if (Bun.main.includes("/$bunfs/")) return "/$bunfs/root/pkg/tftp/_transfer_worker.js";
  return new URL("./_transfer_worker.ts", import.meta.url).href;
}

/**
 * Starts `size` workers. Rejects with VaqueroError `TFTP_WORKER` when a worker cannot start or load libc (the
 * caller then uses the main-thread driver).
 */
export async function createWorkerPool(size: number, log: Logger): Promise<WorkerPool> {
  let libc: Libc;
  try {
    libc = loadLibc();
  } catch (e) {
    throw new VaqueroError("TFTP_WORKER", `tftp: no transfer workers: ${describeError(e)}`, { cause: e });
  }
  const running = new Map<number, Running>();
  let nextId = 1;
  const one = new BigUint64Array([1n]);

  const end = (m: WorkerEnd): void => {
    const r = running.get(m.id);
    if (!r) return;
    running.delete(m.id);
    r.slot.load--;
    const ev = transferEvent(m.error === undefined ? "transfer-done" : "transfer-error", r.p, m.bytes, m.error);
    if (m.error === undefined) r.p.log.debug({ bytes: ev.bytes, ms: ev.ms }, "tftp: transfer done");
    else r.p.log.info({ bytes: ev.bytes, ms: ev.ms, error: m.error }, "tftp: transfer failed");
    r.p.emit(ev);
    void r.p.file
      .close()
      .catch(() => {})
      .finally(r.resolve);
  };

  const startOne = (): Promise<Slot> =>
    new Promise<Slot>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = new Worker(workerUrl());
      } catch (e) {
        reject(new VaqueroError("TFTP_WORKER", `tftp: cannot start a transfer worker: ${describeError(e)}`, { cause: e }));
        return;
      }
      let stopped: () => void = () => {};
      const slot: Slot = { worker, wakeFd: -1, load: 0, stopped: new Promise<void>((r) => (stopped = r)) };
      worker.onmessage = (event: MessageEvent<Outbound>) => {
        const m = event.data;
        if (m.type === "end") end(m);
        else if (m.type === "ready") {
          slot.wakeFd = m.wakeFd;
          resolve(slot);
        } else if (m.type === "failed") {
          worker.terminate();
          reject(new VaqueroError("TFTP_WORKER", `tftp: transfer worker: ${m.message}`));
        } else stopped();
      };
      worker.onerror = (event) => {
        log.warn({ err: event.message }, "tftp: transfer worker failed");
        reject(new VaqueroError("TFTP_WORKER", `tftp: transfer worker failed: ${event.message}`));
        for (const [id, r] of running) if (r.slot === slot) end({ type: "end", id, bytes: 0, error: "transfer worker failed" });
        stopped();
      };
      worker.postMessage({ type: "init" });
    });

  const started = await Promise.allSettled(Array.from({ length: size }, startOne));
  const slots = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    for (const s of slots) s.worker.terminate();
    throw failed.reason;
  }

  const tell = (slot: Slot, msg: object): void => {
    slot.worker.postMessage(msg);
    libc.write(slot.wakeFd, ptr(one), 8);
  };

  return {
    accepts: (file) => file.bytes !== undefined || file.fd !== undefined,
    start(p, bind) {
      const slot = slots.reduce((a, b) => (b.load < a.load ? b : a));
      const id = nextId++;
      let resolve: () => void = () => {};
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      running.set(id, { slot, p, resolve });
      slot.load++;
      const msg: WorkerStart = {
        type: "start",
        id,
        bind,
        peer: p.peer,
        content: p.file.bytes !== undefined ? { bytes: sharedBytes(p.file.bytes) } : { fd: p.file.fd ?? -1 },
        size: p.file.size,
        blksize: p.blksize,
        windowsize: p.windowsize,
        oack: p.oack.length > 0 ? encodePacket({ op: "OACK", options: p.oack }) : null,
        timeoutMs: p.timeoutMs,
        adaptiveRto: p.adaptiveRto,
        retries: p.retries,
        deadlineMs: p.deadlineMs,
        paceMs: WORKER_PACE_MS,
      };
      p.emit(transferEvent("transfer-start", p, p.file.size));
      tell(slot, msg);
      return { done, abort: (reason) => tell(slot, { type: "abort", id, reason }) };
    },
    async close() {
      for (const s of slots) tell(s, { type: "stop" });
      await Promise.race([Promise.all(slots.map((s) => s.stopped)), Bun.sleep(2000)]);
      for (const s of slots) s.worker.terminate();
      for (const id of [...running.keys()]) end({ type: "end", id, bytes: 0, error: "server closed" });
    },
  };
}
