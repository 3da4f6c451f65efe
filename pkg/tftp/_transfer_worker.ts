/**
 * The worker-thread transfer driver: many transfers in one thread, each on its own libc UDP socket (its TID),
 * driven synchronously like tftpd-hpa and atftpd do in C — one `ppoll` over every socket and a wake-up eventfd,
 * with the nearest retransmission, pacing or deadline time as its timeout; `recvfrom` into one buffer (no string
 * or object per datagram; the source is compared as bytes); a window slice out in one `sendmmsg` whose iovecs
 * point straight into the file's bytes (shared memory for files held in memory, a read-ahead buffer filled with
 * `pread` on the owner's descriptor otherwise). The protocol is `_machine.ts`, as for the main-thread driver.
 *
 * Messages in (each followed by a write to the eventfd, so a blocked `ppoll` wakes): {@link WorkerStart},
 * `{type: "abort", id, reason}`, `{type: "stop"}`. Messages out: `{type: "ready", wakeFd}` or
 * `{type: "failed", message}` once; {@link WorkerEnd} per transfer, after its socket is closed; `{type: "stopped"}`.
 */
import { type Pointer, ptr } from "bun:ffi";
import {
  AF_INET,
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  encodeSockaddrIn,
  errnoName,
  type Libc,
  loadLibc,
  MMSGHDR_BYTES,
  MSG_DONTWAIT,
  POLLFD_BYTES,
  POLLIN,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../../internal/libc/index.ts";
import { encodePacket, OPCODE } from "./_codec.ts";
import { TransferMachine, UNKNOWN_TID, type Verdict } from "./_machine.ts";

declare const self: Worker;

/** A transfer handed to a worker. */
export interface WorkerStart {
  type: "start";
  id: number;
  /** Local IPv4 address to bind the TID on (port 0). */
  bind: string;
  peer: { address: string; port: number };
  /** The file: bytes in shared memory, or a descriptor the owner keeps open until the transfer ends. */
  content: { bytes: Uint8Array } | { fd: number };
  size: number;
  blksize: number;
  windowsize: number;
  /** The encoded OACK, when one goes first. */
  oack: Uint8Array | null;
  timeoutMs: number;
  adaptiveRto: boolean;
  retries: number;
  deadlineMs: number;
  paceMs: number;
}

/** A transfer's end, posted once. */
export interface WorkerEnd {
  type: "end";
  id: number;
  bytes: number;
  error?: string;
}

type Inbound = WorkerStart | { type: "abort"; id: number; reason: string } | { type: "stop" };

/** Bytes asked of a descriptor at once (at least a window). */
const READ_CHUNK = 256 << 10;
/**
 * Datagrams read from one socket per wake-up: one, as a window's peer sends one ACK per window; another waiting
 * datagram wakes the next `ppoll` at once, and no `recvfrom` is spent on finding the socket empty.
 */
const RECV_BATCH = 1;
/** Longest the loop runs before letting the thread's own messages in (ms), and the longest poll. */
const TURN_MS = 200;
const SOCKET_BUFFER = 1 << 20;

interface Active {
  id: number;
  fd: number;
  m: TransferMachine;
  peer: Uint8Array;
  peerPtr: Pointer;
  oack: Uint8Array | null;
  /** The file bytes (shared) or the read-ahead chunk, and where block 1 of `data` starts in the file. */
  data: Uint8Array;
  dataAt: number;
  dataPtr: number;
  srcFd: number;
  headers: Uint8Array;
  msgs: Uint32Array;
  msgsPtr: number;
  /** iovec array as 32-bit words: 4 words per iovec, 2 iovecs per message (header, data). */
  iov: Uint32Array;
}

let libc: Libc;
let wakeFd = -1;
const active = new Map<number, Active>();
let running = false;
let stopping = false;
/*
 * Every buffer whose address libc keeps or is handed more than once is made over an explicit ArrayBuffer: a small
 * typed array made from a length keeps its bytes in the collector's memory and moves them when its buffer is
 * first asked for, which would leave a taken address pointing at stale bytes.
 */
const rbuf = new Uint8Array(new ArrayBuffer(65536));
const from = new Uint8Array(new ArrayBuffer(16));
const fromLen = new Uint32Array(new ArrayBuffer(4));
const wakeBuf = new BigUint64Array(new ArrayBuffer(8));
const timespec = new Uint32Array(new ArrayBuffer(16));
/** Addresses of the buffers above, taken once (they live as long as the thread). */
const rbufPtr = ptr(rbuf);
const fromPtr = ptr(from);
const fromLenPtr = ptr(fromLen);
const timespecPtr = ptr(timespec);
let pollfds = new Uint8Array(new ArrayBuffer(8));
let pollfdsPtr = ptr(pollfds);
let pollOrder: Active[] = [];
let pollDirty = true;
const unknownTid = encodePacket(UNKNOWN_TID);

const setPtr = (words: Uint32Array, at: number, p: number): void => {
  words[at] = p % 0x1_0000_0000;
  words[at + 1] = Math.floor(p / 0x1_0000_0000);
};

function post(m: WorkerEnd | { type: "ready"; wakeFd: number } | { type: "failed"; message: string } | { type: "stopped" }): void {
  self.postMessage(m);
}

function open(s: WorkerStart): void {
  const fail = (step: string): void => {
    post({ type: "end", id: s.id, bytes: 0, error: `${step} failed: ${errnoName(libc.errno())}` });
  };
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail("socket");
    return;
  }
  const size = new Int32Array([SOCKET_BUFFER]);
  libc.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, ptr(size), 4);
  libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(size), 4);
  if (libc.bind(fd, ptr(encodeSockaddrIn(s.bind, 0)), 16) !== 0) {
    fail("bind");
    libc.close(fd);
    return;
  }
  const m = new TransferMachine({ ...s, oack: s.oack !== null });
  const n = m.perSlice;
  let data: Uint8Array;
  let srcFd = -1;
  if ("bytes" in s.content) data = s.content.bytes;
  else {
    srcFd = s.content.fd;
    const chunkBlocks = Math.max(s.windowsize, Math.ceil(READ_CHUNK / s.blksize));
    data = new Uint8Array(new ArrayBuffer(Math.max(1, Math.min(chunkBlocks * s.blksize, s.size))));
  }
  const peer = encodeSockaddrIn(s.peer.address, s.peer.port, new Uint8Array(new ArrayBuffer(16)));
  const headers = new Uint8Array(new ArrayBuffer(n * 4));
  const iov = new Uint32Array(new ArrayBuffer(n * 32));
  const msgs = new Uint32Array(new ArrayBuffer(n * MMSGHDR_BYTES));
  const headersPtr = ptr(headers);
  const iovPtr = ptr(iov);
  for (let i = 0; i < n; i++) {
    headers[i * 4 + 1] = OPCODE.DATA;
    setPtr(iov, i * 8, headersPtr + i * 4);
    iov[i * 8 + 2] = 4;
    const w = (i * MMSGHDR_BYTES) / 4;
    setPtr(msgs, w, ptr(peer)); // msg_name
    msgs[w + 2] = 16; // msg_namelen
    setPtr(msgs, w + 4, iovPtr + i * 32); // msg_iov
    msgs[w + 6] = 2; // msg_iovlen
  }
  const t: Active = {
    id: s.id,
    fd,
    m,
    peer,
    peerPtr: ptr(peer),
    oack: s.oack,
    data,
    dataAt: "bytes" in s.content ? 0 : -1,
    dataPtr: ptr(data),
    srcFd,
    headers,
    msgs,
    msgsPtr: ptr(msgs),
    iov,
  };
  active.set(s.id, t);
  pollDirty = true;
  act(t, m.start(performance.now()));
}

