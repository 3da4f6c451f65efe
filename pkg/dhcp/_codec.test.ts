import { describe, expect, test } from "bun:test";
import type { DhcpPacket } from "./_codec.ts";
import { ascii, bytes, chaddr, packet, padTo, zeros } from "./_testkit.ts";
import { DhcpDecodeError, DhcpEncodeError, decodeDhcp, encodeDhcp, macOf, Opt, put } from "./index.ts";

/** Offsets of RFC 2131 §2, figure 1. */
const SNAME = 44;
const FILE = 108;
const OPTIONS = 240;

function fill(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** The options area of an encoded message as [code, length] pairs up to the end option. */
function layout(wire: Uint8Array, from = OPTIONS, to = wire.length): [number, number][] {
  const out: [number, number][] = [];
  for (let i = from; i < to && wire[i] !== 255; ) {
    if (wire[i] === 0) {
      i++;
      continue;
    }
    out.push([wire[i]!, wire[i + 1]!]);
    i += 2 + wire[i + 1]!;
  }
  return out;
}

function expectRoundTrip(p: DhcpPacket, opts?: { maxSize?: number }): Uint8Array {
  const wire = encodeDhcp(p, opts);
  const back = decodeDhcp(wire);
  expect(back).toEqual(p);
  expect(encodeDhcp(back, opts)).toEqual(wire);
  return wire;
}

describe("round trips", () => {
  const cases: { name: string; p: DhcpPacket }[] = [
    { name: "empty options", p: packet() },
    {
      name: "every header field set",
      p: packet({
        op: 2,
        htype: 6,
        hlen: 16,
        hops: 3,
        xid: 0xffffffff,
        secs: 0xffff,
        flags: 0x8000,
        ciaddr: "10.1.2.3",
        yiaddr: "255.255.255.255",
        siaddr: "192.0.2.1",
        giaddr: "198.51.100.254",
        chaddr: fill(16),
        sname: "s".repeat(64),
        file: "f".repeat(128),
      }),
    },
    { name: "UTF-8 text in sname and file", p: packet({ sname: "bóot", file: "efi/grüb€.efi" }) },
    { name: "Latin-1 text that does not fit as UTF-8", p: packet({ file: "é".repeat(128) }) },
    {
      name: "unknown and zero-length options",
      p: packet({
        options: new Map([
          [224, fill(9)],
          [80, zeros(0)],
          [254, bytes("00")],
        ]),
      }),
    },
    { name: "option of exactly 255 bytes", p: packet({ options: new Map([[Opt.VENDOR_SPECIFIC, fill(255)]]) }) },
  ];
  for (const c of cases) test(c.name, () => void expectRoundTrip(c.p));
});

describe("encodeDhcp layout", () => {
  test("options ascending with 53 first, then end, then padding to 300 bytes", () => {
    const p = packet({
      options: new Map([put.u32(51, 3600), put.ip(54, "192.0.2.1"), put.u8(53, 2), put.ip(1, "255.255.255.0"), [224, bytes("aa")]]),
    });
    const wire = expectRoundTrip(p);
    expect(wire.length).toBe(300);
    expect(layout(wire)).toEqual([
      [53, 1],
      [1, 4],
      [51, 4],
      [54, 4],
      [224, 1],
    ]);
    const end = OPTIONS + 3 + 6 + 6 + 6 + 3;
    expect(wire[end]).toBe(255);
    expect(wire.subarray(end + 1)).toEqual(zeros(300 - end - 1));
  });
  test("no padding once over 300 bytes", () => {
    const wire = expectRoundTrip(packet({ options: new Map([[224, fill(100)]]) }));
    expect(wire.length).toBe(OPTIONS + 102 + 1);
  });
  test("RFC 3396: a 600-byte option is split into 255 + 255 + 90 and joined on decode", () => {
    const v = fill(600);
    const wire = expectRoundTrip(packet({ options: new Map([put.u8(53, 1), [Opt.DOMAIN_SEARCH, v], [12, ascii("h")]]) }));
    expect(layout(wire)).toEqual([
      [53, 1],
      [12, 1],
      [119, 255],
      [119, 255],
      [119, 90],
    ]);
  });
  test("RFC 3396: instances apart from each other are joined in order", () => {
    const wire = padTo(300, bytes(encodeDhcp(packet()).subarray(0, OPTIONS), "0c 02 6162 03 04 c0000201 0c 01 63 ff"));
    expect(decodeDhcp(wire).options).toEqual(
      new Map([
        [12, ascii("abc")],
        [3, bytes("c0000201")],
      ]),
    );
  });
  test("macOf: Ethernet only", () => {
    expect(macOf(packet({ chaddr: chaddr("0c:c4:7a:10:00:11") }))).toBe("0c:c4:7a:10:00:11");
    expect(macOf(packet({ htype: 6 }))).toBeUndefined();
    expect(macOf(packet({ hlen: 8 }))).toBeUndefined();
  });
});

describe("option overload (RFC 2132 §9.3)", () => {
  const big = (n: number) => packet({ options: new Map([put.u8(53, 5), [224, fill(150, 1)], [225, fill(100, 2)], [226, fill(n, 3)]]) });
  test("fits in 548 bytes: no overload", () => {
    const wire = expectRoundTrip(big(40), { maxSize: 576 });
    expect(wire.length).toBeLessThanOrEqual(548);
    expect(layout(wire).map(([c]) => c)).toEqual([53, 224, 225, 226]);
  });
  test("spills into file (overload 1)", () => {
    const p = big(100);
    const wire = expectRoundTrip(p, { maxSize: 576 });
    expect(wire.length).toBeLessThanOrEqual(548);
    expect(layout(wire)).toEqual([
      [53, 1],
      [52, 1],
      [224, 150],
      [225, 100],
    ]);
    expect(wire[OPTIONS + 3 + 2]).toBe(1);
    expect(layout(wire, FILE, FILE + 128)).toEqual([[226, 100]]);
    expect(wire[FILE + 102]).toBe(255);
  });
  test("spills into file then sname (overload 3)", () => {
    const p = packet({
      options: new Map([put.u8(53, 5), [224, fill(250)], [225, fill(120)], [226, fill(50)]]),
    });
    const wire = expectRoundTrip(p, { maxSize: 576 });
    expect(wire[OPTIONS + 5]).toBe(3);
    expect(layout(wire).map(([c]) => c)).toEqual([53, 52, 224]);
    expect(layout(wire, FILE, FILE + 128)).toEqual([[225, 120]]);
    expect(layout(wire, SNAME, SNAME + 64)).toEqual([[226, 50]]);
  });
  test("sname only when file is in use (overload 2)", () => {
    const p = packet({
      file: "ipxe.efi",
      options: new Map([
        [224, fill(250)],
        [225, fill(45)],
        [226, fill(30)],
      ]),
    });
    const wire = expectRoundTrip(p, { maxSize: 576 });
    expect(layout(wire)).toEqual([
      [52, 1],
      [224, 250],
      [225, 45],
    ]);
    expect(wire[OPTIONS + 2]).toBe(2);
    expect(layout(wire, SNAME, SNAME + 64)).toEqual([[226, 30]]);
  });
  test("maxSize below 576 counts as 576; a larger one avoids overload", () => {
    expect(encodeDhcp(big(100), { maxSize: 300 })).toEqual(encodeDhcp(big(100), { maxSize: 576 }));
    expect(layout(encodeDhcp(big(100), { maxSize: 1500 })).map(([c]) => c)).toEqual([53, 224, 225, 226]);
  });
  test("does not fit even with overload: DhcpEncodeError", () => {
    const p = packet({ sname: "x", file: "y", options: new Map([[224, fill(600)]]) });
    expect(() => encodeDhcp(p, { maxSize: 576 })).toThrow(DhcpEncodeError);
    expect(() => encodeDhcp(p, { maxSize: 576 })).toThrow("want at most 548");
  });
  test("decoding a hand-made overload reads file then sname; those fields read empty", () => {
    const base = encodeDhcp(packet());
    const wire = bytes(base.subarray(0, OPTIONS), "34 01 03 0c 01 61 ff");
    wire.set(bytes("0c 01 62 ff"), FILE);
    wire.set(bytes("0c 01 63 ff"), SNAME);
    const p = decodeDhcp(wire);
    expect(p.options).toEqual(new Map([[12, ascii("abc")]]));
    expect([p.sname, p.file]).toEqual(["", ""]);
  });
});

describe("encodeDhcp refuses what would not decode back to itself", () => {
  const cases: { name: string; p: DhcpPacket; want: string }[] = [
    { name: "op 3", p: packet({ op: 3 as 1 }), want: "got op 3" },
    { name: "hlen 17", p: packet({ hlen: 17 }), want: "got hlen 17" },
    { name: "xid negative", p: packet({ xid: -1 }), want: "got xid -1" },
    { name: "secs not an integer", p: packet({ secs: 1.5 }), want: "got secs 1.5" },
    { name: "ciaddr with a leading zero", p: packet({ ciaddr: "10.0.0.01" }), want: 'got ciaddr "10.0.0.01"' },
    { name: "chaddr of 6 bytes", p: packet({ chaddr: bytes("525400123456") }), want: "got chaddr of 6 bytes" },
    { name: "sname of 65 bytes", p: packet({ sname: "s".repeat(65) }), want: "got sname of 65 chars" },
    { name: "file with NUL", p: packet({ file: "a\0b" }), want: "got file" },
    { name: "file with a lone surrogate", p: packet({ file: "\ud800" }), want: "got file" },
    { name: "option 0", p: packet({ options: new Map([[0, zeros(1)]]) }), want: "got option code 0" },
    { name: "option 255", p: packet({ options: new Map([[255, zeros(1)]]) }), want: "got option code 255" },
    { name: "option 52 given", p: packet({ options: new Map([[52, bytes("01")]]) }), want: "got option 52" },
    { name: "value not bytes", p: packet({ options: new Map([[12, "x" as unknown as Uint8Array]]) }), want: "got option 12 value" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(() => encodeDhcp(c.p)).toThrow(DhcpEncodeError);
      expect(() => encodeDhcp(c.p)).toThrow(c.want);
    });
  }
});

