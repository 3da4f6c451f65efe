/** Helpers for the tests of this package (private): byte literals and a blank packet. */
import type { DhcpPacket } from "./_codec.ts";

/** Bytes from hex strings (spaces allowed), ASCII text marked with `"` handled by {@link ascii}, or arrays. */
export function bytes(...parts: (string | Uint8Array | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part !== "string") {
      out.push(...part);
      continue;
    }
    const h = part.replace(/\s+/g, "");
    if (h.length % 2 !== 0 || /[^0-9a-f]/i.test(h)) throw new Error(`bad hex literal ${JSON.stringify(part)}`);
    for (let i = 0; i < h.length; i += 2) out.push(Number.parseInt(h.slice(i, i + 2), 16));
  }
  return Uint8Array.from(out);
}

/** The bytes of ASCII text. */
export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** `n` zero bytes. */
export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

/** A 16-byte chaddr holding `mac` (colon hex) then zeros. */
export function chaddr(mac: string): Uint8Array {
  const b = new Uint8Array(16);
  b.set(bytes(mac.replace(/:/g, "")));
  return b;
}

/** A BOOTREQUEST with every field zero or empty, then `over`. */
export function packet(over: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: chaddr("52:54:00:12:34:56"),
    sname: "",
    file: "",
    options: new Map(),
    ...over,
  };
}

/** `b` followed by zeros up to `n` bytes (BOOTP padding, RFC 951 §3). */
export function padTo(n: number, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(n, b.length));
  out.set(b);
  return out;
}
