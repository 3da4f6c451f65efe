/**
 * DHCP for `vaquero standalone` and `vaquero agent`: the site's reservations and pool turned into the handler's context, the rogue-server
 * probe in `server` mode, and the sockets.
 */
import { networkInterfaces } from "node:os";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { inCidr, ipv4ToInt, parseCidr } from "../../internal/net/index.ts";
import type { StagedSite } from "../../pkg/api/index.ts";
import { chooseBootProgram } from "../../pkg/boot/index.ts";
import {
  createDhcpServer,
  createLeasePool,
  type DhcpEvent,
  type DhcpServer,
  type DhcpSubnet,
  type FirmwareFacts,
  probeDhcpServers,
  type Reservation,
  type SubnetPool,
} from "../../pkg/dhcp/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";
import type { Store } from "../../pkg/store/index.ts";
import { openLeaseStore } from "./serve_leases.ts";

function inRange(ip: string, start: string, end: string): boolean {
  const n = ipv4ToInt(ip);
  const lo = ipv4ToInt(start);
  const hi = ipv4ToInt(end);
  return n !== undefined && lo !== undefined && hi !== undefined && n >= lo && n <= hi;
}

function usage(msg: string, verb = "standalone"): VaqueroError {
  return new VaqueroError("USAGE", `vaquero ${verb}: ${msg} (see vaquero ${verb} --help)`, { exitCode: 2 });
}

/** An interface DHCP serves: its name, the address that is its server identifier, and all its IPv4 addresses. */
export interface ServedInterface {
  name: string;
  serverId: string;
  addresses: string[];
}

/**
 * The named interfaces with their IPv4 addresses. An interface's server identifier is its address inside one of
 * the site's subnets (the segment it serves), else its first IPv4 address. Exit 2 for a name that is not an
 * interface with an IPv4 address, or one named twice.
 */
export function servedInterfaces(
  names: readonly string[],
  bundle: Bundle,
  nics = networkInterfaces(),
  verb = "standalone",
): ServedInterface[] {
  const cidrs = bundle.site.subnets.map((s) => parseCidr(s.cidr)).filter((c) => c !== undefined);
  const seen = new Set<string>();
  return names.map((name) => {
    if (seen.has(name)) throw usage(`interface ${name} is named twice in --dhcp-iface`, verb);
    seen.add(name);
    const addresses = (nics[name] ?? []).filter((a) => a.family === "IPv4").map((a) => a.address);
    const inSite = addresses.find((a) => cidrs.some((c) => inCidr(ipv4ToInt(a) ?? -1, c)));
    const serverId = inSite ?? addresses[0];
    if (!serverId) throw usage(`interface ${name} does not exist, is down (no carrier), or has no IPv4 address`, verb);
    return { name, serverId, addresses };
  });
}

/**
 * Starts DHCP on the named interfaces (none: DHCP is off, said once); returns the stop functions. Each interface
 * gets its own server, bound to the device, answering with that interface's address as server identifier,
 * next-server and boot-script host; a machine is answered only on the segment of its subnet.
 */
export async function startDhcp(
  ifaceNames: string[],
  bundle: Bundle,
  staged: () => StagedSite | undefined,
  macByIp: Map<string, string>,
  store: Store,
  log: Logger,
  verb = "standalone",
): Promise<(() => Promise<void>)[]> {
  const mode = bundle.site.agent.dhcp;
  if (ifaceNames.length === 0 || mode === "off") {
    log.info({ mode }, mode === "off" ? "DHCP is off for this site" : "DHCP is off: no --dhcp-iface and no agent.interfaces");
    return [];
  }
  const ifaces = servedInterfaces(ifaceNames, bundle, networkInterfaces(), verb);
  if (mode === "server") {
    // Full DHCP beside another server would hand out conflicting answers: look on every segment before serving.
    for (const iface of ifaces) {
      const probe = await probeDhcpServers({ source: iface.serverId });
      if ("skipped" in probe) log.warn({ iface: iface.name, reason: probe.skipped }, "could not check for another DHCP server");
      else if (probe.servers.length) {
        throw new VaqueroError(
          "DHCP_ROGUE",
          `vaquero ${verb}: another DHCP server (${probe.servers.join(", ")}) answers on ${iface.name}; set \`dhcp: proxy\` in the site's env to boot beside it, or stop it`,
          { exitCode: 2 },
        );
      }
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
  const own = ifaces.flatMap((i) => i.addresses);
  // Pool leases survive a restart: restored from the store, and every change written before its ACK is sent.
  const leaseStore = openLeaseStore(store, bundle.site.id, {
    onError: (e, what) => log.warn({ ...what, err: describeError(e) }, "DHCP lease not persisted"),
  });
  const saved = mode === "server" ? await leaseStore.load() : [];
  const pools: SubnetPool[] =
    mode === "server"
      ? bundle.site.subnets.flatMap((s) =>
          s.pool
            ? [
                {
                  leases: createLeasePool({
                    start: s.pool.start,
                    end: s.pool.end,
                    exclude: [...[...reservations.values()].map((r) => r.ipv4), ...own],
                    leaseSeconds: 3600,
                    now: Date.now,
                    leases: saved.filter((l) => inRange(l.ip, s.pool?.start ?? "", s.pool?.end ?? "")),
                    onChange: leaseStore.onChange,
                  }),
                  subnet: subnets.get(s.id) as DhcpSubnet,
                },
              ]
            : [],
        )
      : [];
  const httpPort = new URL(bundle.site.agent.url).port || "80";
  const onEvent = (event: DhcpEvent, request: Record<string, unknown>): void => {
    const { mac, type, ...detail } = event;
    const asked = request.requestedIp ?? request.ciaddr;
    const s = staged();
    if (mac && typeof asked === "string" && s?.renderer.lookup(mac)) macByIp.set(asked, mac);
    if (mac && type !== "ignored") s?.engine.record(mac, "dhcp", type, detail);
  };
  const servers: DhcpServer[] = [];
  try {
    for (const iface of ifaces) {
      const agentUrl = `http://${iface.serverId}:${httpPort}`;
      const context = {
        mode,
        serverId: iface.serverId,
        localAddresses: iface.addresses,
        leaseSeconds: 3600,
        lookup: { reservation: (mac: string) => reservations.get(mac) },
        boot: (f: FirmwareFacts) => chooseBootProgram(f, { agentUrl }),
        pools,
      };
      for (const port of mode === "proxy" ? [67, 4011] : [67]) {
        servers.push(
          await createDhcpServer({
            address: "0.0.0.0",
            device: iface.name,
            port,
            context,
            log,
            onEvent,
            beforeReply: pools.length ? () => leaseStore.flush() : undefined,
          }),
        );
      }
      log.info({ iface: iface.name, serverId: iface.serverId, mode }, "serving DHCP");
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    throw e;
  }
  if (pools.length) log.info({ pools: pools.map((p) => p.subnet.cidr), restored: saved.length }, "DHCP pools for unknown machines");
  return [...servers.map((s) => () => s.close()), () => leaseStore.flush()];
}
