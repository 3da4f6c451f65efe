import { describe, expect, test } from "bun:test";
import { ascii, bytes } from "./_testkit.ts";
import { DhcpDecodeError, DhcpEncodeError, decodePxeVendorOptions, encodeDomainSearch, encodePxeVendorOptions } from "./index.ts";

describe("PXE vendor options (option 43, PXE 2.1 §2.4)", () => {
  const cases: { name: string; sub: Map<number, Uint8Array>; wire: Uint8Array }[] = [
    { name: "empty: end only", sub: new Map(), wire: bytes("ff") },
    { name: "discovery control 8: boot file in packet", sub: new Map([[6, bytes("08")]]), wire: bytes("06 01 08 ff") },
    {
      name: "boot menu, prompt and boot servers, written in ascending order",
      sub: new Map([
        [10, bytes("05", ascii("Boot"))], // menu prompt: timeout 5 s, text
        [9, bytes("8000 04", ascii("iPXE"))], // boot menu: type 0x8000, description
        [8, bytes("8000 01 c0000201")], // boot servers: type 0x8000, one IP
        [6, bytes("07")], // discovery control
      ]),
      wire: bytes("06 01 07", "08 07 8000 01 c0000201", "09 07 8000 04", ascii("iPXE"), "0a 05 05", ascii("Boot"), "ff"),
    },
    { name: "boot item 71", sub: new Map([[71, bytes("8000 0000")]]), wire: bytes("47 04 8000 0000 ff") },
    { name: "zero-length sub-option", sub: new Map([[6, bytes()]]), wire: bytes("06 00 ff") },
  ];
  for (const c of cases) {
    test(`${c.name}: encode`, () => expect(encodePxeVendorOptions(c.sub)).toEqual(c.wire));
    test(`${c.name}: decode`, () => expect(decodePxeVendorOptions(c.wire)).toEqual(c.sub));
  }
  const lenient: { name: string; wire: Uint8Array; sub: Map<number, Uint8Array> }[] = [
    { name: "no end", wire: bytes("06 01 08"), sub: new Map([[6, bytes("08")]]) },
    { name: "pad and trailing bytes", wire: bytes("00 06 01 08 ff 09 99"), sub: new Map([[6, bytes("08")]]) },
    { name: "repeated code joined", wire: bytes("09 02 8000 09 01 00 ff"), sub: new Map([[9, bytes("8000 00")]]) },
    { name: "empty value", wire: bytes(), sub: new Map() },
  ];
  for (const c of lenient) test(`decode tolerates ${c.name}`, () => expect(decodePxeVendorOptions(c.wire)).toEqual(c.sub));
  const bad: { name: string; wire: Uint8Array; want: string }[] = [
    {
      name: "length past the end",
      wire: bytes("06 05 08"),
      want: "got PXE sub-option 6 length 5 at offset 0 of option 43, want at most 1",
    },
    { name: "missing length", wire: bytes("06 01 08 09"), want: "got PXE sub-option 9 length (missing) at offset 3" },
  ];
  for (const c of bad) {
    test(`decode refuses ${c.name}`, () => {
      expect(() => decodePxeVendorOptions(c.wire)).toThrow(DhcpDecodeError);
      expect(() => decodePxeVendorOptions(c.wire)).toThrow(c.want);
    });
  }
  test("encode refuses code 0, code 255 and values over 255 bytes", () => {
    expect(() => encodePxeVendorOptions(new Map([[0, bytes("01")]]))).toThrow(DhcpEncodeError);
    expect(() => encodePxeVendorOptions(new Map([[255, bytes("01")]]))).toThrow(DhcpEncodeError);
    expect(() => encodePxeVendorOptions(new Map([[9, new Uint8Array(256)]]))).toThrow("of 256 bytes");
  });
});

