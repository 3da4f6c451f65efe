/**
 * Address helpers shared by the SoT, DHCP and HTTP layers: MAC normalisation and IPv4 arithmetic.
 *
 * @example
 * normalizeMac("52-54-00-AB-CD-EF"); // "52:54:00:ab:cd:ef"
 * inCidr(ipv4ToInt("10.0.0.5"), parseCidr("10.0.0.0/24")!); // true
 */

/** Lower-case, colon-separated MAC from `52:54:00:ab:cd:ef`, `52-54-00-AB-CD-EF` or `525400abcdef`; else undefined. */
export function normalizeMac(input: string): string | undefined {
  const hex = input.trim().replace(/[:-]/g, "").toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  if (/[:-]/.test(input) && !/^[0-9A-Fa-f]{2}([:-])([0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$/.test(input.trim())) return undefined;
  return hex.match(/../g)?.join(":");
}

/** Dotted quad to an unsigned 32-bit integer; undefined when malformed. */
export function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

/** Unsigned 32-bit integer to a dotted quad. */
export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** A parsed IPv4 CIDR. */
export interface Cidr {
  network: number;
  prefix: number;
  /** Network mask as an unsigned integer. */
  mask: number;
  /** True when the address part had host bits set (e.g. 10.0.0.1/24). */
  hostBits: boolean;
}

/** Parses `a.b.c.d/n`; undefined when malformed. */
export function parseCidr(s: string): Cidr | undefined {
  const [ip, p, extra] = s.split("/");
  if (extra !== undefined || ip === undefined || p === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const addr = ipv4ToInt(ip);
  const prefix = Number(p);
  if (addr === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  return { network, prefix, mask, hostBits: network !== addr };
}

/** True when `ip` lies inside `cidr`. */
export function inCidr(ip: number, cidr: Cidr): boolean {
  return (ip & cidr.mask) >>> 0 === cidr.network;
}
