import { describe, expect, test } from "bun:test";
import { decodePacket, encodePacket, TftpDecodeError, type TftpPacket } from "./_codec.ts";

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const bytes = (...parts: (number | number[])[]): Uint8Array => new Uint8Array(parts.flat());

/** Byte-literal fixtures, each field commented with the RFC that defines it. */
const FIXTURES: { name: string; wire: Uint8Array; packet: TftpPacket }[] = [
  {
    name: "RRQ, RFC 1350 §5",
    wire: bytes(
      [0x00, 0x01], // opcode 1 = RRQ
      ascii("pxelinux.0"), // filename
      0x00, // NUL
      ascii("octet"), // mode
      0x00, // NUL
    ),
    packet: { op: "RRQ", filename: "pxelinux.0", mode: "octet", options: [] },
  },
  {
    name: "RRQ with options, RFC 2347 §2 example shape (blksize RFC 2348, tsize RFC 2349, windowsize RFC 7440)",
    wire: bytes(
      [0x00, 0x01], // opcode 1 = RRQ
      ascii("ipxe.efi"), // filename
      0x00, // NUL
      ascii("octet"), // mode
      0x00, // NUL
      ascii("blksize"), // option name (RFC 2348)
      0x00, // NUL
      ascii("1468"), // value
      0x00, // NUL
      ascii("tsize"), // option name (RFC 2349)
      0x00, // NUL
      ascii("0"), // 0 on a read request: "tell me the size"
      0x00, // NUL
      ascii("windowsize"), // option name (RFC 7440)
      0x00, // NUL
      ascii("4"), // value
      0x00, // NUL
    ),
    packet: {
      op: "RRQ",
      filename: "ipxe.efi",
      mode: "octet",
      options: [
        { name: "blksize", value: "1468" },
        { name: "tsize", value: "0" },
        { name: "windowsize", value: "4" },
      ],
    },
  },
  {
    name: "WRQ, RFC 1350 §5",
    wire: bytes([0x00, 0x02], ascii("up"), 0x00, ascii("netascii"), 0x00), // opcode 2, filename, NUL, mode, NUL
    packet: { op: "WRQ", filename: "up", mode: "netascii", options: [] },
  },
  {
    name: "DATA, RFC 1350 §5 figure 5-2",
    wire: bytes(
      [0x00, 0x03], // opcode 3 = DATA
      [0x01, 0x02], // block number 258
      [0xde, 0xad, 0xbe, 0xef], // data
    ),
    packet: { op: "DATA", block: 258, data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
  },
  {
    name: "empty DATA ends a transfer whose size is a multiple of blksize, RFC 1350 §6",
    wire: bytes([0x00, 0x03], [0xff, 0xff]), // opcode 3, block 65535, no data
    packet: { op: "DATA", block: 65535, data: new Uint8Array(0) },
  },
  {
    name: "ACK, RFC 1350 §5 figure 5-3",
    wire: bytes([0x00, 0x04], [0x00, 0x00]), // opcode 4 = ACK, block 0 (acknowledges an OACK, RFC 2347 §2)
    packet: { op: "ACK", block: 0 },
  },
  {
    name: "ERROR, RFC 1350 §5 figure 5-4",
    wire: bytes(
      [0x00, 0x05], // opcode 5 = ERROR
      [0x00, 0x01], // error code 1 = file not found
      ascii("file not found"), // message
      0x00, // NUL
    ),
    packet: { op: "ERROR", code: 1, message: "file not found" },
  },
  {
    name: "OACK, RFC 2347 §2",
    wire: bytes(
      [0x00, 0x06], // opcode 6 = OACK
      ascii("blksize"), // acknowledged option
      0x00, // NUL
      ascii("1428"), // granted value
      0x00, // NUL
      ascii("tsize"), // acknowledged option
      0x00, // NUL
      ascii("8388608"), // the file's size (RFC 2349 §2)
      0x00, // NUL
    ),
    packet: {
      op: "OACK",
      options: [
        { name: "blksize", value: "1428" },
        { name: "tsize", value: "8388608" },
      ],
    },
  },
];

describe("codec fixtures", () => {
  for (const f of FIXTURES) {
    test(`decode ${f.name}`, () => expect(decodePacket(f.wire)).toEqual(f.packet));
    test(`encode ${f.name}`, () => expect(encodePacket(f.packet)).toEqual(f.wire));
  }
  test("an ACK with trailing bytes is still an ACK (lenient)", () => {
    expect(decodePacket(bytes([0, 4, 0, 7], [0, 0]))).toEqual({ op: "ACK", block: 7 });
  });
  test("an ERROR without the final NUL keeps its message (lenient)", () => {
    expect(decodePacket(bytes([0, 5, 0, 2], ascii("denied")))).toEqual({ op: "ERROR", code: 2, message: "denied" });
  });
});

const REFUSED: { name: string; wire: Uint8Array; code: string; message: string }[] = [
  { name: "empty packet", wire: bytes(), code: "TFTP_TRUNCATED", message: "malformed TFTP packet: opcode: got 0 byte(s), want 2" },
  { name: "one byte", wire: bytes(0), code: "TFTP_TRUNCATED", message: "malformed TFTP packet: opcode: got 1 byte(s), want 2" },
  { name: "opcode 0", wire: bytes(0, 0, 1, 2), code: "TFTP_UNKNOWN_OPCODE", message: "malformed TFTP packet: got opcode 0, want 1-6" },
  { name: "opcode 9", wire: bytes(0, 9), code: "TFTP_UNKNOWN_OPCODE", message: "malformed TFTP packet: got opcode 9, want 1-6" },
  {
    name: "RRQ filename without NUL",
    wire: bytes([0, 1], ascii("pxelinux.0")),
    code: "TFTP_NO_NUL",
    message: "malformed TFTP packet: RRQ filename has no NUL terminator",
  },
  {
    name: "RRQ mode without NUL",
    wire: bytes([0, 1], ascii("a"), 0, ascii("octet")),
    code: "TFTP_NO_NUL",
    message: "malformed TFTP packet: RRQ mode has no NUL terminator",
  },
  {
    name: "RRQ empty filename",
    wire: bytes([0, 1], 0, ascii("octet"), 0),
    code: "TFTP_EMPTY_FIELD",
    message: "malformed TFTP packet: RRQ filename is empty",
  },
  {
    name: "RRQ 10 KB filename",
    wire: bytes([0, 1], ascii("a".repeat(10240)), 0, ascii("octet"), 0),
    code: "TFTP_NAME_TOO_LONG",
    message: "malformed TFTP packet: RRQ filename is 10240 bytes long, want at most 512",
  },
  {
    name: "RRQ option without value",
    wire: bytes([0, 1], ascii("a"), 0, ascii("octet"), 0, ascii("blksize"), 0),
    code: "TFTP_NO_NUL",
    message: 'malformed TFTP packet: RRQ option "blksize" value has no NUL terminator',
  },
  {
    name: "RRQ option repeated (names compare case-insensitively, RFC 2347 §2)",
    wire: bytes([0, 1], ascii("a"), 0, ascii("octet"), 0, ascii("blksize"), 0, ascii("512"), 0, ascii("BLKSIZE"), 0, ascii("1024"), 0),
    code: "TFTP_OPTION_REPEATED",
    message: 'malformed TFTP packet: RRQ option "blksize" appears twice, want once',
  },
  {
    name: "RRQ non-numeric blksize",
    wire: bytes([0, 1], ascii("a"), 0, ascii("octet"), 0, ascii("blksize"), 0, ascii("big"), 0),
    code: "TFTP_OPTION_VALUE",
    message: 'malformed TFTP packet: RRQ option "blksize" got value "big", want a decimal number',
  },
  {
    name: "RRQ negative tsize",
    wire: bytes([0, 1], ascii("a"), 0, ascii("octet"), 0, ascii("tsize"), 0, ascii("-1"), 0),
    code: "TFTP_OPTION_VALUE",
    message: 'malformed TFTP packet: RRQ option "tsize" got value "-1", want a decimal number',
  },
  {
    name: "RRQ filename not UTF-8",
    wire: bytes([0, 1], [0xff, 0xfe], 0, ascii("octet"), 0),
    code: "TFTP_BAD_TEXT",
    message: "malformed TFTP packet: RRQ filename is not valid UTF-8",
  },
  {
    name: "DATA without block",
    wire: bytes(0, 3, 1),
    code: "TFTP_TRUNCATED",
    message: "malformed TFTP packet: DATA block number: got 1 byte(s), want 2",
  },
  {
    name: "ACK without block",
    wire: bytes(0, 4),
    code: "TFTP_TRUNCATED",
    message: "malformed TFTP packet: ACK block number: got 0 byte(s), want 2",
  },
  {
    name: "ERROR without code",
    wire: bytes(0, 5, 0),
    code: "TFTP_TRUNCATED",
    message: "malformed TFTP packet: ERROR code: got 1 byte(s), want 2",
  },
];

describe("codec refusals", () => {
  for (const r of REFUSED) {
    test(r.name, () => {
      let err: unknown;
      try {
        decodePacket(r.wire);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TftpDecodeError);
      expect((err as TftpDecodeError).code).toBe(r.code as TftpDecodeError["code"]);
      expect((err as TftpDecodeError).message).toBe(r.message);
    });
  }
});

/** Mulberry32: a small seeded PRNG, so fuzz failures replay. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("codec fuzz", () => {
  test("decode throws nothing but TftpDecodeError, and decode→encode→decode is stable", () => {
    const rnd = prng(0x7f7f);
    const int = (n: number): number => Math.floor(rnd() * n);
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      let wire: Uint8Array;
      if (i % 2 === 0) {
        // purely random packets, biased towards valid opcodes
        wire = new Uint8Array(int(40));
        for (let j = 0; j < wire.length; j++) wire[j] = int(4) === 0 ? 0 : int(256);
        if (wire.length >= 2 && int(2) === 0) wire[0] = 0;
        if (wire.length >= 2 && int(2) === 0) wire[1] = 1 + int(6);
      } else {
        // mutations of valid fixtures: flip, truncate or extend
        const base = FIXTURES[int(FIXTURES.length)]!.wire;
        wire = new Uint8Array(base);
        const kind = int(3);
        if (kind === 0 && wire.length > 0) wire[int(wire.length)] = int(256);
        if (kind === 1) wire = wire.subarray(0, int(wire.length + 1));
        if (kind === 2) wire = new Uint8Array([...wire, ...Array.from({ length: int(12) }, () => int(256))]);
      }
      let packet: TftpPacket;
      try {
        packet = decodePacket(wire);
      } catch (e) {
        if (!(e instanceof TftpDecodeError)) throw new Error(`case ${i}: decode threw ${String(e)}`);
        continue;
      }
      decoded++;
      expect(decodePacket(encodePacket(packet))).toEqual(packet);
    }
    expect(decoded).toBeGreaterThan(100);
  });
});
