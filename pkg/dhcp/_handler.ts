/**
 * DHCP policy as a pure function: a decoded request and the context of the interface it came in on give the
 * reply to send (or none) and an event for the machine's boot trace. No sockets, no clock reads: the pool holds
 * the only state, and its clock is injected.
 *
 * Modes (SOT.md `agent.dhcp`): `server` answers hosts of the SoT with their reserved address (and unknown
 * machines from the pool, when there is one); `proxy` never hands out addresses and answers PXE clients only,
 * on port 67 (the offer) and on the PXE boot-server port 4011 (the boot file).
 */
import { inCidr, ipv4ToInt, parseCidr } from "../../internal/net/index.ts";
import { type DhcpPacket, macOf } from "./_codec.ts";
import { get, MessageType, Opt, put } from "./_options.ts";
import type { LeasePool } from "./_pool.ts";

/** What a firmware says about itself in its request (options 93, 60, 77 and 175). */
export interface FirmwareFacts {
  /** Option 93: architecture types (RFC 4578), the client's first. */
  arch?: number[];
  /** Option 60. */
  vendorClass?: string;
  /** Option 77, each class as a string. */
  userClass?: string[];
  /** Option 175 present (iPXE). */
  ipxeOptions?: boolean;
}

/** The boot program a firmware gets (chosen by pkg/boot): what goes into the reply's boot fields. */
export type BootProgram =
  | { kind: "ipxe-script"; url: string }
  | { kind: "tftp"; file: string }
  | { kind: "http"; url: string; vendorClass: "HTTPClient" }
  | { kind: "none"; reason: string };

/** A subnet as DHCP answers it. */
export interface DhcpSubnet {
  cidr: string;
  gateway?: string;
  dns: string[];
  ntp: string[];
  domain?: string;
  /** Extra options of the SoT: `{code, type, value}`. */
  options?: { code: number; type: string; value: unknown }[];
}

/** A host's reserved address. */
export interface Reservation {
  host: string;
  ipv4: string;
  hostname?: string;
  subnet: DhcpSubnet;
}

/** What the handler needs to know about the site: declared here, where it is used (HOUSE-STYLE 7). */
export interface DhcpLookup {
  reservation(mac: string): Reservation | undefined;
}

/** Everything one request is answered with. */
export interface DhcpContext {
  mode: "server" | "proxy";
  /** The agent's address on the interface the request came in on: server identifier and next-server. */
  serverId: string;
  /**
   * Every IPv4 address of that interface (default: `serverId` alone). A direct request is answered only from a
   * subnet holding one of them; a relayed request only from the subnet holding its `giaddr`. So a machine that
   * shows up on the wrong segment is told nothing rather than an address it cannot use.
   */
  localAddresses?: readonly string[];
  /** Port the request arrived on: 67, or 4011 for the PXE boot server (proxy mode). */
  port: 67 | 4011;
  leaseSeconds: number;
  lookup: DhcpLookup;
  /** The boot program for a firmware (pkg/boot chooseBootProgram with the agent's URL). */
  boot(facts: FirmwareFacts): BootProgram;
  /** Dynamic addresses for unknown machines, one pool per subnet that has one; a request uses its segment's. */
  pools?: readonly SubnetPool[];
}

/** A pool of dynamic addresses and the subnet it belongs to. */
export interface SubnetPool {
  leases: LeasePool;
  subnet: DhcpSubnet;
}

/** What happened, for the boot trace and logs. */
export interface DhcpEvent {
  type: "offer" | "ack" | "nak" | "ignored" | "release" | "decline" | "inform";
  mac?: string;
  xid: number;
  ip?: string;
  host?: string;
  file?: string;
  reason?: string;
}

/** The handler's answer: a reply to send (the server picks its destination) and an event. */
export interface DhcpOutcome {
  reply?: DhcpPacket;
  event: DhcpEvent;
}

const ZERO = "0.0.0.0";
/** Option 43 with PXE discovery control (sub-option 6) = 8: use the boot file of this reply (PXE 2.1 §2.2.5). */
const PXE_BOOT_FILE_HERE = Uint8Array.of(6, 1, 8, 255);

/** Firmware facts of a request. */
export function firmwareOf(p: DhcpPacket): FirmwareFacts {
  const arch = get.clientArch(p);
  const vendorClass = get.str(p, Opt.VENDOR_CLASS);
  const userClass = get.userClass(p);
  return {
    ...(arch ? { arch } : {}),
    ...(vendorClass !== undefined ? { vendorClass } : {}),
    ...(userClass ? { userClass } : {}),
    ipxeOptions: p.options.has(Opt.IPXE),
  };
}