function sendTo(t: Active, bytes: Uint8Array, to: Uint8Array): void {
  libc.sendto(t.fd, ptr(bytes), bytes.length, 0, to === from ? fromPtr : t.peerPtr, 16);
}

function finish(t: Active): void {
  const f = t.m.failure;
  if (f?.tellPeer !== undefined) sendTo(t, encodePacket({ op: "ERROR", code: 0, message: f.tellPeer }), t.peer);
  libc.close(t.fd);
  active.delete(t.id);
  pollDirty = true;
  post({ type: "end", id: t.id, bytes: t.m.bytes, ...(f ? { error: f.reason } : {}) });
}

/** Makes blocks from..to readable in `t.data` (descriptor files: pread into the chunk); false on a short read. */
function load(t: Active, from: number, to: number): boolean {
  if (t.srcFd < 0) return true;
  const { blksize, size } = t.m;
  const start = (from - 1) * blksize;
  const end = Math.min(to * blksize, size);
  if (t.dataAt >= 0 && start >= t.dataAt && end <= t.dataAt + t.data.length) return true;
  const want = Math.min(t.data.length, size - start);
  let got = 0;
  for (let i = 0; i < 16 && got < want; i++) {
    const r = Number(libc.pread(t.srcFd, (t.dataPtr + got) as Pointer, want - got, start + got));
    if (r <= 0) break;
    got += r;
  }
  t.dataAt = start;
  return start + got >= end;
}

