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
  /** The agent's address on the segment: the DISCOVER leaves from it, so it goes out on that interface. */
  source: string;
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
  // Offers come back as broadcasts, which only a wildcard socket hears; the DISCOVER leaves from the source.
  const bind = async (address: string): Promise<ReturnType<typeof createSocket> | string> => {
    const s = createSocket({ type: "udp4", reuseAddr: true });
    const err = await new Promise<string | undefined>((resolve) => {
      s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.bind(68, address, () => resolve(undefined));
    });
    if (err !== undefined) {
      s.close();
      return err;
    }
    s.setBroadcast(true);
    return s;
  };
  const listener = await bind("0.0.0.0");
  if (typeof listener === "string") return { skipped: `cannot bind port 68 (${listener})` };
  const sender = await bind(o.source);
  if (typeof sender === "string") {
    listener.close();
    return { skipped: `cannot bind ${o.source}:68 (${sender})` };
  }
  try {
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
    const onMessage = (msg: Buffer, rinfo: { address: string }): void => {
      try {
        const p = decodeDhcp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        if (p.op === 2 && p.xid === xid && get.messageType(p) === MessageType.OFFER) servers.add(get.ip(p, Opt.SERVER_ID) ?? rinfo.address);
      } catch {
        // not a DHCP reply: ignore
      }
    };
    listener.on("message", onMessage);
    sender.on("message", onMessage);
    await new Promise<void>((resolve, reject) =>
      sender.send(encodeDhcp(discover), 67, "255.255.255.255", (e) => (e ? reject(e) : resolve())),
    );
    await Bun.sleep(o.timeoutMs ?? 2000);
    return { servers: [...servers].sort() };
  } finally {
    listener.close();
    sender.close();
  }
}