describe("domain search (option 119, RFC 3397 §2)", () => {
  const cases: { name: string; domains: string[]; wire: Uint8Array }[] = [
    {
      name: "the RFC 3397 §2 example",
      domains: ["eng.apple.com.", "marketing.apple.com."],
      wire: bytes("03", ascii("eng"), "05", ascii("apple"), "03", ascii("com"), "00", "09", ascii("marketing"), "c0 04"),
    },
    {
      name: "no trailing dots",
      domains: ["eng.apple.com", "marketing.apple.com"],
      wire: bytes("03656e67 056170706c65 03636f6d 00 096d61726b6574696e67 c004"),
    },
    { name: "whole name repeated", domains: ["a.b", "a.b"], wire: bytes("0161 0162 00 c000") },
    { name: "suffix of a later name", domains: ["b.c", "a.b.c", "x.c"], wire: bytes("0162 0163 00 0161 c000 0178 c002") },
    { name: "case-sensitive: no pointer", domains: ["a.COM", "b.com"], wire: bytes("0161 03434f4d 00 0162 03636f6d 00") },
    { name: "root", domains: ["."], wire: bytes("00") },
    { name: "empty list", domains: [], wire: bytes() },
  ];
  for (const c of cases) test(c.name, () => expect(encodeDomainSearch(c.domains)).toEqual(c.wire));
  const bad: { name: string; domains: string[]; want: string }[] = [
    { name: "empty label", domains: ["a..b"], want: 'label ""' },
    { name: "label of 64 bytes", domains: [`${"x".repeat(64)}.com`], want: "want labels of 1..63 bytes" },
    { name: "name over 255 bytes", domains: [Array.from({ length: 5 }, () => "x".repeat(60)).join(".")], want: "want at most 255 bytes" },
  ];
  for (const c of bad) {
    test(`refuses ${c.name}`, () => {
      expect(() => encodeDomainSearch(c.domains)).toThrow(DhcpEncodeError);
      expect(() => encodeDomainSearch(c.domains)).toThrow(c.want);
    });
  }
  test("pointers point backwards, below 0x4000, and decode to the names given", () => {
    const label = (i: number) => String(i).padStart(60, "x");
    const many = Array.from({ length: 300 }, (_, i) => `${label(i)}.example`);
    many.push(`${label(299)}.example`, `${label(1)}.example`);
    const wire = encodeDomainSearch(many);
    expect(wire.length).toBeGreaterThan(0x4000);
    expect(readNames(wire)).toEqual(many);
    // The last name but one repeats a name first written past 0x4000: it is written out again.
    const tail = wire.subarray(wire.length - 2 - (1 + 60 + 2));
    expect(tail.subarray(0, 61)).toEqual(bytes("3c", ascii(label(299))));
    // The last name is name 1, at offset 70 (name 0 is 61 bytes of label, then 9 of "\x07example\x00").
    expect(wire.subarray(wire.length - 2)).toEqual(bytes("c0 46"));
  });
});

/** A strict RFC 1035 §4.1.4 reader for the tests: every pointer must point backwards and below 0x4000. */
function readNames(wire: Uint8Array): string[] {
  const names: string[] = [];
  const read = (at: number, limit: number): [string[], number] => {
    const labels: string[] = [];
    while (true) {
      const n = wire[at]!;
      if (n === 0) return [labels, at + 1];
      if ((n & 0xc0) === 0xc0) {
        const ptr = ((n & 0x3f) << 8) | wire[at + 1]!;
        if (ptr >= limit || ptr >= 0x4000) throw new Error(`bad pointer ${ptr} at ${at}`);
        return [[...labels, ...read(ptr, ptr)[0]], at + 2];
      }
      labels.push(new TextDecoder().decode(wire.subarray(at + 1, at + 1 + n)));
      at += 1 + n;
    }
  };
  let at = 0;
  while (at < wire.length) {
    const [labels, next] = read(at, at);
    names.push(labels.join("."));
    at = next;
  }
  return names;
}
