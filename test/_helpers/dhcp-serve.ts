/**
 * Runs Vaquero's DHCP server inside a test network namespace (`ip netns exec NS bun dhcp-serve.ts CONFIG`):
 * prints `ready` once bound, then one JSON line per DHCP event; exits on SIGTERM.
 * CONFIG is JSON: `{ serverId, mode, agentUrl, reservations: { <mac>: Reservation }, pool?: {start, end, subnet} }`.
 */
import { silentLogger } from "../../internal/log/index.ts";
import { chooseBootProgram } from "../../pkg/boot/index.ts";
import { createDhcpServer, createLeasePool, type DhcpServer, type DhcpSubnet, type Reservation } from "../../pkg/dhcp/index.ts";

interface Config {
  serverId: string;
  mode: "server" | "proxy";
  agentUrl: string;
  reservations: Record<string, Reservation>;
  pool?: { start: string; end: string; subnet: DhcpSubnet };
}

const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
const pool = cfg.pool
  ? {
      leases: createLeasePool({
        start: cfg.pool.start,
        end: cfg.pool.end,
        exclude: Object.values(cfg.reservations).map((r) => r.ipv4),
        leaseSeconds: 600,
        now: Date.now,
      }),
      subnet: cfg.pool.subnet,
    }
  : undefined;
const context = {
  mode: cfg.mode,
  serverId: cfg.serverId,
  leaseSeconds: 600,
  lookup: { reservation: (mac: string) => cfg.reservations[mac] },
  boot: (f: Parameters<typeof chooseBootProgram>[0]) => chooseBootProgram(f, { agentUrl: cfg.agentUrl }),
  ...(pool ? { pools: [pool] } : {}),
};
const servers: DhcpServer[] = [];
for (const port of cfg.mode === "proxy" ? [67, 4011] : [67]) {
  servers.push(
    await createDhcpServer({
      address: "0.0.0.0",
      port,
      context,
      log: silentLogger(),
      onEvent: (event) => process.stdout.write(`${JSON.stringify({ port, ...event })}\n`),
    }),
  );
}
process.stdout.write("ready\n");
process.on("SIGTERM", async () => {
  await Promise.all(servers.map((s) => s.close()));
  process.exit(0);
});