/** Answers one request. Never throws on content: anything it cannot answer is an `ignored` event. */
export function handleDhcp(req: DhcpPacket, ctx: DhcpContext): DhcpOutcome {
  const mac = macOf(req);
  const type = get.messageType(req);
  const base = { xid: req.xid, ...(mac ? { mac } : {}) };
  const ignore = (reason: string): DhcpOutcome => ({ event: { type: "ignored", ...base, reason } });
  if (req.op !== 1) return ignore("not a BOOTREQUEST");
  if (!mac) return ignore(`hardware type ${req.htype}/${req.hlen} is not Ethernet`);
  if (type === undefined) return ignore("no message type (BOOTP is not served)");
  const facts = firmwareOf(req);
  const program = ctx.boot(facts);
  if (ctx.mode === "proxy") return proxy(req, ctx, type, program, base);

  const reserved = ctx.lookup.reservation(mac);
  const resv = reserved && onSegment(reserved.subnet, req, ctx) ? reserved : undefined;
  if (reserved && !resv && type !== MessageType.RELEASE && type !== MessageType.DECLINE) {
    return ignore(`host ${reserved.host}'s subnet ${reserved.subnet.cidr} is not on the segment of ${segmentAddress(req, ctx)}`);
  }
  const pool = resv ? undefined : ctx.pools?.find((p) => onSegment(p.subnet, req, ctx));
  const noPool = (): DhcpOutcome =>
    ignore(
      ctx.pools?.length
        ? `not a host of this site and no pool on the segment of ${segmentAddress(req, ctx)}`
        : "not a host of this site and no pool",
    );
  const serverChosen = get.ip(req, Opt.SERVER_ID);
  switch (type) {
    case MessageType.DISCOVER: {
      if (resv)
        return {
          reply: answer(req, ctx, MessageType.OFFER, resv.ipv4, resv.subnet, resv, program),
          event: { type: "offer", ...base, ip: resv.ipv4, host: resv.host, ...fileOf(program) },
        };
      if (!pool) return noPool();
      const ip = pool.leases.offer(mac, get.ip(req, Opt.REQUESTED_IP));
      if (!ip) return ignore(`pool of ${pool.subnet.cidr} exhausted`);
      return {
        reply: answer(req, ctx, MessageType.OFFER, ip, pool.subnet, undefined, program),
        event: { type: "offer", ...base, ip, ...fileOf(program) },
      };
    }
    case MessageType.REQUEST: {
      // RFC 2131 §4.3.2: a client that chose another server is not ours to answer.
      if (serverChosen !== undefined && serverChosen !== ctx.serverId) return ignore(`client chose server ${serverChosen}`);
      const wanted = get.ip(req, Opt.REQUESTED_IP) ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
      if (resv) {
        if (wanted !== resv.ipv4) return nak(req, ctx, base, `requested ${wanted ?? "nothing"}, reserved ${resv.ipv4}`);
        return {
          reply: answer(req, ctx, MessageType.ACK, resv.ipv4, resv.subnet, resv, program),
          event: { type: "ack", ...base, ip: resv.ipv4, host: resv.host, ...fileOf(program) },
        };
      }
      if (!pool) return noPool();
      if (!wanted) return ignore("REQUEST names no address");
      if (!pool.leases.contains(wanted)) {
        return serverChosen !== undefined ? nak(req, ctx, base, `${wanted} is not in the pool`) : ignore(`${wanted} is not ours`);
      }
      if (!pool.leases.bind(mac, wanted)) return nak(req, ctx, base, `${wanted} is leased to another client`);
      return {
        reply: answer(req, ctx, MessageType.ACK, wanted, pool.subnet, undefined, program),
        event: { type: "ack", ...base, ip: wanted, ...fileOf(program) },
      };
    }
    case MessageType.DECLINE: {
      const ip = get.ip(req, Opt.REQUESTED_IP);
      if (ip && pool) pool.leases.decline(mac, ip);
      return { event: { type: "decline", ...base, ...(ip ? { ip } : {}), reason: "client found the address in use" } };
    }
    case MessageType.RELEASE: {
      if (pool && req.ciaddr !== ZERO) pool.leases.release(mac, req.ciaddr);
      return { event: { type: "release", ...base, ip: req.ciaddr } };
    }
    case MessageType.INFORM: {
      const subnet = resv?.subnet ?? pool?.subnet;
      if (!subnet) return ignore("INFORM from a machine of no known subnet");
      const reply = answer(req, ctx, MessageType.ACK, ZERO, subnet, resv, program, { inform: true });
      return { reply, event: { type: "inform", ...base, ip: req.ciaddr } };
    }
    default:
      return ignore(`message type ${type} is not handled by a server`);
  }
}

