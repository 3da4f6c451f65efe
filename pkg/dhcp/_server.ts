/**
 * The DHCP socket loop: receive, decode, hand to {@link handleDhcp}, encode, send. A bad packet never stops it
 * (decode errors are logged at debug with the peer and dropped). Replies go where RFC 2131 §4.1 says: to the
 * relay (giaddr, port 67), to a configured client (ciaddr, port 68), else to the limited broadcast
 * 255.255.255.255 port 68; answers on the PXE boot-server port 4011 go back to the sender.
 *
 * A server serves one segment: one interface, whose address is its `serverId`. Two sockets: the listener hears
 * the clients' broadcasts, and a socket on the segment address hears unicast (renewals, relays) and sends every
 * reply. With `device`, the listener is `0.0.0.0` bound to that interface (`_devsock.ts`), so a broadcast is
 * answered only by the server of the interface it came in on, and one process serves several interfaces with
 * one server each. Without it (tests, loopback), the listener is a plain socket on `address`. Sending from a
 * socket bound to the segment's address makes the kernel put a limited broadcast on that segment's interface,
 * even with no default route or with a default route elsewhere, which firmware such as OVMF requires (it
 * ignores replies to a directed broadcast).
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type DhcpPacket, decodeDhcp, encodeDhcp } from "./_codec.ts";
import { describeDhcp } from "./_describe.ts";
import { bindToDevice, type Peer } from "./_devsock.ts";
import { type DhcpContext, type DhcpEvent, handleDhcp } from "./_handler.ts";
import { get, MessageType, Opt } from "./_options.ts";

/** Options of {@link createDhcpServer}. */
export interface DhcpServerOptions {
  /** Address whose broadcasts are heard: `0.0.0.0` (ignored when `device` is set). */
  address: string;
  /** Hear broadcasts only from this interface (`SO_BINDTODEVICE`); the way to serve one of several interfaces. */
  device?: string;
  /** Port to bind: 67, or 4011 for the PXE boot server. */
  port: number;
  /** Handler context without the port (it is this server's); its `serverId` is bound to send replies. */
  context: Omit<DhcpContext, "port">;
  log: Logger;
  onEvent?: (event: DhcpEvent, request: Record<string, unknown>) => void;
  /**
   * Awaited before a reply is sent: the caller's chance to make the lease it grants durable first (an ACK is a
   * promise the address is the client's). Replies that depend on it wait; the socket keeps receiving.
   */
  beforeReply?: (event: DhcpEvent) => Promise<void> | void;
  /** Where replies go instead of the RFC destinations (tests on loopback). */
  replyTo?: (reply: DhcpPacket, from: Peer) => { address: string; port: number };
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
  const port = o.port === 4011 ? 4011 : 67;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = () => Promise.all(closers.map((c) => c())).then(() => undefined);
  let sender: Socket | undefined;
  const onMessage = (msg: Uint8Array, from: Peer): void => {
    let req: DhcpPacket;
    try {
      req = decodeDhcp(msg);
    } catch (e) {
      o.log.debug({ peer: `${from.address}:${from.port}`, bytes: msg.byteLength, err: (e as Error).message }, "dhcp packet dropped");
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
    const to = o.replyTo?.(reply, from) ?? destination(req, reply, from, port);
    const send = (): void => {
      sender?.send(bytes, to.port, to.address, (err) => {
        if (err) o.log.warn({ ...summary, to: `${to.address}:${to.port}`, err: err.message }, "dhcp reply not sent");
      });
      o.log.debug({ ...summary, event: outcome.event.type, to: `${to.address}:${to.port}` }, "dhcp reply");
    };
    const wait = outcome.event.type === "ack" ? o.beforeReply?.(outcome.event) : undefined;
    if (!wait) send();
    else
      wait.then(send, (e: unknown) =>
        o.log.warn({ ...summary, err: e instanceof Error ? e.message : String(e) }, "dhcp reply withheld: lease not stored"),
      );
  };
  const listen = (socket: Socket): Socket => {
    socket.on("message", (msg: Buffer, rinfo: RemoteInfo) =>
      onMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: rinfo.address, port: rinfo.port }),
    );
    socket.on("error", (e) => o.log.warn({ err: e.message }, "dhcp socket error"));
    closers.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return socket;
  };
  let heard: () => { address: string; port: number };
  try {
    if (o.device) {
      const device = await bindToDevice({
        device: o.device,
        port: o.port,
        onMessage,
        onWarning: (message) => o.log.warn({ iface: o.device }, message),
      });
      closers.push(() => device.close());
      heard = () => ({ address: "0.0.0.0", port: o.port });
      sender = listen(await bindSocket(o.context.serverId, o.port));
    } else {
      const listener = listen(await bindSocket(o.address, o.port));
      heard = () => {
        const a = listener.address();
        return { address: a.address, port: a.port };
      };
      sender = o.context.serverId === o.address ? listener : listen(await bindSocket(o.context.serverId, o.port));
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { address: () => heard(), close: closeAll };
}

/** RFC 2131 §4.1 reply destination. */
export function destination(req: DhcpPacket, reply: DhcpPacket, from: Peer, port: number): { address: string; port: number } {
  if (port === 4011) return { address: from.address, port: from.port };
  if (req.giaddr !== "0.0.0.0") return { address: req.giaddr, port: 67 };
  const nak = get.messageType(reply) === MessageType.NAK;
  if (!nak && req.ciaddr !== "0.0.0.0") return { address: req.ciaddr, port: 68 };
  return { address: "255.255.255.255", port: 68 };
}
