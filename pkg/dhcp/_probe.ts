/**
 * Rogue-server detection: before serving addresses on a segment, broadcast one DISCOVER (as a client would,
 * from port 68, with a random locally administered MAC) and listen for offers. Any answer means another DHCP
 * server is there; two servers handing out addresses on one segment is the outage this prevents.
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { type DhcpPacket, decodeDhcp, encodeDhcp } from "./_codec.ts";
import { get, MessageType, Opt, put } from "./_options.ts";

/** Options of {@link probeDhcpServers}. */
export interface ProbeOptions {
  /** Where to send the DISCOVER: the segment's broadcast address. */
  broadcast: string;
  /** How long to listen for offers (default 2000 ms). */
  timeoutMs?: number;
}

/** What the probe found. */
export type ProbeResult = { servers: string[] } | { skipped: string };

/**
 * Sends one DISCOVER and collects the server identifiers of the offers that answer it. Skipped (not failed) when
 * port 68 is taken, e.g. by the host's own DHCP client.
 */
export async function probeDhcpServers(o: ProbeOptions): Promise<ProbeResult> {
  const socket = createSocket({ type: "udp4", reuseAddr: false });
  const bound = await new Promise<string | undefined>((resolve) => {
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.bind(68, "0.0.0.0", () => resolve(undefined));
  });
  if (bound !== undefined) {
    socket.close();
    return { skipped: `cannot bind port 68 (${bound})` };
  }
  try {
    socket.setBroadcast(true);
    const mac = randomBytes(6);
    mac[0] = ((mac[0] ?? 0) & 0xfe) | 0x02; // unicast, locally administered
    const chaddr = new Uint8Array(16);
    chaddr.set(mac);
    const xid = randomBytes(4).readUInt32BE(0);
    const discover: DhcpPacket = {
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid,
      secs: 0,
      flags: 0x8000,
      ciaddr: "0.0.0.0",
      yiaddr: "0.0.0.0",
      siaddr: "0.0.0.0",
      giaddr: "0.0.0.0",
      chaddr,
      sname: "",
      file: "",
      options: new Map([put.u8(Opt.MESSAGE_TYPE, MessageType.DISCOVER), put.str(Opt.VENDOR_CLASS, "vaquero-probe")]),
    };
    const servers = new Set<string>();
    socket.on("message", (msg, rinfo) => {
      try {
        const p = decodeDhcp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        if (p.op === 2 && p.xid === xid && get.messageType(p) === MessageType.OFFER) servers.add(get.ip(p, Opt.SERVER_ID) ?? rinfo.address);
      } catch {
        // not a DHCP reply: ignore
      }
    });
    await new Promise<void>((resolve, reject) => socket.send(encodeDhcp(discover), 67, o.broadcast, (e) => (e ? reject(e) : resolve())));
    await Bun.sleep(o.timeoutMs ?? 2000);
    return { servers: [...servers].sort() };
  } finally {
    socket.close();
  }
}
