/**
 * DHCPv4 message codec (private; re-exported by `index.ts`): the fixed BOOTP header (RFC 2131 §2, RFC 951 §3),
 * the magic cookie (RFC 2131 §3), options (RFC 2132 §2), long options (RFC 3396) and option overload
 * (RFC 2132 §9.3). Pure: no sockets, no clock, no globals.
 */
import { decodeText, encodeField, hex, mustIp, Reader } from "./_bytes.ts";
import { DhcpDecodeError, DhcpEncodeError } from "./_errors.ts";

/**
 * One DHCPv4 message (RFC 2131 §2, figure 1), with options kept raw so unknown ones survive a round trip.
 *
 * `options` holds each option once: instances repeated on the wire are already concatenated (RFC 3396) and an
 * option-overload (52, RFC 2132 §9.3) is already applied, so option 52, pad (0) and end (255) never appear and
 * overloaded `sname`/`file` read as empty strings.
 */
export interface DhcpPacket {
  /** 1 = BOOTREQUEST (client to server), 2 = BOOTREPLY. */
  op: 1 | 2;
  /** Hardware address type (ARP hardware type; 1 = Ethernet). */
  htype: number;
  /** Hardware address length, at most 16 (6 for Ethernet). */
  hlen: number;
  /** Relay hops. */
  hops: number;
  /** Transaction id chosen by the client, an unsigned 32-bit integer. */
  xid: number;
  /** Seconds since the client began acquiring or renewing. */
  secs: number;
  /** Flags; bit 15 (0x8000) asks for a broadcast reply (RFC 2131 §2, figure 2). */
  flags: number;
  /** Client address, when the client already has one (RENEW, REBIND, INFORM). */
  ciaddr: string;
  /** "Your" address: the address offered or acknowledged. */
  yiaddr: string;
  /** Next server in bootstrap (TFTP server for PXE). */
  siaddr: string;
  /** Relay agent address (RFC 1542). */
  giaddr: string;
  /** Client hardware address field, the whole 16 bytes as on the wire. */
  chaddr: Uint8Array;
  /** Server host name, up to 64 bytes on the wire (NUL-terminated when shorter). */
  sname: string;
  /** Boot file name, up to 128 bytes on the wire (NUL-terminated when shorter). */
  file: string;
  /** Raw option values by code (1..254, never 52). */
  options: Map<number, Uint8Array>;
}

/** Options of {@link encodeDhcp}. */
export interface EncodeOptions {
  /**
   * The client's maximum DHCP message size (option 57, RFC 2132 §9.10), counted as the IP datagram: values below
   * 576 are raised to 576, and 28 bytes of IP and UDP headers are taken off before comparing with the encoded
   * message. Without it the message has no upper bound.
   */
  maxSize?: number;
}

/** The DHCP magic cookie 99.130.83.99 (RFC 2131 §3, RFC 1497). */
export const MAGIC_COOKIE = 0x63825363;
const HEADER_LEN = 236;
const OPTIONS_AT = 240;
const SNAME_AT = 44;
const FILE_AT = 108;
/** BOOTP minimum message: 236-byte header + 64-byte vendor area (RFC 951 §3, RFC 1542 §2.1). */
const BOOTP_MIN = 300;
const IP_UDP_HEADERS = 28;
const OVERLOAD = 52;
const MESSAGE_TYPE = 53;

/**
 * Decodes one DHCPv4 message (RFC 2131 §2). Bytes after the end option are ignored; a missing end option ends
 * the options at the end of their field. Throws {@link DhcpDecodeError} (code `DHCP_DECODE`, a got/want
 * message) for fewer than 240 bytes, an op other than 1 or 2, hlen above 16, a bad magic cookie, an option whose
 * length runs past the end of its field, or a bad option overload (RFC 2132 §9.3); never throws anything else.
 */
