/**
 * Byte-literal fixtures of messages as real clients and servers send them, decoded and compared whole.
 * Every field carries a comment; offsets are those of RFC 2131 §2, figure 1.
 */
import { describe, expect, test } from "bun:test";
import type { DhcpPacket } from "./_codec.ts";
import { ascii, bytes, chaddr, padTo, zeros } from "./_testkit.ts";
import { decodeDhcp, describeDhcp, encodeDhcp, get, MessageType, macOf, Opt } from "./index.ts";

const UUID = "8c3a2b4e-1f0d-4c55-9e7a-3b2d1c0f9a11";
const UUID_BYTES = "8c3a2b4e 1f0d 4c55 9e7a 3b2d1c0f9a11";
const IPXE_PRL = "01 03 06 07 0c 0f 11 1a 2b 3c 42 43 77 80 81 82 83 84 85 86 87 af cb";

/** iPXE 1.21.1 in QEMU (virtio-net ROM), first DHCPDISCOVER; `arch` 0 = BIOS, 7 = EFI x64. */
function ipxeDiscover(arch: 0 | 7): Uint8Array {
  const vendorClass = arch === 0 ? "PXEClient:Arch:00000:UNDI:002001" : "PXEClient:Arch:00007:UNDI:003016";
  return bytes(
    "01", // op: BOOTREQUEST
    "01", // htype: Ethernet
    "06", // hlen: 6
    "00", // hops: 0
    "3c6a1f02", // xid
    "0000", // secs: 0
    "8000", // flags: broadcast (iPXE always asks for a broadcast reply)
    "00000000", // ciaddr: 0.0.0.0
    "00000000", // yiaddr: 0.0.0.0
    "00000000", // siaddr: 0.0.0.0
    "00000000", // giaddr: 0.0.0.0
    "525400123456", // chaddr: QEMU's default MAC 52:54:00:12:34:56 ...
    zeros(10), // ... zero-padded to 16 bytes
    zeros(64), // sname: empty
    zeros(128), // file: empty
    "63825363", // magic cookie
    "35 01 01", // 53 message type: DISCOVER
    "39 02 05c0", // 57 max message size: 1472
    "3c 20",
    ascii(vendorClass), // 60 vendor class: 32 bytes
    "5d 02",
    arch === 0 ? "0000" : "0007", // 93 client arch: 0 BIOS / 7 EFI x64
    "5e 03 01 02 01", // 94 client NDI: UNDI 2.1
    "4d 04",
    ascii("iPXE"), // 77 user class: plain "iPXE", not RFC 3004 form
    "37 17",
    IPXE_PRL, // 55 parameter request list: 23 codes, ending with 175 and 203
    "af 21", // 175 iPXE encapsulated options, 33 bytes:
    "b1 05 01 1af4 1000", //   177 bus id: PCI 1af4:1000 (virtio-net)
    "eb 03 01 15 01", //   235 version 1.21.1
    "17 01 01", //   23 DNS
    "13 01 01", //   19 HTTP
    "15 01 01", //   21 TFTP
    "10 01 02", //   16 PXE extensions v2
    "21 01 01", //   33 PXE
    arch === 0 ? "18 01 01" : "24 01 01", //   24 bzImage / 36 EFI
    "27 01 01", //   39 menu
    "61 11 00",
    UUID_BYTES, // 97 UUID/GUID: type 0 + 16 bytes
    "ff", // end; iPXE sends no padding
  );
}

function ipxeExpected(arch: 0 | 7): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x3c6a1f02,
    secs: 0,
    flags: 0x8000,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: chaddr("52:54:00:12:34:56"),
    sname: "",
    file: "",
    options: new Map([
      [53, bytes("01")],
      [57, bytes("05c0")],
      [60, ascii(arch === 0 ? "PXEClient:Arch:00000:UNDI:002001" : "PXEClient:Arch:00007:UNDI:003016")],
      [93, bytes(arch === 0 ? "0000" : "0007")],
      [94, bytes("010201")],
      [77, ascii("iPXE")],
      [55, bytes(IPXE_PRL)],
      [
        175,
        bytes(
          "b1 05 01 1af4 1000 eb 03 01 15 01 17 01 01 13 01 01 15 01 01 10 01 02 21 01 01",
          arch === 0 ? "18 01 01" : "24 01 01",
          "27 01 01",
        ),
      ],
      [97, bytes("00", UUID_BYTES)],
    ]),
  };
}

