/**
 * A UDP socket that hears only what arrives on one network interface: `0.0.0.0:PORT` bound to the device with
 * `SO_BINDTODEVICE`, the way ISC dhcpd and Kea hear broadcasts per interface. A DHCP DISCOVER is a broadcast
 * from 0.0.0.0, so neither its source nor its destination tells which segment it came from; on a host with
 * several interfaces, only the socket it arrived on can. node:dgram has no such option, so the socket is made
 * through libc in a worker thread (`_devsock_worker.ts`) that blocks in `recvfrom` and posts datagrams here.
 * Linux only; port 67 needs root or CAP_NET_BIND_SERVICE, and kernels before 5.7 also want CAP_NET_RAW to bind a
 * socket to a device.
 */
import { VaqueroError } from "../../internal/errors/index.ts";

/** Where a datagram came from. */
export interface Peer {
  address: string;
  port: number;
}

/** Options of {@link bindToDevice}. */
export interface DeviceSocketOptions {
  /** Interface name, e.g. `eno1`. */
  device: string;
  port: number;
  onMessage: (data: Uint8Array, from: Peer) => void;
  /** A receive that failed and was retried (rare: the interface went away). */
  onWarning?: (message: string) => void;
}

/** A running device socket. */
export interface DeviceSocket {
  readonly device: string;
  /** Stops receiving (within 100 ms) and closes the socket. */
  close(): Promise<void>;
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "closed" }
  | { type: "error"; step: string; errno: number }
  | { type: "warning"; step: string; errno: number }
  | { type: "packets"; packets: { data: ArrayBuffer; address: string; port: number }[] };

const ERRNO: Record<number, string> = {
  1: "EPERM",
  13: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
};

/** Why a step failed, in words an operator can act on. */
function explain(device: string, port: number, step: string, errno: number): string {
  const code = ERRNO[errno] ?? `errno ${errno}`;
  if (step === "libc") return "cannot load libc to bind a socket to an interface (Linux with glibc is required)";
  if (step === "worker") return "cannot start the receiving thread";
  if (step === "SO_BINDTODEVICE" && errno === 19) return `interface ${device} does not exist`;
  if (errno === 1 || errno === 13)
    return `${step} on ${device} is not permitted: run as root or with CAP_NET_BIND_SERVICE (and CAP_NET_RAW on kernels before 5.7) (${code})`;
  if (errno === 98) return `port ${port} is already bound on ${device} (${code})`;
  return `${step} failed on ${device}: ${code}`;
}

/**
 * Binds `0.0.0.0:port` to `device` and delivers what arrives there. Rejects with `DHCP_BIND` (exit 2) and the
 * reason (no such interface, not permitted, port taken) when it cannot.
 */
export function bindToDevice(o: DeviceSocketOptions): Promise<DeviceSocket> {
  const stop = new SharedArrayBuffer(4);
  let worker: Worker;
  try {
    worker = new Worker(workerUrl());
  } catch (e) {
    return Promise.reject(bindError(o, "worker", 0, e));
  }
  let closed: () => void = () => {};
  const whenClosed = new Promise<void>((resolve) => {
    closed = resolve;
  });
  return new Promise<DeviceSocket>((resolve, reject) => {
    let ready = false;
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const m = event.data;
      if (m.type === "packets") {
        for (const p of m.packets) o.onMessage(new Uint8Array(p.data), { address: p.address, port: p.port });
      } else if (m.type === "ready") {
        ready = true;
        resolve({
          device: o.device,
          close: async () => {
            Atomics.store(new Int32Array(stop), 0, 1);
            Atomics.notify(new Int32Array(stop), 0);
            await Promise.race([whenClosed, Bun.sleep(1000)]);
            worker.terminate();
          },
        });
      } else if (m.type === "warning") {
        o.onWarning?.(explain(o.device, o.port, m.step, m.errno));
      } else if (m.type === "error") {
        worker.terminate();
        reject(bindError(o, m.step, m.errno));
      } else {
        closed();
      }
    };
    worker.onerror = (event) => {
      if (!ready) reject(bindError(o, "worker", 0, new Error(event.message)));
      else o.onWarning?.(`receiving thread for ${o.device} failed: ${event.message}`);
    };
    worker.postMessage({ device: o.device, port: o.port, stop });
  });
}

function bindError(o: DeviceSocketOptions, step: string, errno: number, cause?: unknown): VaqueroError {
  return new VaqueroError("DHCP_BIND", `dhcp: cannot listen on ${o.device} port ${o.port}: ${explain(o.device, o.port, step, errno)}`, {
    exitCode: 2,
    ...(cause ? { cause } : {}),
  });
}

/** The worker's code: beside this file from source; inside a compiled binary, under its embedded root. */
function workerUrl(): string {
  // Inside the compiled binary (Bun.main lies under /$bunfs/; import.meta.url keeps the source path in a
  // bytecode build) the worker is the bundled entry point, never a file of the build machine.
  if (Bun.main.includes("/$bunfs/")) return "/$bunfs/root/pkg/dhcp/_devsock_worker.js";
  return new URL("./_devsock_worker.ts", import.meta.url).href;
}
