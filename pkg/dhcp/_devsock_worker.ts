/**
 * The receiving half of a device-bound UDP socket, run in a worker thread (see `_devsock.ts`). node:dgram and
 * Bun's UDP sockets cannot bind to a device, so this thread makes the socket through libc (`bun:ffi`):
 * `socket`, `setsockopt(SO_REUSEADDR, SO_BROADCAST, SO_BINDTODEVICE, SO_RCVTIMEO)`, `bind`, then blocks in
 * `recvfrom` with a 100 ms timeout, so it notices a stop request (a flag in shared memory) within 100 ms.
 * Datagrams are posted to the owner in batches (one blocking receive, then up to 63 more without waiting).
 *
 * Messages out: `{type: "ready"}`, `{type: "error", step, errno}` (then the thread ends), `{type: "packets",
 * packets: [{data, address, port}]}`, `{type: "warning", step, errno}` (a receive failed; it goes on) and
 * `{type: "closed"}`.
 */
import { ptr } from "bun:ffi";
import {
  AF_INET,
  EAGAIN,
  EINTR,
  encodeSockaddrIn,
  type Libc,
  loadLibc,
  MSG_DONTWAIT,
  SO_BINDTODEVICE,
  SO_BROADCAST,
  SO_RCVTIMEO,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../../internal/libc/index.ts";

declare const self: Worker;

/** What the owner sends once, to start. */
export interface DevsockInit {
  device: string;
  port: number;
  /** Int32Array over shared memory: the owner sets [0] to 1 to stop. */
  stop: SharedArrayBuffer;
}

const BATCH = 64;
const MAX_DATAGRAM = 65536;

self.onmessage = (event: MessageEvent<DevsockInit>) => {
  const { device, port } = event.data;
  const stop = new Int32Array(event.data.stop);
  let libc: Libc;
  try {
    libc = loadLibc();
  } catch {
    self.postMessage({ type: "error", step: "libc", errno: 0 });
    return;
  }
  const errno = (): number => libc.errno();
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    self.postMessage({ type: "error", step: "socket", errno: errno() });
    return;
  }
  const one = new Int32Array([1]);
  const dev = new TextEncoder().encode(`${device}\0`);
  const timeout = new BigInt64Array([0n, 100_000n]); // struct timeval {0 s, 100 ms}
  const sin = encodeSockaddrIn("0.0.0.0", port);
  const steps: [string, () => number][] = [
    ["SO_REUSEADDR", () => libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ptr(one), 4)],
    ["SO_BROADCAST", () => libc.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, ptr(one), 4)],
    ["SO_BINDTODEVICE", () => libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ptr(dev), dev.byteLength)],
    ["SO_RCVTIMEO", () => libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(timeout), 16)],
    ["bind", () => libc.bind(fd, ptr(sin), 16)],
  ];
  for (const [step, call] of steps) {
    if (call() !== 0) {
      const code = errno();
      libc.close(fd);
      self.postMessage({ type: "error", step, errno: code });
      return;
    }
  }
  self.postMessage({ type: "ready" });
  const buf = new Uint8Array(MAX_DATAGRAM);
  const from = new Uint8Array(16);
  const fromLen = new Uint32Array([16]);
  // Bounded by the stop flag: every blocking receive returns within 100 ms.
  while (Atomics.load(stop, 0) === 0) {
    const packets: { data: ArrayBuffer; address: string; port: number }[] = [];
    for (let i = 0; i < BATCH; i++) {
      fromLen[0] = 16;
      const n = Number(libc.recvfrom(fd, ptr(buf), MAX_DATAGRAM, i === 0 ? 0 : MSG_DONTWAIT, ptr(from), ptr(fromLen)));
      if (n < 0) {
        const code = errno();
        if (code !== EAGAIN && code !== EINTR) {
          // Not a timeout: report it and wait before trying again, so a lasting error cannot spin.
          self.postMessage({ type: "warning", step: "recvfrom", errno: code });
          Atomics.wait(stop, 0, 0, 100);
        }
        break;
      }
      packets.push({
        data: buf.slice(0, n).buffer,
        address: `${from[4]}.${from[5]}.${from[6]}.${from[7]}`,
        port: ((from[2] ?? 0) << 8) | (from[3] ?? 0),
      });
    }
    if (packets.length)
      self.postMessage(
        { type: "packets", packets },
        packets.map((p) => p.data),
      );
  }
  libc.close(fd);
  self.postMessage({ type: "closed" });
};