/** The address that names the request's segment: the relay's, else this interface's. */
function segmentAddress(req: DhcpPacket, ctx: DhcpContext): string {
  return req.giaddr !== ZERO ? req.giaddr : ctx.serverId;
}

/** True when `subnet` is the request's segment: it holds the relay's address, or one of this interface's. */
function onSegment(subnet: DhcpSubnet, req: DhcpPacket, ctx: DhcpContext): boolean {
  const cidr = parseCidr(subnet.cidr);
  if (!cidr) return false;
  const addrs = req.giaddr !== ZERO ? [req.giaddr] : (ctx.localAddresses ?? [ctx.serverId]);
  return addrs.some((a) => {
    const n = ipv4ToInt(a);
    return n !== undefined && inCidr(n, cidr);
  });
}

function fileOf(program: BootProgram): { file?: string } {
  return program.kind === "tftp" ? { file: program.file } : program.kind === "none" ? {} : { file: program.url };
}

function nak(req: DhcpPacket, ctx: DhcpContext, base: { xid: number; mac?: string }, reason: string): DhcpOutcome {
  const reply = replyBase(req, ctx, MessageType.NAK);
  reply.options.set(...put.str(Opt.MESSAGE, reason));
  return { reply, event: { type: "nak", ...base, reason } };
}

/** The fields every reply shares (RFC 2131 table 3). */
function replyBase(req: DhcpPacket, ctx: DhcpContext, type: number): DhcpPacket {
  const options = new Map<number, Uint8Array>();
  options.set(...put.u8(Opt.MESSAGE_TYPE, type));
  options.set(...put.ip(Opt.SERVER_ID, ctx.serverId));
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: type === MessageType.NAK ? ZERO : req.ciaddr,
    yiaddr: ZERO,
    siaddr: ZERO,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: "",
    file: "",
    options,
  };
}

/** Adds the boot program: `file` and `siaddr` for TFTP, the URL for iPXE and HTTP boot, option 60 echoed. */
function addBoot(reply: DhcpPacket, ctx: DhcpContext, program: BootProgram): void {
  if (program.kind === "none") return;
  if (program.kind === "tftp") {
    reply.siaddr = ctx.serverId;
    reply.file = program.file;
    reply.options.set(...put.str(Opt.VENDOR_CLASS, "PXEClient"));
    // PXE discovery control (sub-option 6) = 8: the boot file is in this reply. Without option 43, a PXE client
    // that sees option 60 "PXEClient" asks a boot server on port 4011 instead (OVMF does).
    reply.options.set(Opt.VENDOR_SPECIFIC, PXE_BOOT_FILE_HERE);
  } else if (program.kind === "http") {
    reply.file = program.url;
    reply.options.set(...put.str(Opt.VENDOR_CLASS, "HTTPClient"));
  } else {
    reply.file = program.url;
  }
}

function answer(
  req: DhcpPacket,
  ctx: DhcpContext,
  type: number,
  ip: string,
  subnet: DhcpSubnet,
  resv: Reservation | undefined,
  program: BootProgram,
  how: { inform?: boolean } = {},
): DhcpPacket {
  const reply = replyBase(req, ctx, type);
  reply.yiaddr = ip;
  const o = reply.options;
  const cidr = parseCidr(subnet.cidr);
  if (cidr) {
    o.set(...put.ip(Opt.SUBNET_MASK, intToDotted(cidr.mask)));
    o.set(...put.ip(Opt.BROADCAST, intToDotted((cidr.network | (~cidr.mask >>> 0)) >>> 0)));
  }
  if (!how.inform) {
    o.set(...put.u32(Opt.LEASE_TIME, ctx.leaseSeconds));
    o.set(...put.u32(Opt.RENEWAL_T1, Math.floor(ctx.leaseSeconds / 2)));
    o.set(...put.u32(Opt.REBINDING_T2, Math.floor((ctx.leaseSeconds * 7) / 8)));
  }
  if (subnet.gateway) o.set(...put.ip(Opt.ROUTER, subnet.gateway));
  if (subnet.dns.length) o.set(...put.ips(Opt.DNS, subnet.dns));
  const ntp = subnet.ntp.filter((n) => ipv4ToInt(n) !== undefined);
  if (ntp.length) o.set(...put.ips(Opt.NTP, ntp));
  if (subnet.domain) o.set(...put.str(Opt.DOMAIN_NAME, subnet.domain));
  const hostname = resv ? (resv.hostname?.split(".")[0] ?? resv.host) : undefined;
  if (hostname) o.set(...put.str(Opt.HOSTNAME, hostname));
  for (const extra of subnet.options ?? []) {
    const v = extraOption(extra);
    if (v) o.set(extra.code, v);
  }
  addBoot(reply, ctx, program);
  return reply;
}

