/**
 * The read-only TFTP server: one listening socket for requests (RFC 1350 §4, node:dgram), one new ephemeral
 * socket per transfer. Transfers run in a small pool of worker threads on libc sockets (`_workers.ts`), or, when
 * that is unavailable (no libc through bun:ffi, IPv6, a file neither in memory nor a descriptor), on Bun's native
 * UDP socket on this thread (`_transfer.ts`); both drive the same protocol machine (`_machine.ts`). Malformed
 * packets are logged at debug and dropped; nothing a peer sends stops the server.
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { describeError, isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import { isIPv4 } from "../../internal/libc/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodePacket, encodePacket, TFTP_ERROR, type TftpPacket } from "./_codec.ts";
import { MAX_BLKSIZE, negotiate } from "./_options.ts";
import type { TftpFile, TftpFileSource, TftpPeer } from "./_sources.ts";
import { bindTransferSocket, startTransfer, type TftpEvent, type Transfer, type TransferSocket } from "./_transfer.ts";
import { createWorkerPool, type WorkerPool } from "./_workers.ts";

/** Options of {@link createTftpServer}. */
export interface TftpServerOptions {
  /** Address to bind, e.g. `0.0.0.0` or `127.0.0.1`; transfers bind the same address. */
  address: string;
  /** UDP port (69 in production, 0 for any). */
  port: number;
  /** Where files come from. */
  files: TftpFileSource;
  log: Logger;
  /** Transfer events, e.g. for a machine's boot trace. Exceptions thrown here are logged and ignored. */
  onEvent?: (e: TftpEvent) => void;
  /** Wait for an ACK before retransmitting, in ms (default 1000; a client's `timeout` option overrides it). */
  timeoutMs?: number;
  /**
   * Retransmit sooner than `timeoutMs` when measured round trips are short (TCP-like RTO with a 20 ms floor;
   * default true). Without it a peer that drops the tail of a large window waits a full timeout each time.
   */
  adaptiveRto?: boolean;
  /** Retransmissions of one window before giving up (default 5). */
  retries?: number;
  /** Largest blksize granted (default and ceiling 65464). */
  maxBlksize?: number;
  /** Longest a single transfer may run, in ms (default 600000). */
  transferDeadlineMs?: number;
  /** Most transfers at once; requests beyond are answered with error 0 (default 512). */
  maxTransfers?: number;
  /**
   * Where transfers run: `auto` (default) in worker threads on libc sockets when available, else on this thread;
   * `worker` requires the workers (rejects with `TFTP_WORKER` otherwise); `socket` always on this thread.
   */
  driver?: "auto" | "worker" | "socket";
  /** Transfer worker threads (default 2). */
  workers?: number;
}

/** A bound TFTP server. */
export interface TftpServer {
  /** The bound address and port. */
  address(): { address: string; port: number };
  /** Stops listening, aborts running transfers (peers get an ERROR), and resolves once every socket is closed. */
  close(): Promise<void>;
}

/** Guard and source error codes → TFTP error codes (RFC 1350 Appendix). */
const REFUSALS: Record<string, number> = {
  PATH_INVALID: TFTP_ERROR.ACCESS_VIOLATION,
  PATH_OUTSIDE_ROOT: TFTP_ERROR.ACCESS_VIOLATION,
  PATH_NOT_FOUND: TFTP_ERROR.FILE_NOT_FOUND,
};

const ERROR_TEXT: Record<number, string> = {
  [TFTP_ERROR.NOT_DEFINED]: "cannot read file",
  [TFTP_ERROR.FILE_NOT_FOUND]: "file not found",
  [TFTP_ERROR.ACCESS_VIOLATION]: "access violation",
};

async function bindSocket(address: string, port: number, bufBytes: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(address) ? "udp6" : "udp4", recvBufferSize: bufBytes, sendBufferSize: bufBytes });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once("error", onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off("error", onError);
      resolve();
    });
  });
  try {
    socket.setSendBufferSize(bufBytes);
    socket.setRecvBufferSize(bufBytes);
  } catch {
    // Best effort: the kernel caps buffers at net.core.[rw]mem_max.
  }
  return socket;
}

/**
 * Binds a read-only TFTP server (RFC 1350 with options from RFC 2347, 2348, 2349 and 7440).
 * Resolves once bound; rejects with VaqueroError `TFTP_BIND` when the address cannot be bound.
 *
 * Names are looked up with leading `/` removed (`/pxelinux.0` is `pxelinux.0` under the root). Both `octet` and
 * `netascii` modes send the bytes unchanged; write requests get error 2 "read-only server".
 */
