/**
 * Option negotiation for a read request (RFC 2347 §3): a pure function from the client's options to the
 * transfer parameters and the OACK to send. Only options we accept are acknowledged; none accepted → no OACK.
 */
import type { TftpOption } from "./_codec.ts";

/** RFC 1350 block size, used when no blksize option is accepted. */
export const DEFAULT_BLKSIZE = 512;
/** Largest block size RFC 2348 allows (65535 − 20 IP − 8 UDP − 4 TFTP − 39, as the RFC states). */
export const MAX_BLKSIZE = 65464;
/** Smallest block size RFC 2348 allows. */
export const MIN_BLKSIZE = 8;
/** Largest window the server grants (RFC 7440 allows 65535; the server may answer smaller, §3). */
export const MAX_WINDOWSIZE = 64;

/** Limits and facts the negotiation needs. */
export interface NegotiationContext {
  /** Size of the file being read, answered for tsize (RFC 2349 §2). */
  fileSize: number;
  /** Largest blksize granted (≤ {@link MAX_BLKSIZE}). */
  maxBlksize: number;
  /** Largest windowsize granted (default {@link MAX_WINDOWSIZE}). */
  maxWindowsize?: number;
}

/** Outcome of {@link negotiate}. */
export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout asked by the client in seconds (RFC 2349 §3), when accepted. */
  timeoutSeconds?: number;
  /** Options to send back in an OACK, lower-case, in the client's order; empty → send no OACK. */
  oack: TftpOption[];
}

/**
 * Negotiates a read request's options:
 * - blksize (RFC 2348): values below 8 are ignored (not acknowledged); larger than the limit are clamped to it
 *   (the RFC lets the server answer a smaller size).
 * - tsize (RFC 2349 §2): answered with the file size.
 * - timeout (RFC 2349 §3): 1–255 seconds acknowledged as asked; anything else ignored.
 * - windowsize (RFC 7440 §3): 1–65535 acknowledged, clamped to the server's maximum; 0 and above 65535 ignored.
 * Unknown options are ignored. Values are decimal strings (the codec refuses others for these four names).
 */
export function negotiate(options: TftpOption[], ctx: NegotiationContext): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: [] };
  const maxBlk = Math.max(MIN_BLKSIZE, Math.min(ctx.maxBlksize, MAX_BLKSIZE));
  const maxWin = Math.max(1, Math.min(ctx.maxWindowsize ?? MAX_WINDOWSIZE, 65535));
  for (const o of options) {
    const name = o.name.toLowerCase();
    if (!/^[0-9]{1,20}$/.test(o.value)) continue;
    const n = Number(o.value);
    switch (name) {
      case "blksize":
        if (n < MIN_BLKSIZE) break;
        out.blksize = Math.min(n, maxBlk);
        out.oack.push({ name, value: String(out.blksize) });
        break;
      case "tsize":
        out.oack.push({ name, value: String(ctx.fileSize) });
        break;
      case "timeout":
        if (n < 1 || n > 255) break;
        out.timeoutSeconds = n;
        out.oack.push({ name, value: String(n) });
        break;
      case "windowsize":
        if (n < 1 || n > 65535) break;
        out.windowsize = Math.min(n, maxWin);
        out.oack.push({ name, value: String(out.windowsize) });
        break;
    }
  }
  return out;
}