describe("decodeDhcp refuses bad input with DhcpDecodeError", () => {
  const good = encodeDhcp(packet({ options: new Map([put.u8(53, 1), put.str(12, "node")]) }));
  test("truncated at every length 0..239", () => {
    for (let n = 0; n < 240; n++) {
      let err: unknown;
      try {
        decodeDhcp(good.subarray(0, n));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DhcpDecodeError);
      expect((err as DhcpDecodeError).code).toBe("DHCP_DECODE");
      expect((err as Error).message).toBe(`malformed DHCP packet: got ${n} bytes, want at least 240 (236-byte header and magic cookie)`);
    }
  });
  const mutate = (at: number, b: string, len = good.length) => {
    const w = padTo(len, good.slice(0, Math.min(len, good.length)));
    w.set(bytes(b), at);
    return w;
  };
  const overloadInFile = () => {
    const w = bytes(good.subarray(0, OPTIONS), "34 01 01 ff");
    w.set(bytes("34 01 01 ff"), FILE);
    return w;
  };
  const cases: { name: string; wire: Uint8Array; want: string }[] = [
    { name: "bad cookie", wire: mutate(236, "63825364"), want: "malformed DHCP packet: got magic cookie 0x63825364, want 0x63825363" },
    { name: "zero cookie", wire: mutate(236, "00000000"), want: "got magic cookie 0x00000000, want 0x63825363" },
    { name: "hlen 17", wire: mutate(2, "11"), want: "malformed DHCP packet: got hlen 17, want at most 16" },
    { name: "op 0", wire: mutate(0, "00"), want: "got op 0, want 1 (BOOTREQUEST) or 2 (BOOTREPLY)" },
    {
      name: "option length past the end",
      wire: mutate(240, "0c 10 6e6f6465", 246),
      want: "malformed DHCP packet: got option 12 length 16 at offset 240, want at most 4 (end of options field)",
    },
    { name: "option without a length byte", wire: mutate(240, "0c", 241), want: "got option 12 without a length byte at offset 240" },
    { name: "overload value 4", wire: mutate(240, "34 01 04 ff"), want: "got option 52 (overload) value 0x04, want one byte 1, 2 or 3" },
    { name: "overload of two bytes", wire: mutate(240, "34 02 01 01 ff"), want: "got option 52 (overload) value 0x0101" },
    { name: "overload inside file", wire: overloadInFile(), want: "got option 52 (overload) in the file field" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(() => decodeDhcp(c.wire)).toThrow(DhcpDecodeError);
      expect(() => decodeDhcp(c.wire)).toThrow(c.want);
    });
  }
  test("not bytes at all", () => {
    expect(() => decodeDhcp("x" as unknown as Uint8Array)).toThrow(DhcpDecodeError);
  });
});