export async function createTftpServer(options: TftpServerOptions): Promise<TftpServer> {
  const { address, log } = options;
  const timeoutMs = options.timeoutMs ?? 1000;
  const retries = options.retries ?? 5;
  const maxBlksize = Math.min(options.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE);
  const deadlineMs = options.transferDeadlineMs ?? 600_000;
  const maxTransfers = options.maxTransfers ?? 512;
  const transfers = new Set<Transfer>();
  const pending = new Set<Promise<void>>();
  let closed = false;

  let listener: Socket;
  try {
    listener = await bindSocket(address, options.port, 256 << 10);
  } catch (e) {
    throw new VaqueroError("TFTP_BIND", `tftp: cannot bind udp ${address}:${options.port}: ${describeError(e)}`, {
      exitCode: 2,
      cause: e,
    });
  }
  const bound = listener.address();

  let pool: WorkerPool | undefined;
  const driver = options.driver ?? "auto";
  if (driver !== "socket" && isIPv4(address)) {
    try {
      pool = await createWorkerPool(Math.max(1, options.workers ?? 2), log);
    } catch (e) {
      if (driver === "worker") {
        listener.close();
        throw e;
      }
      log.warn({ err: describeError(e) }, "tftp: transfers run on the main thread");
    }
  } else if (driver === "worker") {
    listener.close();
    throw new VaqueroError("TFTP_WORKER", `tftp: transfer workers need an IPv4 address, not ${address}`, { exitCode: 2 });
  }

  const emit = (e: TftpEvent): void => {
    try {
      options.onEvent?.(e);
    } catch (err) {
      log.warn({ err: describeError(err) }, "tftp: event handler failed");
    }
  };

  /** Answers a request with an ERROR from a fresh TID, as RFC 1350 §4 has replies come from the transfer port. */
  const refuse = async (peer: TftpPeer, code: number, message: string): Promise<void> => {
    const s = await bindSocket(address, 0, 64 << 10);
    await new Promise<void>((r) => s.send(encodePacket({ op: "ERROR", code, message }), peer.port, peer.address, () => r()));
    await new Promise<void>((r) => s.close(() => r()));
  };

  const handleRead = async (req: Extract<TftpPacket, { filename: string }>, peer: TftpPeer, startedAt: number): Promise<void> => {
    const name = req.filename.replace(/^\/+/, "");
    const tlog = log.child({ peer: `${peer.address}:${peer.port}`, file: name });
    const fail = async (code: number, message: string, why: string): Promise<void> => {
      tlog.info({ code, error: why }, "tftp: request refused");
      emit({ type: "transfer-error", peer, file: name, bytes: 0, ms: Date.now() - startedAt, blksize: 512, windowsize: 1, error: why });
      await refuse(peer, code, message);
    };
    const mode = req.mode.toLowerCase();
    if (mode !== "octet" && mode !== "netascii") return fail(TFTP_ERROR.ILLEGAL_OPERATION, "unsupported mode", `mode "${mode}"`);
    if (transfers.size >= maxTransfers) return fail(TFTP_ERROR.NOT_DEFINED, "server busy", "too many transfers");
    let file: TftpFile | undefined;
    try {
      file = await options.files.open(name, peer);
    } catch (e) {
      const code = isVaqueroError(e) ? (REFUSALS[e.code] ?? TFTP_ERROR.NOT_DEFINED) : TFTP_ERROR.NOT_DEFINED;
      return fail(code, ERROR_TEXT[code] ?? "cannot read file", describeError(e));
    }
    if (!file) return fail(TFTP_ERROR.FILE_NOT_FOUND, "file not found", "file not found");
    if (closed) {
      await file.close();
      return;
    }
    const n = negotiate(req.options, { fileSize: file.size, maxBlksize });
    const params = {
      peer,
      name,
      file,
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack,
      timeoutMs: n.timeoutSeconds === undefined ? timeoutMs : n.timeoutSeconds * 1000,
      adaptiveRto: options.adaptiveRto ?? true,
      retries,
      deadlineMs,
      startedAt,
      now: Date.now,
      log: tlog,
      emit,
    };
    const inWorker = pool?.accepts(file) === true;
    tlog.debug({ size: file.size, blksize: n.blksize, windowsize: n.windowsize, worker: inWorker }, "tftp: transfer start");
    if (pool && inWorker) return run(pool.start(params, address));
    let socket: TransferSocket;
    try {
      socket = await bindTransferSocket(address);
    } catch (e) {
      await file.close();
      throw e;
    }
    return run(startTransfer({ socket, ...params }));
  };

  const run = async (t: Transfer): Promise<void> => {
    transfers.add(t);
    if (closed) t.abort("server closed");
    await t.done;
    transfers.delete(t);
  };

  const track = (work: Promise<void>, peer: TftpPeer): void => {
    const w = work.catch((e) => log.warn({ peer: `${peer.address}:${peer.port}`, err: describeError(e) }, "tftp: request failed"));
    pending.add(w);
    void w.finally(() => pending.delete(w));
  };

  listener.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    if (closed) return;
    const peer = { address: rinfo.address, port: rinfo.port };
    let packet: TftpPacket;
    try {
      packet = decodePacket(msg);
    } catch (e) {
      log.debug({ peer: `${peer.address}:${peer.port}`, err: describeError(e) }, "tftp: dropped malformed packet");
      return;
    }
    if (packet.op === "RRQ") track(handleRead(packet, peer, Date.now()), peer);
    else if (packet.op === "WRQ") {
      log.info({ peer: `${peer.address}:${peer.port}`, file: packet.filename.slice(0, 80) }, "tftp: write request refused");
      track(refuse(peer, TFTP_ERROR.ACCESS_VIOLATION, "read-only server"), peer);
    } else log.debug({ peer: `${peer.address}:${peer.port}`, op: packet.op }, "tftp: dropped non-request on the listening port");
  });
  listener.on("error", (e) => log.warn({ err: describeError(e) }, "tftp: listener error"));

  return {
    address: () => ({ address: bound.address, port: bound.port }),
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => listener.close(() => r()));
      for (const t of transfers) t.abort("server closed");
      await pool?.close();
      await Promise.all([...pending]);
    },
  };
}