/** Encodes an extra option of the SoT by its declared type; undefined when the value does not fit the type. */
export function extraOption(opt: { code: number; type: string; value: unknown }): Uint8Array | undefined {
  const { type, value } = opt;
  const num = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  switch (type) {
    case "string":
      return typeof value === "string" ? put.str(opt.code, value)[1] : undefined;
    case "ipv4":
      return typeof value === "string" && ipv4ToInt(value) !== undefined ? put.ip(opt.code, value)[1] : undefined;
    case "ipv4-list": {
      const list = Array.isArray(value) ? value : typeof value === "string" ? value.split(",").map((s) => s.trim()) : [];
      return list.length && list.every((s) => typeof s === "string" && ipv4ToInt(s) !== undefined)
        ? put.ips(opt.code, list as string[])[1]
        : undefined;
    }
    case "uint8":
      return num >= 0 && num <= 0xff ? put.u8(opt.code, num)[1] : undefined;
    case "uint16":
      return num >= 0 && num <= 0xffff ? put.u16(opt.code, num)[1] : undefined;
    case "uint32":
      return num >= 0 && num <= 0xffffffff ? put.u32(opt.code, num)[1] : undefined;
    case "bool":
      return typeof value === "boolean" ? put.u8(opt.code, value ? 1 : 0)[1] : undefined;
    case "hex": {
      const hex = typeof value === "string" ? value.replace(/[:\s]/g, "") : "";
      return /^([0-9a-fA-F]{2})+$/.test(hex) ? Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16)) : undefined;
    }
    default:
      return undefined;
  }
}

/** Proxy mode: no addresses, PXE clients only (PXE spec 2.1, "proxyDHCP"). */
function proxy(req: DhcpPacket, ctx: DhcpContext, type: number, program: BootProgram, base: { xid: number; mac?: string }): DhcpOutcome {
  if (program.kind === "none") return { event: { type: "ignored", ...base, reason: `proxy mode: ${program.reason}` } };
  // Port 67: answer DISCOVERs, and REQUESTs only when addressed to us (the others are for the address server,
  // RFC 2131 §4.3.2). Port 4011, the PXE boot server: REQUEST and INFORM.
  const chosen = get.ip(req, Opt.SERVER_ID);
  const wanted =
    ctx.port === 4011
      ? type === MessageType.REQUEST || type === MessageType.INFORM
      : type === MessageType.DISCOVER || (type === MessageType.REQUEST && chosen === ctx.serverId);
  if (!wanted) {
    const why =
      type === MessageType.REQUEST && ctx.port !== 4011
        ? `request for server ${chosen ?? "unknown"}`
        : `message type ${type} on port ${ctx.port}`;
    return { event: { type: "ignored", ...base, reason: `proxy mode: ${why}` } };
  }
  const replyType = type === MessageType.DISCOVER ? MessageType.OFFER : MessageType.ACK;
  const reply = replyBase(req, ctx, replyType);
  addBoot(reply, ctx, program);
  // iPXE takes a proxy answer only with a server address and a file (dhcp_has_pxeopts); else it asks 4011 and
  // drops that answer too.
  reply.siaddr = ctx.serverId;
  if (program.kind !== "http") reply.options.set(...put.str(Opt.VENDOR_CLASS, "PXEClient"));
  reply.options.set(Opt.VENDOR_SPECIFIC, PXE_BOOT_FILE_HERE);
  return { reply, event: { type: replyType === MessageType.OFFER ? "offer" : "ack", ...base, ...fileOf(program), reason: "proxy" } };
}

function intToDotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}
