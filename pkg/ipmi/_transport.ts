/**
 * The UDP transport of an IPMI client: one socket per BMC, bound to an ephemeral port, that delivers only
 * datagrams from the BMC's address and port. Injected into the client so tests can put a fake BMC behind it.
 */
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { IpmiError } from "./_errors.ts";
import { MAX_PACKET } from "./_rmcp.ts";

/** What the client needs from the network. */
export interface IpmiTransport {
  send(bytes: Uint8Array): void;
  /** Sets the receiver of datagrams from the BMC (oversized ones are dropped before it). */
  onMessage(handler: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** Opens a UDP transport to `host:port` (the name resolved once). Rejects with IPMI_UNREACHABLE. */
export async function udpTransport(host: string, port: number): Promise<IpmiTransport> {
  const resolved = await lookup(host).catch((e: Error) => {
    throw new IpmiError("IPMI_UNREACHABLE", `ipmi: cannot resolve BMC address ${host}: ${e.message}`);
  });
  const socket = createSocket({ type: resolved.family === 6 ? "udp6" : "udp4" });
  let handler: (bytes: Uint8Array) => void = () => {};
  await new Promise<void>((resolve, reject) => {
    socket.once("error", (e) => reject(new IpmiError("IPMI_UNREACHABLE", `ipmi: cannot open a socket for ${host}:${port}: ${e.message}`)));
    socket.bind(0, () => resolve());
  });
  socket.on("error", () => {});
  socket.on("message", (msg, rinfo) => {
    if (rinfo.port !== port || rinfo.address !== resolved.address || msg.byteLength > MAX_PACKET) return;
    handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
  });
  return {
    send(bytes) {
      // A send error (no route, ICMP unreachable) shows as a missing answer: the client's timeout reports it.
      socket.send(bytes, port, resolved.address, () => {});
    },
    onMessage(h) {
      handler = h;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