describe("decodeDhcp tolerates what the RFCs allow", () => {
  const head = encodeDhcp(packet()).subarray(0, OPTIONS);
  const cases: { name: string; wire: Uint8Array; options: Map<number, Uint8Array> }[] = [
    {
      name: "zero-length options",
      wire: bytes(head, "50 00 0c 00 ff"),
      options: new Map([
        [80, zeros(0)],
        [12, zeros(0)],
      ]),
    },
    { name: "pad between options", wire: bytes(head, "00 00 0c 01 61 00 ff"), options: new Map([[12, ascii("a")]]) },
    { name: "no end option", wire: bytes(head, "0c 01 61"), options: new Map([[12, ascii("a")]]) },
    { name: "bytes after end ignored", wire: bytes(head, "0c 01 61 ff 0c 40 ee"), options: new Map([[12, ascii("a")]]) },
    { name: "exactly 240 bytes", wire: bytes(head), options: new Map() },
    {
      name: "a 64 KB packet",
      wire: padTo(65535, bytes(head, ...Array.from({ length: 200 }, () => bytes("e0 ff", fill(255))))),
      options: new Map([[224, bytes(...Array.from({ length: 200 }, () => fill(255)))]]),
    },
  ];
  for (const c of cases) test(c.name, () => expect(decodeDhcp(c.wire).options).toEqual(c.options));
  test("sname and file up to the first NUL, invalid UTF-8 as Latin-1", () => {
    const wire = bytes(head, "ff");
    wire.set(bytes("61 62 00 63"), SNAME);
    wire.set(bytes("e9 74 e9"), FILE);
    const p = decodeDhcp(wire);
    expect([p.sname, p.file]).toEqual(["ab", "été"]);
    expect(decodeDhcp(encodeDhcp(p))).toEqual(p);
  });
});

describe("purity (HOUSE-STYLE practice 4)", () => {
  test("the codec files import no socket module, directly or through other files", async () => {
    const roots = ["_codec.ts", "_options.ts", "_encapsulated.ts", "_describe.ts"];
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = async (url: URL) => {
      if (seen.has(url.href)) return;
      seen.add(url.href);
      const text = await Bun.file(url).text();
      for (const m of text.matchAll(/^import[^"']*["']([^"']+)["']/gm)) {
        const spec = m[1]!;
        if (/^(node:)?(dgram|net|http|https|tls)$/.test(spec)) bad.push(`${url.pathname} imports ${spec}`);
        if (spec.startsWith(".")) await visit(new URL(spec, url));
      }
    };
    for (const r of roots) await visit(new URL(r, import.meta.url));
    expect(seen.size).toBeGreaterThanOrEqual(roots.length + 2);
    expect(bad).toEqual([]);
  });
});
