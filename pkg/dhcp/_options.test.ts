import { describe, expect, test } from "bun:test";
import { ascii, bytes, packet } from "./_testkit.ts";
import { DhcpEncodeError, describeDhcp, get, MessageType, Opt, put } from "./index.ts";

const withOpt = (code: number, v: Uint8Array) => packet({ options: new Map([[code, v]]) });

describe("get: typed readers (RFC 2132 §2 network byte order)", () => {
  const cases: { name: string; read: (p: ReturnType<typeof packet>) => unknown; value?: [number, Uint8Array]; want: unknown }[] = [
    { name: "u8", read: (p) => get.u8(p, 53), value: [53, bytes("05")], want: 5 },
    { name: "u8 of 2 bytes", read: (p) => get.u8(p, 53), value: [53, bytes("0505")], want: undefined },
    { name: "u8 absent", read: (p) => get.u8(p, 53), want: undefined },
    { name: "u16", read: (p) => get.u16(p, 57), value: [57, bytes("ffff")], want: 65535 },
    { name: "u16 of 1 byte", read: (p) => get.u16(p, 57), value: [57, bytes("ff")], want: undefined },
    { name: "u32", read: (p) => get.u32(p, 51), value: [51, bytes("ffffffff")], want: 0xffffffff },
    { name: "u32 of 0 bytes", read: (p) => get.u32(p, 51), value: [51, bytes()], want: undefined },
    { name: "ip", read: (p) => get.ip(p, 54), value: [54, bytes("c0000201")], want: "192.0.2.1" },
    { name: "ip of 8 bytes", read: (p) => get.ip(p, 54), value: [54, bytes("c0000201 c0000202")], want: undefined },
    { name: "ips", read: (p) => get.ips(p, 6), value: [6, bytes("c0000201 c0000202")], want: ["192.0.2.1", "192.0.2.2"] },
    { name: "ips of 5 bytes", read: (p) => get.ips(p, 6), value: [6, bytes("c000020101")], want: undefined },
    { name: "ips empty", read: (p) => get.ips(p, 6), value: [6, bytes()], want: undefined },
    { name: "str", read: (p) => get.str(p, 12), value: [12, ascii("node-1")], want: "node-1" },
    { name: "str with trailing NULs", read: (p) => get.str(p, 12), value: [12, bytes("6e 00 00")], want: "n" },
    { name: "str in Latin-1", read: (p) => get.str(p, 12), value: [12, bytes("e9")], want: "é" },
    { name: "str empty", read: (p) => get.str(p, 12), value: [12, bytes()], want: "" },
    { name: "bytes", read: (p) => get.bytes(p, 224), value: [224, bytes("0102")], want: bytes("0102") },
    { name: "messageType", read: (p) => get.messageType(p), value: [53, bytes("08")], want: MessageType.INFORM },
    { name: "paramList", read: (p) => get.paramList(p), value: [55, bytes("01 03 2b")], want: [1, 3, 43] },
    { name: "clientArch BIOS", read: (p) => get.clientArch(p), value: [93, bytes("0000")], want: [0] },
    { name: "clientArch two", read: (p) => get.clientArch(p), value: [93, bytes("0007 0010")], want: [7, 16] },
    { name: "clientArch odd length", read: (p) => get.clientArch(p), value: [93, bytes("000700")], want: undefined },
    {
      name: "uuid",
      read: (p) => get.uuid(p),
      value: [97, bytes("00 00112233445566778899AABBCCDDEEFF")],
      want: "00112233-4455-6677-8899-aabbccddeeff",
    },
    { name: "uuid of type 1", read: (p) => get.uuid(p), value: [97, bytes("01 00112233445566778899aabbccddeeff")], want: undefined },
    { name: "uuid of 16 bytes", read: (p) => get.uuid(p), value: [97, bytes("00112233445566778899aabbccddeeff")], want: undefined },
    { name: "userClass iPXE plain", read: (p) => get.userClass(p), value: [77, ascii("iPXE")], want: ["iPXE"] },
    {
      name: "userClass RFC 3004",
      read: (p) => get.userClass(p),
      value: [77, bytes("04", ascii("iPXE"), "03", ascii("foo"))],
      want: ["iPXE", "foo"],
    },
    { name: "userClass RFC 3004 short item", read: (p) => get.userClass(p), value: [77, bytes("05", ascii("iPXE"))], want: ["\x05iPXE"] },
    { name: "userClass empty", read: (p) => get.userClass(p), value: [77, bytes()], want: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => expect(c.read(c.value ? withOpt(...c.value) : packet())).toEqual(c.want));
  }
  test("readers never throw, even on a packet without options", () => {
    const p = { options: undefined } as unknown as ReturnType<typeof packet>;
    expect([get.u8(p, 1), get.str(p, 1), get.userClass(p), get.uuid(p)]).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe("put: option entries", () => {
  const cases: { name: string; got: [number, Uint8Array]; want: [number, Uint8Array] }[] = [
    { name: "u8", got: put.u8(Opt.MESSAGE_TYPE, MessageType.ACK), want: [53, bytes("05")] },
    { name: "u16", got: put.u16(Opt.MAX_SIZE, 1500), want: [57, bytes("05dc")] },
    { name: "u32", got: put.u32(Opt.LEASE_TIME, 0xfffffffe), want: [51, bytes("fffffffe")] },
    { name: "ip", got: put.ip(Opt.SERVER_ID, "10.0.0.1"), want: [54, bytes("0a000001")] },
    { name: "ips", got: put.ips(Opt.DNS, ["10.0.0.1", "1.1.1.1"]), want: [6, bytes("0a000001 01010101")] },
    { name: "ips empty", got: put.ips(Opt.DNS, []), want: [6, bytes()] },
    { name: "str UTF-8", got: put.str(Opt.BOOTFILE, "ë.efi"), want: [67, bytes("c3ab 2e656669")] },
  ];
  for (const c of cases) test(c.name, () => expect(c.got).toEqual(c.want));
  const bad: { name: string; run: () => unknown; want: string }[] = [
    { name: "u8 256", run: () => put.u8(53, 256), want: "got option 53 value 256, want an integer 0..255" },
    { name: "u16 -1", run: () => put.u16(57, -1), want: "want an integer 0..65535" },
    { name: "u32 2^32", run: () => put.u32(51, 2 ** 32), want: "want an integer 0..4294967295" },
    { name: "ip bad", run: () => put.ip(54, "10.0.0"), want: 'got option 54 address "10.0.0"' },
    { name: "ips with a bad one", run: () => put.ips(6, ["10.0.0.1", "300.0.0.1"]), want: '"300.0.0.1"' },
    { name: "str lone surrogate", run: () => put.str(12, "\udc00"), want: "not well-formed" },
  ];
  for (const c of bad) {
    test(`refuses ${c.name}`, () => {
      expect(c.run).toThrow(DhcpEncodeError);
      expect(c.run).toThrow(c.want);
    });
  }
});

describe("describeDhcp", () => {
  test("BOOTP request without option 53, unknown type, JSON-safe", () => {
    expect(describeDhcp(packet({ xid: 0x1f, htype: 6 }))).toEqual({ op: "request", type: "BOOTP", xid: "0000001f" });
    const p = packet({ giaddr: "10.0.0.254", ciaddr: "10.0.0.7", options: new Map([put.u8(53, 13)]) });
    const d = describeDhcp(p);
    expect(d).toEqual({ op: "request", type: "13", xid: "00000000", mac: "52:54:00:12:34:56", ciaddr: "10.0.0.7", giaddr: "10.0.0.254" });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });
});
