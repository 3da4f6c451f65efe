/**
 * Pure TFTP codec: bytes ⇄ {@link TftpPacket}. Imports no socket module.
 *
 * Wire formats (all integers big-endian, strings NUL-terminated):
 * - RFC 1350 §5: RRQ/WRQ `| 01/02 | filename | 0 | mode | 0 |`, DATA `| 03 | block | data |`,
 *   ACK `| 04 | block |`, ERROR `| 05 | code | message | 0 |`.
 * - RFC 2347 §2: options appended to RRQ/WRQ as `| opt | 0 | value | 0 |` pairs; OACK `| 06 | opt | 0 | value | 0 |…`.
 *
 * Leniency, chosen for real peers: an ACK with trailing bytes is read as the ACK; an ERROR whose message lacks
 * its NUL keeps the rest of the packet as the message. Everything else that is malformed is refused.
 */
import { VaqueroError } from "../../internal/errors/index.ts";

/** Opcodes of RFC 1350 §5 and RFC 2347 §2. */
export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes of RFC 1350 Appendix and RFC 2347 §2 (8: option negotiation refused). */
export const TFTP_ERROR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** Longest filename (in bytes) a request may carry. Longer names are refused, not truncated. */
export const MAX_FILENAME_BYTES = 512;
/** Longest option name or value, in bytes. */
export const MAX_OPTION_BYTES = 64;
/** Options whose values must be decimal numbers (RFC 2348, 2349, 7440). */
export const NUMERIC_OPTIONS: ReadonlySet<string> = new Set(["blksize", "tsize", "timeout", "windowsize"]);

/** One option as it travels: name (any case on the wire) and raw string value, in wire order. */
export interface TftpOption {
  name: string;
  value: string;
}

/** A decoded TFTP packet. */
export type TftpPacket =
  | { op: "RRQ" | "WRQ"; filename: string; mode: string; options: TftpOption[] }
  | { op: "DATA"; block: number; data: Uint8Array }
  | { op: "ACK"; block: number }
  | { op: "ERROR"; code: number; message: string }
  | { op: "OACK"; options: TftpOption[] };

/** Stable codes of {@link TftpDecodeError}. */
export type TftpDecodeCode =
  | "TFTP_TRUNCATED"
  | "TFTP_UNKNOWN_OPCODE"
  | "TFTP_NO_NUL"
  | "TFTP_NAME_TOO_LONG"
  | "TFTP_BAD_TEXT"
  | "TFTP_EMPTY_FIELD"
  | "TFTP_OPTION_REPEATED"
  | "TFTP_OPTION_VALUE";

/** A packet that cannot be decoded; `message` reads `malformed TFTP packet: …` with what was got and wanted. */
export class TftpDecodeError extends VaqueroError {
  declare readonly code: TftpDecodeCode;
  constructor(code: TftpDecodeCode, what: string) {
    super(code, `malformed TFTP packet: ${what}`);
    this.name = "TftpDecodeError";
  }
}

const OP_NAMES = ["", "RRQ", "WRQ", "DATA", "ACK", "ERROR", "OACK"] as const;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** A cursor over a packet that remembers its first error; reads after an error return neutral values. */
class Reader {
  private pos = 0;
  err: TftpDecodeError | undefined;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(code: TftpDecodeCode, what: string): void {
    this.err ??= new TftpDecodeError(code, what);
  }

  u16(what: string): number {
    if (this.err) return 0;
    if (this.remaining < 2) {
      this.fail("TFTP_TRUNCATED", `${what}: got ${this.remaining} byte(s), want 2`);
      return 0;
    }
    const v = ((this.bytes[this.pos] ?? 0) << 8) | (this.bytes[this.pos + 1] ?? 0);
    this.pos += 2;
    return v;
  }

  /** A NUL-terminated string of at most `max` bytes (before the NUL). */
  cstring(what: string, max: number, lenient = false): string {
    if (this.err) return "";
    const end = this.bytes.indexOf(0, this.pos);
    const stop = end < 0 ? this.bytes.length : end;
    if (stop - this.pos > max) {
      this.fail("TFTP_NAME_TOO_LONG", `${what} is ${stop - this.pos} bytes long, want at most ${max}`);
      return "";
    }
    if (end < 0 && !lenient) {
      this.fail("TFTP_NO_NUL", `${what} has no NUL terminator`);
      return "";
    }
    let text: string;
    try {
      text = utf8.decode(this.bytes.subarray(this.pos, stop));
    } catch {
      this.fail("TFTP_BAD_TEXT", `${what} is not valid UTF-8`);
      return "";
    }
    this.pos = end < 0 ? stop : stop + 1;
    return text;
  }

  rest(): Uint8Array {
    if (this.err) return new Uint8Array(0);
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }
}