/** busybox 1.36.1 `udhcpc -i eth0`, DHCPDISCOVER (padded to 300 bytes as busybox does). */
const UDHCPC_DISCOVER = padTo(
  300, // busybox pads to the BOOTP minimum
  bytes(
    "01", // op: BOOTREQUEST
    "01", // htype: Ethernet
    "06", // hlen: 6
    "00", // hops: 0
    "5d1e07a9", // xid
    "0000", // secs: 0
    "0000", // flags: unicast reply is fine (no -B)
    "00000000", // ciaddr
    "00000000", // yiaddr
    "00000000", // siaddr
    "00000000", // giaddr
    "02000a000002", // chaddr: 02:00:0a:00:00:02 ...
    zeros(10), // ... zero-padded
    zeros(64), // sname: empty
    zeros(128), // file: empty
    "63825363", // magic cookie
    "35 01 01", // 53 message type: DISCOVER
    "3d 07 01 02000a000002", // 61 client id: htype 1 + MAC
    "39 02 0240", // 57 max message size: 576
    "37 07 01 03 06 0c 0f 1c 2a", // 55 parameter request list: mask, router, dns, hostname, domain, broadcast, ntp
    "3c 0c",
    ascii("udhcp 1.36.1"), // 60 vendor class
    "ff", // end
  ),
);

const UDHCPC_EXPECTED: DhcpPacket = {
  op: 1,
  htype: 1,
  hlen: 6,
  hops: 0,
  xid: 0x5d1e07a9,
  secs: 0,
  flags: 0,
  ciaddr: "0.0.0.0",
  yiaddr: "0.0.0.0",
  siaddr: "0.0.0.0",
  giaddr: "0.0.0.0",
  chaddr: chaddr("02:00:0a:00:00:02"),
  sname: "",
  file: "",
  options: new Map([
    [53, bytes("01")],
    [61, bytes("01 02000a000002")],
    [57, bytes("0240")],
    [55, bytes("01 03 06 0c 0f 1c 2a")],
    [60, ascii("udhcp 1.36.1")],
  ]),
};

/** isc-dhcp-client 4.4.3 `dhclient`, DHCPREQUEST in SELECTING state (after an OFFER from 10.0.0.1). */
const DHCLIENT_REQUEST = padTo(
  300, // dhclient pads to the BOOTP minimum
  bytes(
    "01", // op: BOOTREQUEST
    "01", // htype: Ethernet
    "06", // hlen: 6
    "00", // hops: 0
    "9f3b2c11", // xid
    "0003", // secs: 3
    "0000", // flags: none
    "00000000", // ciaddr: 0.0.0.0 while SELECTING
    "00000000", // yiaddr
    "00000000", // siaddr
    "00000000", // giaddr
    "02000a000003", // chaddr: 02:00:0a:00:00:03 ...
    zeros(10), // ... zero-padded
    zeros(64), // sname: empty
    zeros(128), // file: empty
    "63825363", // magic cookie
    "35 01 03", // 53 message type: REQUEST
    "36 04 0a000001", // 54 server id: 10.0.0.1
    "32 04 0a000064", // 50 requested IP: 10.0.0.100
    "0c 05",
    ascii("node3"), // 12 host name
    "37 0d 01 1c 02 03 0f 06 77 0c 2c 2f 1a 79 2a", // 55 parameter request list, dhclient's order
    "ff", // end
  ),
);

const DHCLIENT_EXPECTED: DhcpPacket = {
  ...UDHCPC_EXPECTED,
  xid: 0x9f3b2c11,
  secs: 3,
  chaddr: chaddr("02:00:0a:00:00:03"),
  options: new Map([
    [53, bytes("03")],
    [54, bytes("0a000001")],
    [50, bytes("0a000064")],
    [12, ascii("node3")],
    [55, bytes("01 1c 02 03 0f 06 77 0c 2c 2f 1a 79 2a")],
  ]),
};

/** A PXE DHCPOFFER with 43/60/66/67, in the order `encodeDhcp` writes (53 first, then ascending). */
const PXE_OFFER = bytes(
  "02", // op: BOOTREPLY
  "01", // htype: Ethernet
  "06", // hlen: 6
  "00", // hops: 0
  "3c6a1f02", // xid: copied from the DISCOVER
  "0000", // secs: 0
  "8000", // flags: broadcast, copied from the DISCOVER
  "00000000", // ciaddr: 0.0.0.0
  "c0a87a32", // yiaddr: 192.168.122.50
  "c0a87a01", // siaddr: 192.168.122.1, the TFTP server
  "00000000", // giaddr: 0.0.0.0
  "525400123456", // chaddr: 52:54:00:12:34:56 ...
  zeros(10), // ... zero-padded
  ascii("boot1"), // sname: "boot1" ...
  zeros(59), // ... NUL-terminated and padded
  ascii("undionly.kpxe"), // file: "undionly.kpxe" ...
  zeros(115), // ... NUL-terminated and padded
  "63825363", // magic cookie
  "35 01 02", // 53 message type: OFFER
  "01 04 ffffff00", // 1 subnet mask: 255.255.255.0
  "03 04 c0a87a01", // 3 router: 192.168.122.1
  "06 08 c0a87a01 08080808", // 6 DNS: 192.168.122.1, 8.8.8.8
  "2b 04 06 01 08 ff", // 43 PXE vendor options: 6 discovery control = 8 (boot file name in packet), end
  "33 04 00000e10", // 51 lease time: 3600 s
  "36 04 c0a87a01", // 54 server id: 192.168.122.1
  "3c 09",
  ascii("PXEClient"), // 60 vendor class
  "42 0d",
  ascii("192.168.122.1"), // 66 TFTP server name
  "43 0d",
  ascii("undionly.kpxe"), // 67 boot file name
  "ff", // end: 325 bytes in all, over the 300-byte minimum, so no padding
);

