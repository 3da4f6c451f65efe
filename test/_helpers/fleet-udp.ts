/**
 * A fake BMC (pkg/ipmi's test BMC, which speaks RMCP+ over an in-memory transport) served on a real UDP socket on a
 * loopback address: each client address:port gets its own in-memory transport into the BMC, and the BMC's answers go back
 * from the socket's port, as a real BMC's do. Used by the fleet simulator; nothing in pkg/ipmi changes.
 */
import type { IpmiTransport } from "../../pkg/ipmi/index.ts";

/** The part of the fake BMC the adapter needs: its transport factory. */
export interface TransportSource {
  transport(host: string, port: number): Promise<IpmiTransport>;
}

/** A BMC listening on UDP. */
export interface UdpBmc {
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Peers remembered per socket before the oldest is dropped (a client that reconnects gets a fresh transport). */
const MAX_PEERS = 64;

/**
 * Serves `bmc` on `address`:`port` (a loopback address; port 0: any free port). `afterAnswer` runs after each answer is sent (the fleet
 * reads the BMC's command log there).
 */
export async function serveBmcUdp(
  bmc: TransportSource,
  address = "127.0.0.1",
  port = 0,
  afterAnswer: () => void = () => {},
): Promise<UdpBmc> {
  if (!address.startsWith("127.")) throw new Error(`fake BMCs listen on loopback only, not ${address}`);
  const peers = new Map<string, Promise<IpmiTransport>>();
  const socket = await Bun.udpSocket({
    hostname: address,
    port,
    socket: {
      data(sock, buf, peerPort, peerAddr) {
        const id = `${peerAddr}:${peerPort}`;
        let t = peers.get(id);
        if (!t) {
          t = bmc.transport(peerAddr, peerPort).then((tr) => {
            tr.onMessage((bytes) => {
              sock.send(bytes, peerPort, peerAddr);
              afterAnswer();
            });
            return tr;
          });
          peers.set(id, t);
          if (peers.size > MAX_PEERS) {
            const oldest = peers.keys().next().value;
            if (oldest !== undefined) {
              void peers.get(oldest)?.then((tr) => tr.close());
              peers.delete(oldest);
            }
          }
        }
        const bytes = new Uint8Array(buf).slice();
        void t.then((tr) => {
          tr.send(bytes);
          // Commands the BMC executes without answering (none today) are picked up at the next answer.
        });
      },
    },
  });
  return {
    address,
    port: socket.port,
    async close() {
      socket.close();
      await Promise.allSettled([...peers.values()].map((p) => p.then((tr) => tr.close())));
    },
  };
}