/** Sends the pending slice with one sendmmsg; answers how many blocks the kernel took. */
function sendSlice(t: Active, now: number): void {
  const { m } = t;
  const from = m.sliceFrom;
  const to = m.sliceTo;
  if (!load(t, from, Math.min(m.lastBlock, from + m.windowsize - 1))) {
    act(t, m.fail({ reason: "read failed: short read", tellPeer: "read error" }));
    return;
  }
  const n = to - from + 1;
  const { blksize, size } = m;
  for (let i = 0, k = from; i < n; i++, k++) {
    const at = (k - 1) * blksize; // as m.blockBytes(k), without an array per block
    t.headers[i * 4 + 2] = (k >> 8) & 0xff;
    t.headers[i * 4 + 3] = k & 0xff;
    setPtr(t.iov, i * 8 + 4, t.dataPtr + (at - t.dataAt));
    t.iov[i * 8 + 6] = Math.max(0, Math.min(blksize, size - at));
  }
  let took = libc.sendmmsg(t.fd, t.msgsPtr as Pointer, n, 0);
  if (took < 0) took = libc.errno() === EAGAIN ? 0 : n; // other errors: left to the retransmission timer
  m.sentSlice(took, now);
}

function act(t: Active, v: Verdict): void {
  if (v === "oack" && t.oack) sendTo(t, t.oack, t.peer);
  else if (v === "send") {
    // Bounded: each slice moves the window on or, refused, counts towards SEND_RETRIES.
    for (let i = 0; i <= t.m.windowsize && t.m.ready(performance.now()); i++) sendSlice(t, performance.now());
  }
  if (t.m.ended) finish(t);
}

function receive(t: Active): void {
  for (let i = 0; i < RECV_BATCH && !t.m.ended; i++) {
    fromLen[0] = 16;
    const n = Number(libc.recvfrom(t.fd, rbufPtr, rbuf.length, MSG_DONTWAIT, fromPtr, fromLenPtr));
    if (n < 0) return;
    const p = t.peer;
    if (from[2] !== p[2] || from[3] !== p[3] || from[4] !== p[4] || from[5] !== p[5] || from[6] !== p[6] || from[7] !== p[7]) {
      sendTo(t, unknownTid, from);
      continue;
    }
    act(t, t.m.receive(rbuf, n, performance.now()));
  }
}

function rebuildPoll(): void {
  pollOrder = [...active.values()];
  pollfds = new Uint8Array(new ArrayBuffer((pollOrder.length + 1) * POLLFD_BYTES));
  const v = new DataView(pollfds.buffer);
  pollfdsPtr = ptr(pollfds);
  v.setInt32(0, wakeFd, true);
  v.setInt16(4, POLLIN, true);
  pollOrder.forEach((t, i) => {
    v.setInt32((i + 1) * POLLFD_BYTES, t.fd, true);
    v.setInt16((i + 1) * POLLFD_BYTES + 4, POLLIN, true);
  });
  pollDirty = false;
}

/** Runs transfers until none is left, returning to the event loop when woken and every TURN_MS. */
function loop(): void {
  const turnEnd = performance.now() + TURN_MS;
  for (let iter = 0; iter < 1_000_000 && active.size > 0; iter++) {
    let now = performance.now();
    let wake = turnEnd;
    for (const t of active.values()) {
      if (now >= t.m.wakeAt()) act(t, t.m.tick(now));
      if (!t.m.ended) wake = Math.min(wake, t.m.wakeAt());
    }
    if (active.size === 0) break;
    if (pollDirty) rebuildPoll();
    const waitNs = Math.max(0, Math.round((wake - now) * 1e6));
    timespec[0] = Math.floor(waitNs / 1e9);
    timespec[2] = waitNs % 1e9;
    const r = libc.ppoll(pollfdsPtr, pollOrder.length + 1, timespecPtr, null);
    let woken = false;
    if (r > 0) {
      if (pollfds[6]! & POLLIN) {
        libc.read(wakeFd, ptr(wakeBuf), 8);
        woken = true;
      }
      const order = pollOrder;
      for (let i = 0; i < order.length; i++) {
        if (pollfds[(i + 1) * POLLFD_BYTES + 6]! !== 0) {
          const t = order[i]!;
          if (!t.m.ended) receive(t);
        }
      }
    }
    now = performance.now();
    if (woken || now >= turnEnd) {
      setTimeout(loop, 0);
      return;
    }
  }
  running = false;
  if (stopping) post({ type: "stopped" });
}

function kick(): void {
  if (running) return;
  running = true;
  setTimeout(loop, 0);
}

self.onmessage = (event: MessageEvent<Inbound | { type: "init" }>) => {
  const msg = event.data;
  if (msg.type === "init") {
    try {
      libc = loadLibc();
    } catch (e) {
      post({ type: "failed", message: String(e) });
      return;
    }
    wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd < 0) post({ type: "failed", message: `eventfd failed: ${errnoName(libc.errno())}` });
    else post({ type: "ready", wakeFd });
    return;
  }
  if (msg.type === "start") open(msg);
  else if (msg.type === "abort") {
    const t = active.get(msg.id);
    if (t) act(t, t.m.abort(msg.reason));
  } else {
    stopping = true;
    for (const t of [...active.values()]) act(t, t.m.abort("server closed"));
    if (!running) post({ type: "stopped" });
    return;
  }
  kick();
};