const PXE_OFFER_EXPECTED: DhcpPacket = {
  op: 2,
  htype: 1,
  hlen: 6,
  hops: 0,
  xid: 0x3c6a1f02,
  secs: 0,
  flags: 0x8000,
  ciaddr: "0.0.0.0",
  yiaddr: "192.168.122.50",
  siaddr: "192.168.122.1",
  giaddr: "0.0.0.0",
  chaddr: chaddr("52:54:00:12:34:56"),
  sname: "boot1",
  file: "undionly.kpxe",
  options: new Map([
    [53, bytes("02")],
    [1, bytes("ffffff00")],
    [3, bytes("c0a87a01")],
    [6, bytes("c0a87a01 08080808")],
    [43, bytes("06 01 08 ff")],
    [51, bytes("00000e10")],
    [54, bytes("c0a87a01")],
    [60, ascii("PXEClient")],
    [66, ascii("192.168.122.1")],
    [67, ascii("undionly.kpxe")],
  ]),
};

const cases: { name: string; wire: Uint8Array; want: DhcpPacket; canonical: boolean }[] = [
  { name: "iPXE BIOS DISCOVER (QEMU ROM)", wire: ipxeDiscover(0), want: ipxeExpected(0), canonical: false },
  { name: "iPXE EFI x64 DISCOVER", wire: ipxeDiscover(7), want: ipxeExpected(7), canonical: false },
  { name: "udhcpc DISCOVER", wire: UDHCPC_DISCOVER, want: UDHCPC_EXPECTED, canonical: false },
  { name: "dhclient REQUEST", wire: DHCLIENT_REQUEST, want: DHCLIENT_EXPECTED, canonical: false },
  { name: "PXE OFFER with 43/60/66/67", wire: PXE_OFFER, want: PXE_OFFER_EXPECTED, canonical: true },
];

describe("decodeDhcp on captured messages", () => {
  for (const c of cases) {
    test(`${c.name}: whole packet`, () => {
      expect(decodeDhcp(c.wire)).toEqual(c.want);
    });
    test(`${c.name}: encode round trip`, () => {
      const wire = encodeDhcp(c.want);
      expect(decodeDhcp(wire)).toEqual(c.want);
      if (c.canonical) expect(wire).toEqual(c.wire);
      else expect(wire.length).toBe(Math.max(300, c.wire.length));
    });
  }
});

describe("typed reads and summaries of captured messages", () => {
  test("iPXE BIOS DISCOVER", () => {
    const p = decodeDhcp(ipxeDiscover(0));
    expect({
      type: get.messageType(p),
      maxSize: get.u16(p, Opt.MAX_SIZE),
      arch: get.clientArch(p),
      ndi: get.bytes(p, Opt.CLIENT_NDI),
      uuid: get.uuid(p),
      userClass: get.userClass(p),
      vendorClass: get.str(p, Opt.VENDOR_CLASS),
      params: get.paramList(p)?.length,
      mac: macOf(p),
    }).toEqual({
      type: MessageType.DISCOVER,
      maxSize: 1472,
      arch: [0],
      ndi: bytes("010201"),
      uuid: UUID,
      userClass: ["iPXE"],
      vendorClass: "PXEClient:Arch:00000:UNDI:002001",
      params: 23,
      mac: "52:54:00:12:34:56",
    });
    expect(describeDhcp(p)).toEqual({
      op: "request",
      type: "DISCOVER",
      xid: "3c6a1f02",
      mac: "52:54:00:12:34:56",
      arch: [0],
      vendorClass: "PXEClient:Arch:00000:UNDI:002001",
      userClass: ["iPXE"],
      uuid: UUID,
      broadcast: true,
    });
  });
  test("dhclient REQUEST", () => {
    expect(describeDhcp(decodeDhcp(DHCLIENT_REQUEST))).toEqual({
      op: "request",
      type: "REQUEST",
      xid: "9f3b2c11",
      mac: "02:00:0a:00:00:03",
      requestedIp: "10.0.0.100",
      serverId: "10.0.0.1",
    });
  });
  test("PXE OFFER", () => {
    const p = decodeDhcp(PXE_OFFER);
    expect(describeDhcp(p)).toEqual({
      op: "reply",
      type: "OFFER",
      xid: "3c6a1f02",
      mac: "52:54:00:12:34:56",
      yiaddr: "192.168.122.50",
      siaddr: "192.168.122.1",
      serverId: "192.168.122.1",
      vendorClass: "PXEClient",
      file: "undionly.kpxe",
      sname: "boot1",
      broadcast: true,
    });
    expect(get.ips(p, Opt.DNS)).toEqual(["192.168.122.1", "8.8.8.8"]);
    expect(get.u32(p, Opt.LEASE_TIME)).toBe(3600);
  });
});