export function decodeDhcp(bytes: Uint8Array): DhcpPacket {
  if (!(bytes instanceof Uint8Array)) throw new DhcpDecodeError(`got ${typeof bytes}, want a Uint8Array`);
  if (bytes.length < OPTIONS_AT) {
    throw new DhcpDecodeError(`got ${bytes.length} bytes, want at least 240 (236-byte header and magic cookie)`, {
      length: bytes.length,
    });
  }
  const r = new Reader(bytes);
  const op = r.u8("op");
  if (op !== 1 && op !== 2) throw new DhcpDecodeError(`got op ${op}, want 1 (BOOTREQUEST) or 2 (BOOTREPLY)`, { op });
  const htype = r.u8("htype");
  const hlen = r.u8("hlen");
  if (hlen > 16) throw new DhcpDecodeError(`got hlen ${hlen}, want at most 16`, { hlen });
  const hops = r.u8("hops");
  const xid = r.u32("xid");
  const secs = r.u16("secs");
  const flags = r.u16("flags");
  const ciaddr = r.ip("ciaddr");
  const yiaddr = r.ip("yiaddr");
  const siaddr = r.ip("siaddr");
  const giaddr = r.ip("giaddr");
  const chaddr = r.bytes(16, "chaddr").slice();
  const snameRaw = r.bytes(64, "sname");
  const fileRaw = r.bytes(128, "file");
  const cookie = r.u32("magic cookie");
  if (r.err !== undefined) throw new DhcpDecodeError(r.err);
  if (cookie !== MAGIC_COOKIE) {
    throw new DhcpDecodeError(`got magic cookie 0x${hex(cookie, 8)}, want 0x63825363`, { cookie });
  }

  const chunks = new Map<number, Uint8Array[]>();
  readOptions(bytes.subarray(OPTIONS_AT), OPTIONS_AT, "options", chunks);
  let sname = cString(snameRaw);
  let file = cString(fileRaw);
  const overload = chunks.get(OVERLOAD);
  if (overload !== undefined) {
    chunks.delete(OVERLOAD);
    const v = concat(overload);
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) {
      throw new DhcpDecodeError(`got option 52 (overload) value 0x${Array.from(v, (x) => hex(x, 2)).join("")}, want one byte 1, 2 or 3`);
    }
    // RFC 3396: the aggregate option buffer is options, then file, then sname.
    if (v[0]! & 1) {
      readOptions(fileRaw, FILE_AT, "file", chunks);
      file = "";
    }
    if (v[0]! & 2) {
      readOptions(snameRaw, SNAME_AT, "sname", chunks);
      sname = "";
    }
  }
  const options = new Map<number, Uint8Array>();
  for (const [code, list] of chunks) options.set(code, concat(list));
  return { op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options };
}

/** Reads code/length/value triples until end (255) or the end of `buf`; repeated codes keep every instance. */
function readOptions(buf: Uint8Array, base: number, field: string, into: Map<number, Uint8Array[]>): void {
  let i = 0;
  while (i < buf.length) {
    const code = buf[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) return;
    if (i + 1 >= buf.length) {
      throw new DhcpDecodeError(`got option ${code} without a length byte at offset ${base + i} (${field} field), want code and length`);
    }
    const len = buf[i + 1]!;
    const left = buf.length - i - 2;
    if (len > left) {
      throw new DhcpDecodeError(`got option ${code} length ${len} at offset ${base + i}, want at most ${left} (end of ${field} field)`, {
        code,
        length: len,
      });
    }
    if (code === OVERLOAD && field !== "options") {
      throw new DhcpDecodeError(`got option 52 (overload) in the ${field} field, want it only in the options field`);
    }
    const list = into.get(code);
    const value = buf.subarray(i + 2, i + 2 + len);
    if (list) list.push(value);
    else into.set(code, [value]);
    i += 2 + len;
  }
}

function concat(list: Uint8Array[]): Uint8Array {
  if (list.length === 1) return list[0]!.slice();
  let n = 0;
  for (const c of list) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of list) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return decodeText(nul < 0 ? b : b.subarray(0, nul));
}

