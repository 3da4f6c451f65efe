/**
 * internal/libc — the few libc calls Vaquero makes through `bun:ffi` where Bun's and Node's socket APIs stop short
 * (a socket bound to a device, a synchronous UDP loop in a worker thread): socket options, `sendto`/`sendmmsg`,
 * `recvfrom`, `ppoll`, `pread`, `eventfd`, plus `sockaddr_in` helpers and errno names. Linux with glibc or musl
 * (`libc.so.6`, then `libc.so`); 64-bit layouts (x86_64, aarch64).
 *
 * Calls return what libc returns (−1 on failure); {@link Libc.errno} reads the thread's errno right after.
 * Loading throws VaqueroError `LIBC_UNAVAILABLE` when no libc can be opened (callers fall back).
 *
 * @example
 * const libc = loadLibc();
 * const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
 * if (fd < 0) throw new Error(errnoName(libc.errno()));
 */
import { dlopen, FFIType, read } from "bun:ffi";
import { describeError, VaqueroError } from "../errors/index.ts";

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_BROADCAST = 6;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_BINDTODEVICE = 25;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const EFD_NONBLOCK = 0x800;
export const EFD_CLOEXEC = 0x80000;
export const EINTR = 4;
export const EAGAIN = 11;

/** Size of `struct sockaddr_in`. */
export const SOCKADDR_IN_BYTES = 16;
/** Size of `struct pollfd`: int fd, short events, short revents. */
export const POLLFD_BYTES = 8;
/** Size of `struct mmsghdr` on 64-bit Linux: a 56-byte msghdr, `unsigned msg_len`, padding. */
export const MMSGHDR_BYTES = 64;
/** Size of `struct iovec` on 64-bit Linux. */
export const IOVEC_BYTES = 16;

const SYMBOLS = {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
  sendmmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
  recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64_fast },
  ppoll: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  pread: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i64], returns: FFIType.i64_fast },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  eventfd: { args: [FFIType.u32, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Symbols = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];

/** The bound libc functions, plus `errno()` for the calling thread. */
export type Libc = Symbols & { errno(): number };

let loaded: Libc | undefined;

/** Opens libc once per thread (`libc.so.6`, then `libc.so`); throws VaqueroError `LIBC_UNAVAILABLE`. */
export function loadLibc(): Libc {
  if (loaded) return loaded;
  let last: unknown;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      const symbols = dlopen(name, SYMBOLS).symbols;
      const errno = (): number => {
        const p = symbols.__errno_location();
        return p ? read.i32(p, 0) : 0;
      };
      loaded = Object.assign(symbols, { errno });
      return loaded;
    } catch (e) {
      last = e;
    }
  }
  throw new VaqueroError("LIBC_UNAVAILABLE", `libc: cannot load libc: ${describeError(last)}`, { exitCode: 2, cause: last });
}

/** Writes an IPv4 `sockaddr_in` for `address:port` into `out` (16 bytes); throws on a non-IPv4 address. */
export function encodeSockaddrIn(address: string, port: number, out: Uint8Array = new Uint8Array(SOCKADDR_IN_BYTES)): Uint8Array {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new VaqueroError("LIBC_ADDRESS", `libc: "${address.slice(0, 60)}" is not an IPv4 address`);
  }
  out.fill(0, 0, SOCKADDR_IN_BYTES);
  out[0] = AF_INET; // sa_family, little-endian u16
  out[2] = (port >> 8) & 0xff;
  out[3] = port & 0xff;
  for (let i = 0; i < 4; i++) out[4 + i] = Number(parts[i]);
  return out;
}

/** Reads the address and port of an IPv4 `sockaddr_in`. */
export function decodeSockaddrIn(sin: Uint8Array): { address: string; port: number } {
  return { address: `${sin[4]}.${sin[5]}.${sin[6]}.${sin[7]}`, port: ((sin[2] ?? 0) << 8) | (sin[3] ?? 0) };
}

/** True when `address` is a dotted-quad IPv4 address (what {@link encodeSockaddrIn} takes). */
export function isIPv4(address: string): boolean {
  return /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.test(address) && address.split(".").every((p) => Number(p) <= 255);
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** `EPERM` for 1 and so on; `errno N` for numbers without a name here. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}
