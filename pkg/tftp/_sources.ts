/**
 * File sources the TFTP server reads from: a directory confined by the path guard, generated content, and a
 * chain of both. A source answers `undefined` for "no such file" and throws a VaqueroError to refuse a name.
 */
import { open, realpath } from "node:fs/promises";
import { isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import { createPathGuard, printable } from "../../internal/pathguard/index.ts";

/** The requesting client, as seen on the wire. */
export interface TftpPeer {
  address: string;
  port: number;
}

/** An open file: its size and positional reads. `close` is called exactly once by the server. */
export interface TftpFile {
  size: number;
  /** Up to `length` bytes from `offset`; fewer only at the end of the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
  /** The whole content, when it is held in memory (transfer workers then share it instead of reading). */
  readonly bytes?: Uint8Array;
  /** An open descriptor of the file, valid until `close` (transfer workers `pread` it). */
  readonly fd?: number;
}

/**
 * Where the server finds files. `open` resolves `undefined` when the name does not exist (error 1 "file not
 * found"); a thrown VaqueroError with code `PATH_INVALID` or `PATH_OUTSIDE_ROOT` becomes error 2 "access
 * violation", `PATH_NOT_FOUND` error 1, anything else error 0.
 */
export interface TftpFileSource {
  open(name: string, peer: TftpPeer): Promise<TftpFile | undefined>;
}

/** Content of a generated file. Strings are sent as UTF-8. */
export type VirtualContent = Uint8Array | string;

/** A file held in memory. */
export function memoryFile(content: VirtualContent): TftpFile {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  return {
    size: bytes.length,
    bytes,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
    close: async () => {},
  };
}

/** Read-ahead chunk of {@link dirSource} files: one disk read serves many small blocks. */
const READ_AHEAD = 256 << 10;

/**
 * Files under `root`, every name resolved through the path guard: `..`, absolute names, NUL, backslashes and
 * symlinks leading out of the root are refused. Only regular files are served (a directory is "not found").
 * After opening, the descriptor's real path is checked again (Linux `/proc/self/fd`) to close the race
 * between resolving and opening.
 */
export async function dirSource(root: string): Promise<TftpFileSource> {
  const guard = await createPathGuard(root);
  return {
    async open(name) {
      let real: string;
      try {
        real = await guard.resolve(name);
      } catch (e) {
        if (isVaqueroError(e, "PATH_NOT_FOUND")) return undefined;
        throw e;
      }
      const fh = await open(real, "r").catch(() => undefined);
      if (!fh) return undefined;
      try {
        const st = await fh.stat();
        if (!st.isFile()) {
          await fh.close();
          return undefined;
        }
        const opened = await realpath(`/proc/self/fd/${fh.fd}`).catch(() => real);
        if (!guard.contains(opened)) {
          throw new VaqueroError("PATH_OUTSIDE_ROOT", `path "${printable(name)}" resolves outside its root`);
        }
        let cache = new Uint8Array(0);
        let cacheAt = 0;
        return {
          size: st.size,
          fd: fh.fd,
          async read(offset, length) {
            if (offset < cacheAt || offset + length > cacheAt + cache.length) {
              const want = Math.max(length, READ_AHEAD);
              const buf = new Uint8Array(Math.min(want, Math.max(0, st.size - offset)));
              const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
              cache = buf.subarray(0, bytesRead);
              cacheAt = offset;
            }
            const start = offset - cacheAt;
            return cache.subarray(start, Math.min(cache.length, start + length));
          },
          close: () => fh.close(),
        };
      } catch (e) {
        await fh.close().catch(() => {});
        throw e;
      }
    },
  };
}

/**
 * Generated files: a map (or record) from name to content, or a function of the name and peer.
 *
 * @example
 * virtualSource({ "boot.ipxe": "#!ipxe\nchain http://10.0.0.1/ipxe\n" });
 * virtualSource(async (name, peer) => (name === "hello" ? `hello ${peer.address}` : undefined));
 */
export function virtualSource(
  files:
    | ReadonlyMap<string, VirtualContent>
    | Readonly<Record<string, VirtualContent>>
    | ((name: string, peer: TftpPeer) => VirtualContent | undefined | Promise<VirtualContent | undefined>),
): TftpFileSource {
  const lookup =
    typeof files === "function"
      ? files
      : files instanceof Map
        ? (name: string) => files.get(name)
        : (name: string) => (Object.hasOwn(files, name) ? (files as Record<string, VirtualContent>)[name] : undefined);
  return {
    async open(name, peer) {
      const content = await lookup(name, peer);
      return content === undefined ? undefined : memoryFile(content);
    },
  };
}

/** The first source that has the file wins; a refusal (throw) from any source ends the search. */
export function chainSources(...sources: TftpFileSource[]): TftpFileSource {
  return {
    async open(name, peer) {
      for (const s of sources) {
        const f = await s.open(name, peer);
        if (f) return f;
      }
      return undefined;
    },
  };
}
