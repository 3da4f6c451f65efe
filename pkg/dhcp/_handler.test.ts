import { describe, expect, test } from "bun:test";
import { type DhcpPacket, macOf } from "./_codec.ts";
import { type BootProgram, type DhcpContext, extraOption, type FirmwareFacts, handleDhcp, type Reservation } from "./_handler.ts";
import { get, MessageType, Opt, put } from "./_options.ts";
import { createLeasePool } from "./_pool.ts";
import { chaddr, packet } from "./_testkit.ts";

const KNOWN = "52:54:00:00:00:01";
const subnet = {
  cidr: "10.0.0.0/24",
  gateway: "10.0.0.1",
  dns: ["10.0.0.1"],
  ntp: ["10.0.0.1", "ntp.example"],
  domain: "lab.example",
  options: [{ code: 119, type: "hex", value: "03 6c 61 62 00" }],
};
const resv: Reservation = { host: "node-1", ipv4: "10.0.0.11", hostname: "node-1.lab.example", subnet };

/** The boot choice as pkg/boot makes it, reduced to what these tests need. */
const boot = (f: FirmwareFacts): BootProgram =>
  f.userClass?.includes("iPXE")
    ? { kind: "ipxe-script", url: "http://10.0.0.2:8080/boot.ipxe" }
    : f.vendorClass?.startsWith("PXEClient")
      ? { kind: "tftp", file: "undionly.kpxe" }
      : { kind: "none", reason: "not a PXE client" };

function ctx(over: Partial<DhcpContext> = {}): DhcpContext {
  return {
    mode: "server",
    serverId: "10.0.0.2",
    port: 67,
    leaseSeconds: 3600,
    lookup: { reservation: (m) => (m === KNOWN ? resv : undefined) },
    boot,
    ...over,
  };
}

function req(type: number, mac = KNOWN, opts: [number, Uint8Array][] = [], over: Partial<DhcpPacket> = {}): DhcpPacket {
  return packet({ xid: 0x1234, flags: 0x8000, chaddr: chaddr(mac), options: new Map([put.u8(Opt.MESSAGE_TYPE, type), ...opts]), ...over });
}
const pxe: [number, Uint8Array][] = [put.str(Opt.VENDOR_CLASS, "PXEClient:Arch:00000:UNDI:002001")];
const ipxe: [number, Uint8Array][] = [...pxe, put.str(Opt.USER_CLASS, "iPXE")];