/** Options until the end of the packet (RFC 2347 §2); names compare case-insensitively, so repeats are refused. */
function readOptions(r: Reader, kind: string): TftpOption[] {
  const options: TftpOption[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 256 && r.remaining > 0 && !r.err; i++) {
    const name = r.cstring(`${kind} option name`, MAX_OPTION_BYTES);
    const value = r.cstring(`${kind} option "${name}" value`, MAX_OPTION_BYTES);
    if (r.err) break;
    const key = name.toLowerCase();
    if (name === "") r.fail("TFTP_EMPTY_FIELD", `${kind} option name is empty`);
    else if (seen.has(key)) r.fail("TFTP_OPTION_REPEATED", `${kind} option "${key}" appears twice, want once`);
    else if (NUMERIC_OPTIONS.has(key) && !/^[0-9]{1,20}$/.test(value)) {
      r.fail("TFTP_OPTION_VALUE", `${kind} option "${key}" got value "${value.slice(0, 20)}", want a decimal number`);
    }
    seen.add(key);
    options.push({ name, value });
  }
  if (r.remaining > 0) r.fail("TFTP_TRUNCATED", `${kind} has more than 256 options`);
  return options;
}

/**
 * Decodes one UDP payload. Throws only {@link TftpDecodeError}, whatever the input.
 *
 * @example
 * decodePacket(new Uint8Array([0, 4, 0, 1])); // { op: "ACK", block: 1 }
 */
export function decodePacket(bytes: Uint8Array): TftpPacket {
  const r = new Reader(bytes);
  const opcode = r.u16("opcode");
  if (r.err) throw r.err;
  const op = OP_NAMES[opcode];
  let packet: TftpPacket;
  switch (op) {
    case "RRQ":
    case "WRQ": {
      const filename = r.cstring(`${op} filename`, MAX_FILENAME_BYTES);
      if (!r.err && filename === "") r.fail("TFTP_EMPTY_FIELD", `${op} filename is empty`);
      const mode = r.cstring(`${op} mode`, MAX_OPTION_BYTES);
      if (!r.err && mode === "") r.fail("TFTP_EMPTY_FIELD", `${op} mode is empty`);
      packet = { op, filename, mode, options: readOptions(r, op) };
      break;
    }
    case "DATA": {
      const block = r.u16("DATA block number");
      packet = { op, block, data: r.rest() };
      break;
    }
    case "ACK":
      packet = { op, block: r.u16("ACK block number") };
      break;
    case "ERROR": {
      const code = r.u16("ERROR code");
      packet = { op, code, message: r.cstring("ERROR message", 65535, true) };
      break;
    }
    case "OACK":
      packet = { op, options: readOptions(r, "OACK") };
      break;
    default:
      throw new TftpDecodeError("TFTP_UNKNOWN_OPCODE", `got opcode ${opcode}, want 1-6`);
  }
  if (r.err) throw r.err;
  return packet;
}

/** Encoding errors (a NUL inside a string, a number out of 16 bits): programming errors, not peer input. */
function text(s: string, what: string): Uint8Array {
  if (s.includes("\0")) throw new VaqueroError("TFTP_ENCODE", `tftp: cannot encode ${what}: it holds a NUL`);
  return utf8Encoder.encode(s);
}

function u16(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new VaqueroError("TFTP_ENCODE", `tftp: cannot encode ${what} ${n}: want 0-65535`);
  }
  return n;
}

function concat(opcode: number, parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 2);
  const out = new Uint8Array(len);
  out[1] = opcode;
  let at = 2;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const NUL = new Uint8Array(1);
const word = (n: number, what: string): Uint8Array => new Uint8Array([u16(n, what) >> 8, n & 0xff]);
const optionParts = (options: TftpOption[]): Uint8Array[] =>
  options.flatMap((o) => [text(o.name, "option name"), NUL, text(o.value, "option value"), NUL]);

/**
 * Encodes one packet; the output is deterministic (options in the given order).
 *
 * @example
 * encodePacket({ op: "ACK", block: 1 }); // Uint8Array [0, 4, 0, 1]
 */
export function encodePacket(p: TftpPacket): Uint8Array {
  switch (p.op) {
    case "RRQ":
    case "WRQ":
      return concat(OPCODE[p.op], [text(p.filename, "filename"), NUL, text(p.mode, "mode"), NUL, ...optionParts(p.options)]);
    case "DATA": {
      const out = new Uint8Array(4 + p.data.length);
      out[1] = OPCODE.DATA;
      out[2] = u16(p.block, "block") >> 8;
      out[3] = p.block & 0xff;
      out.set(p.data, 4);
      return out;
    }
    case "ACK":
      return concat(OPCODE.ACK, [word(p.block, "block")]);
    case "ERROR":
      return concat(OPCODE.ERROR, [word(p.code, "error code"), text(p.message, "error message"), NUL]);
    case "OACK":
      return concat(OPCODE.OACK, optionParts(p.options));
  }
}
