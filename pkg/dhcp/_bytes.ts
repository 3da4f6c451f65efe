/**
 * Byte helpers of the DHCPv4 codec (private): a cursor reader that remembers its first error, dotted quads and
 * the text rule of the BOOTP `sname`/`file` fields.
 */
import { DhcpEncodeError } from "./_errors.ts";

/**
 * A forward-only reader over a byte array. Reading past the end does not throw: it records the first error,
 * returns zeros and stays at the end, so a decoder reads a whole header and checks `err` once.
 */
export class Reader {
  private pos = 0;
  /** The first read that ran past the end, as a got/want message; undefined while every read fitted. */
  err: string | undefined;

  constructor(private readonly buf: Uint8Array) {}

  /** Current offset. */
  get offset(): number {
    return this.pos;
  }

  /** Returns `n` bytes (a view, not a copy), or zeros and an error when fewer are left. */
  bytes(n: number, what: string): Uint8Array {
    if (this.err === undefined && this.pos + n <= this.buf.length) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    this.err ??= `got ${this.buf.length - this.pos} bytes left for ${what} at offset ${this.pos}, want ${n}`;
    this.pos = this.buf.length;
    return new Uint8Array(n);
  }

  /** One byte. */
  u8(what: string): number {
    return this.bytes(1, what)[0]!;
  }

  /** A big-endian 16-bit unsigned integer. */
  u16(what: string): number {
    const b = this.bytes(2, what);
    return (b[0]! << 8) | b[1]!;
  }

  /** A big-endian 32-bit unsigned integer. */
  u32(what: string): number {
    const b = this.bytes(4, what);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /** An IPv4 address as a dotted quad. */
  ip(what: string): string {
    return formatIp(this.bytes(4, what));
  }
}

/** Dotted quad of 4 bytes. */
export function formatIp(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The 4 bytes of a canonical dotted quad (no leading zeros), or undefined. */
export function parseIp(s: string): Uint8Array | undefined {
  const m = QUAD.exec(s);
  if (!m) return undefined;
  return Uint8Array.of(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
}

/** Like {@link parseIp}, throwing a {@link DhcpEncodeError} naming `what`. */
export function mustIp(s: string, what: string): Uint8Array {
  const b = typeof s === "string" ? parseIp(s) : undefined;
  if (!b) throw new DhcpEncodeError(`got ${what} ${JSON.stringify(s)}, want a dotted quad such as "192.0.2.1"`);
  return b;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Text of bytes: UTF-8 when valid, else Latin-1 (one char per byte). Never throws. */
export function decodeText(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    let s = "";
    for (const c of b) s += String.fromCharCode(c);
    return s;
  }
}

/** UTF-8 bytes of `s`, or undefined when `s` holds a lone surrogate (which UTF-8 cannot carry). */
export function encodeUtf8(s: string): Uint8Array | undefined {
  const b = utf8Encoder.encode(s);
  return decodeText(b) === s ? b : undefined;
}

/**
 * Bytes for a text field that {@link decodeText} turns back into `s`: UTF-8 when it fits `max`, else Latin-1
 * when every char is below 256 and those bytes are not valid UTF-8 (this is how text decoded from Latin-1
 * bytes goes back on the wire); undefined when neither fits or `s` holds NUL.
 */
export function encodeField(s: string, max: number): Uint8Array | undefined {
  if (s.includes("\0")) return undefined;
  const u = encodeUtf8(s);
  if (u && u.length <= max) return u;
  if (s.length > max) return undefined;
  const l = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return undefined;
    l[i] = c;
  }
  return decodeText(l) === s ? l : undefined;
}

/** Lower-case hex of `n` with `width` digits. */
export function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}
