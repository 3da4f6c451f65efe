/**
 * The DHCP socket loop: receive, decode, hand to {@link handleDhcp}, encode, send. A bad packet never stops it
 * (decode errors are logged at debug with the peer and dropped). Replies go where RFC 2131 §4.1 says: to the
 * relay (giaddr, port 67), to a configured client (ciaddr, port 68), else to the limited broadcast
 * 255.255.255.255 port 68; answers on the PXE boot-server port 4011 go back to the sender.
 *
 * node:dgram can neither bind a socket to a device nor tell which interface a packet came in on. So a server
 * serves one segment, and uses two sockets: one on 0.0.0.0 hears the clients' broadcasts, one on the segment
 * address (`serverId`) hears unicast (renewals, relays) and sends every reply. Sending from a socket bound to
 * the segment's address makes the kernel put a limited broadcast on that segment's interface, even with no
 * default route or with a default route elsewhere, which firmware such as OVMF requires (it ignores replies
 * to a directed broadcast). On one host, run one server per segment (one network namespace, or one process
 * per interface address).
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type DhcpPacket, decodeDhcp, encodeDhcp } from "./_codec.ts";
import { describeDhcp } from "./_describe.ts";
import { type DhcpContext, type DhcpEvent, handleDhcp } from "./_handler.ts";
import { get, MessageType, Opt } from "./_options.ts";

/** Options of {@link createDhcpServer}. */
export interface DhcpServerOptions {
  /** Address whose broadcasts are heard: `0.0.0.0`. */
  address: string;
  /** Port to bind: 67, or 4011 for the PXE boot server. */
  port: number;
  /** Handler context without the port (it is this server's); its `serverId` is bound to send replies. */
  context: Omit<DhcpContext, "port">;
  log: Logger;
  onEvent?: (event: DhcpEvent, request: Record<string, unknown>) => void;
  /** Where replies go instead of the RFC destinations (tests on loopback). */
  replyTo?: (reply: DhcpPacket, rinfo: RemoteInfo) => { address: string; port: number };
}

/** A running DHCP server. */
export interface DhcpServer {
  address(): { address: string; port: number };
  close(): Promise<void>;
}

async function bindSocket(address: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: "udp4", reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", (e: NodeJS.ErrnoException) => {
      socket.close();
      reject(new VaqueroError("DHCP_BIND", `dhcp: cannot bind ${address}:${port}: ${e.code ?? e.message}`, { exitCode: 2, cause: e }));
    });
    socket.bind(port, address, () => resolve());
  });
  socket.setBroadcast(true);
  return socket;
}

/** Binds and starts serving. Rejects with `DHCP_BIND` (exit 2) when a port cannot be bound. */
export async function createDhcpServer(o: DhcpServerOptions): Promise<DhcpServer> {
  const listener = await bindSocket(o.address, o.port);
  let sender: Socket;
  try {
    sender = o.context.serverId === o.address ? listener : await bindSocket(o.context.serverId, o.port);
  } catch (e) {
    listener.close();
    throw e;
  }
  const sockets = sender === listener ? [listener] : [listener, sender];
  const port = o.port === 4011 ? 4011 : 67;
  const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    let req: DhcpPacket;
    try {
      req = decodeDhcp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    } catch (e) {
      o.log.debug({ peer: `${rinfo.address}:${rinfo.port}`, bytes: msg.byteLength, err: (e as Error).message }, "dhcp packet dropped");
      return;
    }
    const summary = describeDhcp(req);
    let outcome: ReturnType<typeof handleDhcp>;
    try {
      outcome = handleDhcp(req, { ...o.context, port });
    } catch (e) {
      o.log.warn({ ...summary, err: (e as Error).message }, "dhcp handler failed");
      return;
    }
    o.onEvent?.(outcome.event, summary);
    const { reply } = outcome;
    if (!reply) {
      o.log.debug({ ...summary, reason: outcome.event.reason }, "dhcp request ignored");
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeDhcp(reply, { maxSize: get.u16(req, Opt.MAX_SIZE) ?? 576 });
    } catch (e) {
      o.log.warn({ ...summary, err: (e as Error).message }, "dhcp reply not encodable");
      return;
    }
    const to = o.replyTo?.(reply, rinfo) ?? destination(req, reply, rinfo, port);
    sender.send(bytes, to.port, to.address, (err) => {
      if (err) o.log.warn({ ...summary, to: `${to.address}:${to.port}`, err: err.message }, "dhcp reply not sent");
    });
    o.log.debug({ ...summary, event: outcome.event.type, to: `${to.address}:${to.port}` }, "dhcp reply");
  };
  for (const s of sockets) {
    s.on("message", onMessage);
    s.on("error", (e) => o.log.warn({ err: e.message }, "dhcp socket error"));
  }
  return {
    address: () => {
      const a = listener.address();
      return { address: a.address, port: a.port };
    },
    close: () => Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined),
  };
}

/** RFC 2131 §4.1 reply destination. */
export function destination(req: DhcpPacket, reply: DhcpPacket, rinfo: RemoteInfo, port: number): { address: string; port: number } {
  if (port === 4011) return { address: rinfo.address, port: rinfo.port };
  if (req.giaddr !== "0.0.0.0") return { address: req.giaddr, port: 67 };
  const nak = get.messageType(reply) === MessageType.NAK;
  if (!nak && req.ciaddr !== "0.0.0.0") return { address: req.ciaddr, port: 68 };
  return { address: "255.255.255.255", port: 68 };
}
