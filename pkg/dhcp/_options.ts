/**
 * Option codes and typed accessors over the raw option map (private; re-exported by `index.ts`).
 * Readers never throw: a missing or malformed value reads as undefined. Writers build `[code, value]` entries.
 */
import { decodeText, encodeUtf8, formatIp, hex, parseIp } from "./_bytes.ts";
import type { DhcpPacket } from "./_codec.ts";
import { DhcpEncodeError } from "./_errors.ts";

/** DHCP message types, the values of option 53 (RFC 2132 §9.6). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/**
 * Option codes used by Vaquero: RFC 2132 (1–67), RFC 3004 (77), RFC 4578 (93, 94, 97), RFC 3397 (119), and
 * 175, the iPXE encapsulated options (iPXE's `dhcp.h`).
 */
export const Opt = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  NTP: 42,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  DOMAIN_SEARCH: 119,
  UUID_GUID: 97,
  IPXE: 175,
} as const;

type Packet = Pick<DhcpPacket, "options">;

function raw(p: Packet, code: number): Uint8Array | undefined {
  const v = p?.options?.get(code);
  return v instanceof Uint8Array ? v : undefined;
}

function fixed(p: Packet, code: number, n: number): Uint8Array | undefined {
  const v = raw(p, code);
  return v?.length === n ? v : undefined;
}

/**
 * Typed readers over {@link DhcpPacket.options}, network byte order (RFC 2132 §2). Each returns undefined when
 * the option is absent or its length is wrong for the type, and never throws.
 */
export const get = {
  /** A 1-byte unsigned integer. */
  u8(p: Packet, code: number): number | undefined {
    return fixed(p, code, 1)?.[0];
  },
  /** A 2-byte unsigned integer (e.g. 57, max message size). */
  u16(p: Packet, code: number): number | undefined {
    const v = fixed(p, code, 2);
    return v && (v[0]! << 8) | v[1]!;
  },
  /** A 4-byte unsigned integer (e.g. 51, 58, 59: seconds). */
  u32(p: Packet, code: number): number | undefined {
    const v = fixed(p, code, 4);
    return v && ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
  },
  /** One IPv4 address (e.g. 50, 54). */
  ip(p: Packet, code: number): string | undefined {
    const v = fixed(p, code, 4);
    return v && formatIp(v);
  },
  /** A non-empty list of IPv4 addresses (e.g. 3, 6, 42). */
  ips(p: Packet, code: number): string[] | undefined {
    const v = raw(p, code);
    if (!v || v.length === 0 || v.length % 4 !== 0) return undefined;
    const out: string[] = [];
    for (let i = 0; i < v.length; i += 4) out.push(formatIp(v, i));
    return out;
  },
  /** Text (NVT ASCII per RFC 2132 §2; UTF-8 when valid, else Latin-1), trailing NULs dropped. */
  str(p: Packet, code: number): string | undefined {
    const v = raw(p, code);
    if (!v) return undefined;
    let end = v.length;
    while (end > 0 && v[end - 1] === 0) end--;
    return decodeText(v.subarray(0, end));
  },
  /** The raw value. */
  bytes(p: Packet, code: number): Uint8Array | undefined {
    return raw(p, code);
  },
  /** Option 53, the DHCP message type (RFC 2132 §9.6), see {@link MessageType}. */
  messageType(p: Packet): number | undefined {
    return get.u8(p, Opt.MESSAGE_TYPE);
  },
  /** Option 55, the parameter request list (RFC 2132 §9.8), in the client's order. */
  paramList(p: Packet): number[] | undefined {
    const v = raw(p, Opt.PARAM_REQUEST_LIST);
    return v && Array.from(v);
  },
  /** Option 93, client system architectures (RFC 4578 §2.1), a non-empty list of 16-bit types (0 BIOS, 7 EFI x64…). */
  clientArch(p: Packet): number[] | undefined {
    const v = raw(p, Opt.CLIENT_ARCH);
    if (!v || v.length === 0 || v.length % 2 !== 0) return undefined;
    const out: number[] = [];
    for (let i = 0; i < v.length; i += 2) out.push((v[i]! << 8) | v[i + 1]!);
    return out;
  },
  /**
   * Option 97, the client machine identifier (RFC 4578 §2.3): type 0 then 16 bytes, as canonical lower-case
   * UUID text with the bytes in wire order (`8-4-4-4-12` hex digits).
   */
  uuid(p: Packet): string | undefined {
    const v = fixed(p, Opt.UUID_GUID, 17);
    if (v?.[0] !== 0) return undefined;
    const h = Array.from(v.subarray(1), (x) => hex(x, 2)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  },
  /**
   * Option 77, user classes: the RFC 3004 §4 form (length-prefixed, non-empty items covering the whole value) or,
   * when the value is not in that form, the whole value as one plain string, as iPXE sends `iPXE`.
   */
  userClass(p: Packet): string[] | undefined {
    const v = raw(p, Opt.USER_CLASS);
    if (!v || v.length === 0) return undefined;
    const items: string[] = [];
    let i = 0;
    while (i < v.length) {
      const n = v[i]!;
      if (n === 0 || i + 1 + n > v.length) return [decodeText(v)];
      items.push(decodeText(v.subarray(i + 1, i + 1 + n)));
      i += 1 + n;
    }
    return items;
  },
};

function intEntry(code: number, n: number, size: 1 | 2 | 4): [number, Uint8Array] {
  const max = 2 ** (8 * size) - 1;
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new DhcpEncodeError(`got option ${code} value ${n}, want an integer 0..${max}`);
  }
  const b = new Uint8Array(size);
  for (let i = size - 1, x = n; i >= 0; i--, x = Math.floor(x / 256)) b[i] = x % 256;
  return [code, b];
}

function ipBytes(code: number, ip: string): Uint8Array {
  const b = typeof ip === "string" ? parseIp(ip) : undefined;
  if (!b) throw new DhcpEncodeError(`got option ${code} address ${JSON.stringify(ip)}, want a dotted quad`);
  return b;
}

/**
 * Writers of option entries, `[code, value]`, for `new Map([...])` or `options.set(...entry)`. They throw
 * {@link DhcpEncodeError} for a value out of range or a bad dotted quad (network byte order, RFC 2132 §2).
 */
export const put = {
  /** A 1-byte unsigned integer (e.g. 53). */
  u8(code: number, n: number): [number, Uint8Array] {
    return intEntry(code, n, 1);
  },
  /** A 2-byte unsigned integer (e.g. 57). */
  u16(code: number, n: number): [number, Uint8Array] {
    return intEntry(code, n, 2);
  },
  /** A 4-byte unsigned integer (e.g. 51, 58, 59). */
  u32(code: number, n: number): [number, Uint8Array] {
    return intEntry(code, n, 4);
  },
  /** One IPv4 address (e.g. 1, 54). */
  ip(code: number, ip: string): [number, Uint8Array] {
    return [code, ipBytes(code, ip)];
  },
  /** A list of IPv4 addresses (e.g. 3, 6, 42). */
  ips(code: number, ips: string[]): [number, Uint8Array] {
    const out = new Uint8Array(ips.length * 4);
    ips.forEach((ip, i) => {
      out.set(ipBytes(code, ip), i * 4);
    });
    return [code, out];
  },
  /** Text as UTF-8, no NUL terminator (RFC 2132 §2); throws on a lone surrogate. */
  str(code: number, s: string): [number, Uint8Array] {
    const b = typeof s === "string" ? encodeUtf8(s) : undefined;
    if (!b) throw new DhcpEncodeError(`got option ${code} text that is not well-formed Unicode`);
    return [code, b];
  },
};
