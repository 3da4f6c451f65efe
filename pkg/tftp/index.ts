/**
 * pkg/tftp — a read-only TFTP server for PXE firmware and standard clients (RFC 1350, options per RFC 2347,
 * blksize RFC 2348, tsize and timeout RFC 2349, windowsize RFC 7440), with a pure codec and pluggable file
 * sources: a directory confined by the path guard, generated files, or a chain of both.
 *
 * Decisions: a leading `/` is stripped (PXE ROMs ask for `/pxelinux.0`; `/etc/passwd` is looked up as
 * `<root>/etc/passwd`); `netascii` is served as the stored bytes; blksize below 8 is ignored and above the maximum
 * clamped; windowsize 0 is ignored and above 64 clamped; write requests get error 2 "read-only server".
 *
 * Blocking and cancellation: `createTftpServer` resolves once bound; every transfer runs on its own socket,
 * bounded by `retries` × timeout without progress and by `transferDeadlineMs` overall. `close()` aborts running
 * transfers and resolves when every socket is closed.
 *
 * Threads: transfers run in a small pool of worker threads (2 by default) on libc sockets driven synchronously
 * (`ppoll`, `recvfrom`, `sendmmsg`), files in memory shared with them and directory files read there with `pread`
 * on the descriptor opened here behind the path guard; without libc through `bun:ffi` (or on IPv6) they run on
 * this thread on Bun's UDP socket. Both follow one protocol machine; events reach `onEvent` on this thread.
 *
 * @example
 * const server = await createTftpServer({
 *   address: "0.0.0.0",
 *   port: 69,
 *   files: chainSources(virtualSource({ "boot.ipxe": script }), await dirSource("/var/lib/vaquero/tftp")),
 *   log,
 *   onEvent: (e) => trace.add(e),
 * });
 * // … later
 * await server.close();
 */
export {
  decodePacket,
  encodePacket,
  MAX_FILENAME_BYTES,
  OPCODE,
  TFTP_ERROR,
  type TftpDecodeCode,
  TftpDecodeError,
  type TftpOption,
  type TftpPacket,
} from "./_codec.ts";
export {
  DEFAULT_BLKSIZE,
  MAX_BLKSIZE,
  MAX_WINDOWSIZE,
  MIN_BLKSIZE,
  type Negotiated,
  type NegotiationContext,
  negotiate,
} from "./_options.ts";
export { createTftpServer, type TftpServer, type TftpServerOptions } from "./_server.ts";
export {
  chainSources,
  dirSource,
  memoryFile,
  type TftpFile,
  type TftpFileSource,
  type TftpPeer,
  type VirtualContent,
  virtualSource,
} from "./_sources.ts";
export type { TftpEvent } from "./_transfer.ts";