/**
 * Encodes a DHCPv4 message (RFC 2131 §2) so that `decodeDhcp(encodeDhcp(p))` equals `p` and the bytes depend on
 * `p` alone. Options go in ascending code order with 53 (message type) first (RFC 2131 §4.1 lets them come in
 * any order; some clients want 53 first); values over 255 bytes are split into consecutive instances
 * (RFC 3396); an end option (RFC 2132 §3.2) follows, then zeros up to 300 bytes (RFC 951 §3, RFC 1542 §2.1).
 * When `opts.maxSize` would be exceeded, options spill into `file` then `sname` with option 52
 * (RFC 2132 §9.3), which needs those fields empty. Throws {@link DhcpEncodeError} (code `DHCP_ENCODE`) for a
 * field out of range, a bad dotted quad, a `sname`/`file` too long or holding NUL, an option code outside
 * 1..254 or equal to 52, or options that do not fit `maxSize`.
 */
export function encodeDhcp(p: DhcpPacket, opts: EncodeOptions = {}): Uint8Array {
  const header = encodeHeader(p);
  const sname = encodeField(p.sname, 64);
  if (sname === undefined) throw new DhcpEncodeError(`got sname of ${p.sname.length} chars, want at most 64 bytes without NUL`);
  const file = encodeField(p.file, 128);
  if (file === undefined) throw new DhcpEncodeError(`got file of ${p.file.length} chars, want at most 128 bytes without NUL`);
  const items = optionInstances(p.options);
  let limit = Number.POSITIVE_INFINITY;
  if (opts.maxSize !== undefined) {
    if (!Number.isInteger(opts.maxSize)) throw new DhcpEncodeError(`got maxSize ${opts.maxSize}, want an integer`);
    limit = Math.max(576, opts.maxSize) - IP_UDP_HEADERS;
  }
  const mainLen = items.reduce((n, it) => n + it.length, 0) + 1;
  if (OPTIONS_AT + mainLen <= limit) return assemble(header, sname, file, items);

  // Overload (RFC 2132 §9.3): fill options, then file, then sname, whole instances in order, each field ending
  // in an end option; the options field keeps 3 bytes for option 52.
  const fields: { name: "options" | "file" | "sname"; room: number; items: Uint8Array[] }[] = [
    { name: "options", room: limit - OPTIONS_AT - 3 - 1, items: [] },
  ];
  if (file.length === 0) fields.push({ name: "file", room: 127, items: [] });
  if (sname.length === 0) fields.push({ name: "sname", room: 63, items: [] });
  let f = 0;
  for (const it of items) {
    while (f < fields.length && it.length > fields[f]!.room) f++;
    const field = fields[f];
    if (field === undefined) {
      throw new DhcpEncodeError(
        `got ${OPTIONS_AT + mainLen} bytes, want at most ${limit} (max size ${opts.maxSize} less 28 bytes of IP and UDP headers)` +
          ` even with option overload into ${fields.length === 1 ? "no field (file and sname are in use)" : fields.map((x) => x.name).join(" and ")}`,
        { size: OPTIONS_AT + mainLen, limit },
      );
    }
    field.items.push(it);
    field.room -= it.length;
  }
  const [main, ...spill] = fields;
  let overload = 0;
  let fileOut = file;
  let snameOut = sname;
  for (const x of spill) {
    if (x.items.length === 0) continue;
    const area = new Uint8Array(x.name === "file" ? 128 : 64);
    let at = 0;
    for (const it of x.items) {
      area.set(it, at);
      at += it.length;
    }
    area[at] = 255;
    if (x.name === "file") {
      overload |= 1;
      fileOut = area;
    } else {
      overload |= 2;
      snameOut = area;
    }
  }
  const mainItems = main!.items;
  let at = mainItems[0]?.[0] === MESSAGE_TYPE ? 1 : 0;
  while (at < mainItems.length && mainItems[at]![0]! < OVERLOAD) at++;
  mainItems.splice(at, 0, Uint8Array.of(OVERLOAD, 1, overload));
  return assemble(header, snameOut, fileOut, mainItems);
}

