/**
 * DHCP for `vaquero standalone`: the site's reservations and pool turned into the handler's context, the rogue-server
 * probe in `server` mode, and the sockets.
 */
import { networkInterfaces } from "node:os";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import type { StagedSite } from "../../pkg/api/index.ts";
import { chooseBootProgram } from "../../pkg/boot/index.ts";
import {
  createDhcpServer,
  createLeasePool,
  type DhcpServer,
  type DhcpSubnet,
  probeDhcpServers,
  type Reservation,
} from "../../pkg/dhcp/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero standalone: ${msg} (see vaquero standalone --help)`, { exitCode: 2 });
}

/** Starts DHCP on the named interfaces (none: DHCP is off, said once); returns the stop functions. */
export async function startDhcp(
  ifaces: string[],
  bundle: Bundle,
  staged: StagedSite,
  macByIp: Map<string, string>,
  log: Logger,
): Promise<(() => Promise<void>)[]> {
  const mode = bundle.site.agent.dhcp;
  if (ifaces.length === 0 || mode === "off") {
    log.info({ mode }, mode === "off" ? "DHCP is off for this site" : "DHCP is off: no --dhcp-iface and no agent.interfaces");
    return [];
  }
  if (ifaces.length > 1) throw usage(`DHCP serves one interface per process in this version, got ${ifaces.join(", ")}`);
  const iface = ifaces[0] as string;
  const serverId = networkInterfaces()[iface]?.find((a) => a.family === "IPv4")?.address;
  if (!serverId) throw usage(`interface ${iface} does not exist, is down (no carrier), or has no IPv4 address`);
  if (mode === "server") {
    // Full DHCP beside another server would hand out conflicting answers: look before serving.
    const probe = await probeDhcpServers({ source: serverId });
    if ("skipped" in probe) log.warn({ iface, reason: probe.skipped }, "could not check for another DHCP server");
    else if (probe.servers.length) {
      throw new VaqueroError(
        "DHCP_ROGUE",
        `vaquero standalone: another DHCP server (${probe.servers.join(", ")}) answers on ${iface}; set \`dhcp: proxy\` in the site's env to boot beside it, or stop it`,
        { exitCode: 2 },
      );
    }
  }
  const subnets = new Map<string, DhcpSubnet>(bundle.site.subnets.map((s) => [s.id, { ...s, dns: s.dns ?? [], ntp: s.ntp ?? [] }]));
  const reservations = new Map<string, Reservation>();
  for (const h of bundle.hosts) {
    for (const i of h.interfaces) {
      const subnet = subnets.get(i.subnet);
      if (subnet) reservations.set(i.mac, { host: h.name, ipv4: i.ipv4, ...(i.hostname ? { hostname: i.hostname } : {}), subnet });
    }
  }
  const poolSubnet = bundle.site.subnets.find((s) => s.pool);
  const pool =
    poolSubnet?.pool && mode === "server"
      ? {
          leases: createLeasePool({
            start: poolSubnet.pool.start,
            end: poolSubnet.pool.end,
            exclude: [...[...reservations.values()].map((r) => r.ipv4), serverId],
            leaseSeconds: 3600,
            now: Date.now,
          }),
          subnet: subnets.get(poolSubnet.id) as DhcpSubnet,
        }
      : undefined;
  const agentUrl = `http://${serverId}:${new URL(bundle.site.agent.url).port || "80"}`;
  const context = {
    mode,
    serverId,
    leaseSeconds: 3600,
    lookup: { reservation: (mac: string) => reservations.get(mac) },
    boot: (f: Parameters<typeof chooseBootProgram>[0]) => chooseBootProgram(f, { agentUrl }),
    ...(pool ? { pool } : {}),
  };
  const servers: DhcpServer[] = [];
  for (const port of mode === "proxy" ? [67, 4011] : [67]) {
    servers.push(
      await createDhcpServer({
        address: "0.0.0.0",
        port,
        context,
        log,
        onEvent: (event, request) => {
          const { mac, type, ...detail } = event;
          const asked = request.requestedIp ?? request.ciaddr;
          if (mac && typeof asked === "string" && staged.renderer.lookup(mac)) macByIp.set(asked, mac);
          if (mac && type !== "ignored") staged.tracker.record(mac, "dhcp", type, detail);
        },
      }),
    );
  }
  log.info({ iface, serverId, mode, pool: pool ? `${poolSubnet?.pool?.start}-${poolSubnet?.pool?.end}` : "none" }, "serving DHCP");
  return servers.map((s) => () => s.close());
}
