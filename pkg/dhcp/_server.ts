/**
 * The DHCP socket loop: receive, decode, hand to {@link handleDhcp}, encode, send. A bad packet never stops it
 * (decode errors are logged at debug with the peer and dropped). Replies go where RFC 2131 §4.1 says: to the
 * relay (giaddr, port 67), to a configured client (ciaddr, port 68), else broadcast to port 68; answers on the
 * PXE boot-server port 4011 go back to the sender.
 *
 * node:dgram cannot bind a socket to a device or tell which interface a broadcast came in on, so one server
 * serves one segment: bind 0.0.0.0 inside the segment's network namespace, or on a host with one served
 * interface, and give that interface's address as `serverId`. For the same reason broadcast replies go to the
 * segment's directed broadcast address (10.0.0.255 for 10.0.0.2/24), which the kernel routes out of the right
 * interface as a link-layer broadcast; the limited broadcast 255.255.255.255 would follow the default route, or
 * fail where there is none. Clients without an address accept either (they filter on the UDP port).
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type DhcpPacket, decodeDhcp, encodeDhcp } from "./_codec.ts";
import { describeDhcp } from "./_describe.ts";
import { type DhcpContext, type DhcpEvent, handleDhcp } from "./_handler.ts";
import { get, MessageType, Opt } from "./_options.ts";

/** Options of {@link createDhcpServer}. */
export interface DhcpServerOptions {
  /** Address to bind; `0.0.0.0` to receive broadcasts. */
  address: string;
  /** Port to bind: 67, or 4011 for the PXE boot server. */
  port: number;
  /** Handler context without the port (it is this server's). */
  context: Omit<DhcpContext, "port">;
  log: Logger;
  onEvent?: (event: DhcpEvent, request: Record<string, unknown>) => void;
  /** Broadcast address of the segment (default: derived from the interface holding `serverId`). */
  broadcast?: string;
  /** Where replies go instead of the RFC destinations (tests on loopback). */
  replyTo?: (reply: DhcpPacket, rinfo: RemoteInfo) => { address: string; port: number };
}

/** A running DHCP server. */
export interface DhcpServer {
  address(): { address: string; port: number };
  close(): Promise<void>;
}

/** Binds and starts serving. Rejects with `DHCP_BIND` (exit 2) when the port cannot be bound. */
export async function createDhcpServer(o: DhcpServerOptions): Promise<DhcpServer> {
  const socket: Socket = createSocket({ type: "udp4", reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", (e: NodeJS.ErrnoException) =>
      reject(new VaqueroError("DHCP_BIND", `dhcp: cannot bind ${o.address}:${o.port}: ${e.code ?? e.message}`, { exitCode: 2, cause: e })),
    );
    socket.bind(o.port, o.address, () => resolve());
  });
  socket.setBroadcast(true);
  socket.on("error", (e) => o.log.warn({ err: e.message }, "dhcp socket error"));
  const port = o.port === 4011 ? 4011 : 67;
  const broadcast = o.broadcast ?? directedBroadcast(o.context.serverId) ?? "255.255.255.255";
  socket.on("message", (msg, rinfo) => {
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
    const to = o.replyTo?.(reply, rinfo) ?? destination(req, reply, rinfo, port, broadcast);
    socket.send(bytes, to.port, to.address, (err) => {
      if (err) o.log.warn({ ...summary, to: `${to.address}:${to.port}`, err: err.message }, "dhcp reply not sent");
    });
    o.log.debug({ ...summary, event: outcome.event.type, to: `${to.address}:${to.port}` }, "dhcp reply");
  });
  return {
    address: () => {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** RFC 2131 §4.1 reply destination. */
export function destination(
  req: DhcpPacket,
  reply: DhcpPacket,
  rinfo: RemoteInfo,
  port: number,
  broadcast = "255.255.255.255",
): { address: string; port: number } {
  if (port === 4011) return { address: rinfo.address, port: rinfo.port };
  if (req.giaddr !== "0.0.0.0") return { address: req.giaddr, port: 67 };
  const nak = get.messageType(reply) === MessageType.NAK;
  if (!nak && req.ciaddr !== "0.0.0.0") return { address: req.ciaddr, port: 68 };
  return { address: broadcast, port: 68 };
}

/** The directed broadcast address of the local interface holding `ip`, if any. */
export function directedBroadcast(ip: string): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4" || a.address !== ip) continue;
      const m = a.netmask.split(".").map(Number);
      return a.address
        .split(".")
        .map((o, i) => (Number(o) | (~(m[i] ?? 0) & 255)) & 255)
        .join(".");
    }
  }
  return undefined;
}