function assemble(header: Uint8Array, sname: Uint8Array, file: Uint8Array, items: Uint8Array[]): Uint8Array {
  const optLen = items.reduce((n, it) => n + it.length, 0) + 1;
  const out = new Uint8Array(Math.max(BOOTP_MIN, OPTIONS_AT + optLen));
  out.set(header, 0);
  out.set(sname, SNAME_AT);
  out.set(file, FILE_AT);
  new DataView(out.buffer).setUint32(HEADER_LEN, MAGIC_COOKIE);
  let at = OPTIONS_AT;
  for (const it of items) {
    out.set(it, at);
    at += it.length;
  }
  out[at] = 255;
  return out;
}

/** The wire instances of every option: 53 first, then ascending; each value cut into 255-byte pieces. */
function optionInstances(options: Map<number, Uint8Array>): Uint8Array[] {
  if (!(options instanceof Map)) throw new DhcpEncodeError("got options that are not a Map, want Map<number, Uint8Array>");
  const codes = [...options.keys()];
  for (const code of codes) {
    if (!Number.isInteger(code) || code < 1 || code > 254) {
      throw new DhcpEncodeError(`got option code ${code}, want an integer 1..254 (0 is pad, 255 is end)`);
    }
    if (code === OVERLOAD) throw new DhcpEncodeError("got option 52 (overload) in options, want it absent: encodeDhcp adds it itself");
    if (!(options.get(code) instanceof Uint8Array)) throw new DhcpEncodeError(`got option ${code} value that is not a Uint8Array`);
  }
  codes.sort((a, b) => (a === MESSAGE_TYPE ? -1 : b === MESSAGE_TYPE ? 1 : a - b));
  const out: Uint8Array[] = [];
  for (const code of codes) {
    const v = options.get(code)!;
    let at = 0;
    do {
      const piece = v.subarray(at, at + 255);
      const it = new Uint8Array(2 + piece.length);
      it[0] = code;
      it[1] = piece.length;
      it.set(piece, 2);
      out.push(it);
      at += 255;
    } while (at < v.length);
  }
  return out;
}

function encodeHeader(p: DhcpPacket): Uint8Array {
  if (p.op !== 1 && p.op !== 2) throw new DhcpEncodeError(`got op ${p.op}, want 1 (BOOTREQUEST) or 2 (BOOTREPLY)`);
  const b = new Uint8Array(HEADER_LEN);
  const v = new DataView(b.buffer);
  b[0] = p.op;
  b[1] = uint(p.htype, 0xff, "htype");
  b[2] = uint(p.hlen, 16, "hlen");
  b[3] = uint(p.hops, 0xff, "hops");
  v.setUint32(4, uint(p.xid, 0xffffffff, "xid"));
  v.setUint16(8, uint(p.secs, 0xffff, "secs"));
  v.setUint16(10, uint(p.flags, 0xffff, "flags"));
  b.set(mustIp(p.ciaddr, "ciaddr"), 12);
  b.set(mustIp(p.yiaddr, "yiaddr"), 16);
  b.set(mustIp(p.siaddr, "siaddr"), 20);
  b.set(mustIp(p.giaddr, "giaddr"), 24);
  if (!(p.chaddr instanceof Uint8Array) || p.chaddr.length !== 16) {
    throw new DhcpEncodeError(`got chaddr of ${p.chaddr?.length} bytes, want 16 (the whole field, zero-padded)`);
  }
  b.set(p.chaddr, 28);
  return b;
}

function uint(n: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new DhcpEncodeError(`got ${what} ${n}, want an integer 0..${max}`);
  return n;
}

/**
 * The client's MAC address as lower-case colon hex (`52:54:00:12:34:56`), from `chaddr` when htype is 1
 * (Ethernet) and hlen is 6 (RFC 2131 §2); undefined otherwise.
 */
export function macOf(p: DhcpPacket): string | undefined {
  if (p.htype !== 1 || p.hlen !== 6 || p.chaddr.length < 6) return undefined;
  return Array.from(p.chaddr.subarray(0, 6), (x) => hex(x, 2)).join(":");
}