describe("server mode", () => {
  test("a host of the SoT gets its reservation, its subnet and the BIOS boot program", () => {
    const { reply, event } = handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe), ctx());
    expect(event).toEqual({ type: "offer", xid: 0x1234, mac: KNOWN, ip: "10.0.0.11", host: "node-1", file: "undionly.kpxe" });
    if (!reply) throw new Error("no reply");
    expect([reply.op, reply.yiaddr, reply.siaddr, reply.file, reply.flags]).toEqual([2, "10.0.0.11", "10.0.0.2", "undionly.kpxe", 0x8000]);
    expect(macOf(reply)).toBe(KNOWN);
    expect({
      type: get.messageType(reply),
      server: get.ip(reply, Opt.SERVER_ID),
      mask: get.ip(reply, Opt.SUBNET_MASK),
      broadcast: get.ip(reply, Opt.BROADCAST),
      router: get.ip(reply, Opt.ROUTER),
      dns: get.ips(reply, Opt.DNS),
      ntp: get.ips(reply, Opt.NTP),
      domain: get.str(reply, Opt.DOMAIN_NAME),
      hostname: get.str(reply, Opt.HOSTNAME),
      lease: get.u32(reply, Opt.LEASE_TIME),
      vendor: get.str(reply, Opt.VENDOR_CLASS),
      search: [...(get.bytes(reply, 119) ?? [])],
      pxe: [...(get.bytes(reply, Opt.VENDOR_SPECIFIC) ?? [])],
    }).toEqual({
      type: MessageType.OFFER,
      server: "10.0.0.2",
      mask: "255.255.255.0",
      broadcast: "10.0.0.255",
      router: "10.0.0.1",
      dns: ["10.0.0.1"],
      ntp: ["10.0.0.1"],
      domain: "lab.example",
      hostname: "node-1",
      lease: 3600,
      vendor: "PXEClient",
      search: [3, 0x6c, 0x61, 0x62, 0],
      pxe: [6, 1, 8, 255],
    });
  });
  test("iPXE is sent to the HTTP script, not given iPXE again", () => {
    const { reply } = handleDhcp(req(MessageType.DISCOVER, KNOWN, ipxe), ctx());
    expect(reply?.file).toBe("http://10.0.0.2:8080/boot.ipxe");
  });
  test("an ordinary client (udhcpc in the booted OS) gets its address and no boot file", () => {
    const { reply } = handleDhcp(req(MessageType.DISCOVER, KNOWN, [put.str(Opt.VENDOR_CLASS, "udhcp 1.36.1")]), ctx());
    expect([reply?.yiaddr, reply?.file, reply?.siaddr]).toEqual(["10.0.0.11", "", "0.0.0.0"]);
  });
  test("REQUEST: ACK for the reservation, NAK for another address, silence when another server was chosen", () => {
    const ok = handleDhcp(
      req(MessageType.REQUEST, KNOWN, [put.ip(Opt.REQUESTED_IP, "10.0.0.11"), put.ip(Opt.SERVER_ID, "10.0.0.2")]),
      ctx(),
    );
    expect(ok.event.type).toBe("ack");
    expect(get.messageType(ok.reply as DhcpPacket)).toBe(MessageType.ACK);
    const wrong = handleDhcp(req(MessageType.REQUEST, KNOWN, [put.ip(Opt.REQUESTED_IP, "10.0.0.99")]), ctx());
    expect(wrong.event).toMatchObject({ type: "nak", reason: "requested 10.0.0.99, reserved 10.0.0.11" });
    expect([get.messageType(wrong.reply as DhcpPacket), wrong.reply?.yiaddr]).toEqual([MessageType.NAK, "0.0.0.0"]);
    const other = handleDhcp(
      req(MessageType.REQUEST, KNOWN, [put.ip(Opt.REQUESTED_IP, "10.0.0.11"), put.ip(Opt.SERVER_ID, "10.0.0.3")]),
      ctx(),
    );
    expect(other).toEqual({ event: { type: "ignored", xid: 0x1234, mac: KNOWN, reason: "client chose server 10.0.0.3" } });
    const renew = handleDhcp(req(MessageType.REQUEST, KNOWN, [], { ciaddr: "10.0.0.11", flags: 0 }), ctx());
    expect(renew.event.type).toBe("ack");
  });
  test("unknown machines: ignored without a pool; from the pool, never one address for two clients", () => {
    expect(handleDhcp(req(MessageType.DISCOVER, "52:54:00:00:00:99", pxe), ctx()).event).toMatchObject({
      type: "ignored",
      reason: "not a host of this site and no pool",
    });
    const leases = createLeasePool({ start: "10.0.0.200", end: "10.0.0.201", exclude: ["10.0.0.11"], leaseSeconds: 3600, now: () => 0 });
    const c = ctx({ pools: [{ leases, subnet }] });
    const a = handleDhcp(req(MessageType.DISCOVER, "52:54:00:00:00:a1"), c).reply?.yiaddr;
    const b = handleDhcp(req(MessageType.DISCOVER, "52:54:00:00:00:b1"), c).reply?.yiaddr;
    expect([a, b]).toEqual(["10.0.0.200", "10.0.0.201"]);
    expect(handleDhcp(req(MessageType.DISCOVER, "52:54:00:00:00:c1"), c).event).toMatchObject({
      type: "ignored",
      reason: "pool of 10.0.0.0/24 exhausted",
    });
    const stolen = handleDhcp(
      req(MessageType.REQUEST, "52:54:00:00:00:b1", [put.ip(Opt.REQUESTED_IP, "10.0.0.200"), put.ip(Opt.SERVER_ID, "10.0.0.2")]),
      c,
    );
    expect(stolen.event).toMatchObject({ type: "nak", reason: "10.0.0.200 is leased to another client" });
    const mine = handleDhcp(
      req(MessageType.REQUEST, "52:54:00:00:00:a1", [put.ip(Opt.REQUESTED_IP, "10.0.0.200"), put.ip(Opt.SERVER_ID, "10.0.0.2")]),
      c,
    );
    expect(mine.event).toMatchObject({ type: "ack", ip: "10.0.0.200" });
    expect(handleDhcp(req(MessageType.RELEASE, "52:54:00:00:00:a1", [], { ciaddr: "10.0.0.200" }), c).event.type).toBe("release");
    expect(handleDhcp(req(MessageType.DECLINE, "52:54:00:00:00:b1", [put.ip(Opt.REQUESTED_IP, "10.0.0.201")]), c).event.type).toBe(
      "decline",
    );
  });
  test("INFORM gets configuration without an address or lease time", () => {
    const { reply, event } = handleDhcp(req(MessageType.INFORM, KNOWN, [], { ciaddr: "10.0.0.11" }), ctx());
    expect(event.type).toBe("inform");
    expect([reply?.yiaddr, get.u32(reply as DhcpPacket, Opt.LEASE_TIME), get.ip(reply as DhcpPacket, Opt.ROUTER)]).toEqual([
      "0.0.0.0",
      undefined,
      "10.0.0.1",
    ]);
  });
  test("a relayed request keeps giaddr so the reply goes back through the relay", () => {
    const { reply } = handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe, { giaddr: "10.0.0.254", hops: 1 }), ctx());
    expect(reply?.giaddr).toBe("10.0.0.254");
  });
  test("a host is answered only on its subnet's segment: this interface's addresses, or the relay's", () => {
    const elsewhere = { serverId: "10.1.0.2", localAddresses: ["10.1.0.2"] };
    expect(handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe), ctx(elsewhere)).event).toMatchObject({
      type: "ignored",
      reason: "host node-1's subnet 10.0.0.0/24 is not on the segment of 10.1.0.2",
    });
    expect(handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe, { giaddr: "10.9.0.1", hops: 1 }), ctx()).event).toMatchObject({
      type: "ignored",
      reason: "host node-1's subnet 10.0.0.0/24 is not on the segment of 10.9.0.1",
    });
    // A secondary address on the interface puts its subnet on the segment; a relay inside the subnet does too.
    const secondary = { serverId: "10.1.0.2", localAddresses: ["10.1.0.2", "10.0.0.2"] };
    expect(handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe), ctx(secondary)).event.type).toBe("offer");
    expect(handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe, { giaddr: "10.0.0.1" }), ctx(elsewhere)).event.type).toBe("offer");
  });
  test("unknown machines draw from the pool of their own segment", () => {
    const other = { cidr: "10.1.0.0/24", dns: [], ntp: [] };
    const pools = [
      { leases: createLeasePool({ start: "10.0.0.200", end: "10.0.0.201", leaseSeconds: 60, now: () => 0 }), subnet },
      { leases: createLeasePool({ start: "10.1.0.200", end: "10.1.0.201", leaseSeconds: 60, now: () => 0 }), subnet: other },
    ];
    const unknown = "52:54:00:00:00:77";
    expect(handleDhcp(req(MessageType.DISCOVER, unknown), ctx({ pools })).reply?.yiaddr).toBe("10.0.0.200");
    expect(handleDhcp(req(MessageType.DISCOVER, unknown), ctx({ pools, serverId: "10.1.0.2" })).reply?.yiaddr).toBe("10.1.0.200");
    expect(handleDhcp(req(MessageType.DISCOVER, unknown, [], { giaddr: "10.1.0.1" }), ctx({ pools })).reply?.yiaddr).toBe("10.1.0.200");
    expect(handleDhcp(req(MessageType.DISCOVER, unknown, [], { giaddr: "10.7.0.1" }), ctx({ pools })).event).toMatchObject({
      type: "ignored",
      reason: "not a host of this site and no pool on the segment of 10.7.0.1",
    });
  });
  const ignored: [string, DhcpPacket, string][] = [
    ["a BOOTREPLY", { ...req(MessageType.OFFER), op: 2 }, "not a BOOTREQUEST"],
    ["not Ethernet", { ...req(MessageType.DISCOVER), htype: 6, hlen: 6 }, "hardware type 6/6 is not Ethernet"],
    ["plain BOOTP", { ...req(MessageType.DISCOVER), options: new Map() }, "no message type (BOOTP is not served)"],
    ["an OFFER sent to a server", req(MessageType.OFFER), "message type 2 is not handled by a server"],
  ];
  for (const [name, packet, reason] of ignored)
    test(`ignores ${name}`, () => expect(handleDhcp(packet, ctx()).event).toMatchObject({ type: "ignored", reason }));
});

