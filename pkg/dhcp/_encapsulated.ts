/**
 * Encapsulated option values (private; re-exported by `index.ts`): PXE vendor options in option 43
 * (PXE 2.1 §2.4, RFC 2132 §8.4) and the RFC 3397 domain search list (option 119).
 */
import { encodeUtf8 } from "./_bytes.ts";
import { DhcpDecodeError, DhcpEncodeError } from "./_errors.ts";

/**
 * Encodes PXE vendor sub-options for option 43 (PXE 2.1 §2.4; RFC 2132 §8.4 encapsulation): code, length,
 * value, in ascending code order, then end (255). Common codes: 6 discovery control, 8 boot servers, 9 boot
 * menu, 10 menu prompt, 71 boot item. Throws {@link DhcpEncodeError} for a code outside 1..254 or a value over
 * 255 bytes.
 */
export function encodePxeVendorOptions(sub: Map<number, Uint8Array>): Uint8Array {
  const codes = [...sub.keys()].sort((a, b) => a - b);
  let n = 1;
  for (const code of codes) {
    const v = sub.get(code);
    if (!Number.isInteger(code) || code < 1 || code > 254) {
      throw new DhcpEncodeError(`got PXE sub-option code ${code}, want an integer 1..254`);
    }
    if (!(v instanceof Uint8Array) || v.length > 255) {
      throw new DhcpEncodeError(`got PXE sub-option ${code} of ${v?.length} bytes, want a Uint8Array of at most 255`);
    }
    n += 2 + v.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const code of codes) {
    const v = sub.get(code)!;
    out[at] = code;
    out[at + 1] = v.length;
    out.set(v, at + 2);
    at += 2 + v.length;
  }
  out[at] = 255;
  return out;
}

/**
 * Decodes PXE vendor sub-options from an option 43 value (PXE 2.1 §2.4): pad (0) skipped, end (255) or the end
 * of the value stops, a repeated code is concatenated (RFC 3396). Throws {@link DhcpDecodeError} when a length
 * runs past the end.
 */
export function decodePxeVendorOptions(v: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let i = 0;
  while (i < v.length) {
    const code = v[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    const len = v[i + 1];
    const left = v.length - i - 2;
    if (len === undefined || len > left) {
      throw new DhcpDecodeError(
        `got PXE sub-option ${code} length ${len ?? "(missing)"} at offset ${i} of option 43, want at most ${Math.max(left, 0)}`,
      );
    }
    const value = v.slice(i + 2, i + 2 + len);
    const prev = out.get(code);
    if (prev) {
      const joined = new Uint8Array(prev.length + value.length);
      joined.set(prev);
      joined.set(value, prev.length);
      out.set(code, joined);
    } else {
      out.set(code, value);
    }
    i += 2 + len;
  }
  return out;
}

/**
 * Encodes a domain search list for option 119 (RFC 3397 §2): each name as DNS labels (RFC 1035 §3.1), a suffix
 * already written replaced by a compression pointer (RFC 1035 §4.1.4) whose offset counts from the start of the
 * value. Suffixes match exactly (case included). A trailing dot is optional; "" or "." is the root. Throws
 * {@link DhcpEncodeError} for an empty label, a label over 63 bytes or a name over 255 bytes. The result may
 * exceed 255 bytes: `encodeDhcp` splits it (RFC 3396).
 */
export function encodeDomainSearch(domains: string[]): Uint8Array {
  const out: number[] = [];
  const seen = new Map<string, number>();
  for (const domain of domains) {
    const name = domain.endsWith(".") ? domain.slice(0, -1) : domain;
    const labels = name === "" ? [] : name.split(".");
    const encoded = labels.map((l) => {
      const b = encodeUtf8(l);
      if (!b || b.length === 0 || b.length > 63) {
        throw new DhcpEncodeError(`got domain ${JSON.stringify(domain)} with label ${JSON.stringify(l)}, want labels of 1..63 bytes`);
      }
      return b;
    });
    if (encoded.reduce((n, b) => n + b.length + 1, 1) > 255) {
      throw new DhcpEncodeError(`got domain ${JSON.stringify(domain)}, want at most 255 bytes on the wire`);
    }
    let i = 0;
    for (; i < labels.length; i++) {
      const suffix = labels.slice(i).join(".");
      const ptr = seen.get(suffix);
      if (ptr !== undefined) {
        out.push(0xc0 | (ptr >> 8), ptr & 0xff);
        break;
      }
      if (out.length < 0x4000) seen.set(suffix, out.length);
      out.push(encoded[i]!.length, ...encoded[i]!);
    }
    if (i === labels.length) out.push(0);
  }
  return Uint8Array.from(out);
}