describe("proxy mode", () => {
  test("PXE clients get the boot program and no address, with PXE discovery control", () => {
    const { reply, event } = handleDhcp(req(MessageType.DISCOVER, "52:54:00:00:00:99", pxe), ctx({ mode: "proxy" }));
    expect(event).toMatchObject({ type: "offer", file: "undionly.kpxe", reason: "proxy" });
    expect([reply?.yiaddr, reply?.siaddr, reply?.file, get.str(reply as DhcpPacket, Opt.VENDOR_CLASS)]).toEqual([
      "0.0.0.0",
      "10.0.0.2",
      "undionly.kpxe",
      "PXEClient",
    ]);
    expect([...(get.bytes(reply as DhcpPacket, Opt.VENDOR_SPECIFIC) ?? [])]).toEqual([6, 1, 8, 255]);
    expect(get.u32(reply as DhcpPacket, Opt.LEASE_TIME)).toBeUndefined();
  });
  test("ordinary clients are left to the site's DHCP server", () => {
    expect(
      handleDhcp(req(MessageType.DISCOVER, KNOWN, [put.str(Opt.VENDOR_CLASS, "udhcp 1.36.1")]), ctx({ mode: "proxy" })).reply,
    ).toBeUndefined();
  });
  test("iPXE gets a server address with the script URL, or it would ignore the proxy answer", () => {
    const { reply } = handleDhcp(req(MessageType.DISCOVER, KNOWN, ipxe), ctx({ mode: "proxy" }));
    expect([reply?.yiaddr, reply?.siaddr, reply?.file]).toEqual(["0.0.0.0", "10.0.0.2", "http://10.0.0.2:8080/boot.ipxe"]);
  });
  test("a REQUEST for the address server on port 67 is not ours; one for us is", () => {
    const theirs = handleDhcp(req(MessageType.REQUEST, KNOWN, [...pxe, put.ip(Opt.SERVER_ID, "10.0.0.1")]), ctx({ mode: "proxy" }));
    expect(theirs).toEqual({ event: { type: "ignored", xid: 0x1234, mac: KNOWN, reason: "proxy mode: request for server 10.0.0.1" } });
    const ours = handleDhcp(req(MessageType.REQUEST, KNOWN, [...pxe, put.ip(Opt.SERVER_ID, "10.0.0.2")]), ctx({ mode: "proxy" }));
    expect(ours.event.type).toBe("ack");
  });
  test("the PXE boot server on 4011 answers a REQUEST with an ACK", () => {
    const { reply } = handleDhcp(req(MessageType.REQUEST, KNOWN, pxe, { ciaddr: "10.0.0.50" }), ctx({ mode: "proxy", port: 4011 }));
    expect([get.messageType(reply as DhcpPacket), reply?.file]).toEqual([MessageType.ACK, "undionly.kpxe"]);
    expect(handleDhcp(req(MessageType.DISCOVER, KNOWN, pxe), ctx({ mode: "proxy", port: 4011 })).reply).toBeUndefined();
  });
});

describe("extra options from the SoT", () => {
  const cases: [string, string, unknown, number[] | undefined][] = [
    ["string", "string", "lab", [0x6c, 0x61, 0x62]],
    ["ipv4", "ipv4", "10.0.0.1", [10, 0, 0, 1]],
    ["ipv4 list", "ipv4-list", ["10.0.0.1", "10.0.0.2"], [10, 0, 0, 1, 10, 0, 0, 2]],
    ["uint16", "uint16", 1500, [5, 220]],
    ["uint32 from text", "uint32", "70000", [0, 1, 17, 112]],
    ["bool", "bool", true, [1]],
    ["hex", "hex", "0a:0b", [10, 11]],
    ["uint8 out of range", "uint8", 300, undefined],
    ["bad address", "ipv4", "10.0.0", undefined],
    ["odd hex", "hex", "abc", undefined],
    ["unknown type", "float", 1, undefined],
  ];
  for (const [name, type, value, want] of cases) {
    test(name, () => {
      const got = extraOption({ code: 250, type, value });
      expect(got ? [...got] : undefined).toEqual(want);
    });
  }
});
