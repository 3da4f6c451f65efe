/**
 * Serving one site, shared by `vaquero standalone` and `vaquero agent`: the agent HTTP API (plus whatever a verb
 * adds, e.g. standalone's control endpoints) on one listener, TFTP with the iPXE builds, DHCP on the named
 * interfaces, the hosts' power controls. The staged site can be switched while serving (the agent does when a new
 * bundle arrives): boot requests then see the new bundle; DHCP is restarted with its reservations.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { createPathGuard, type PathGuard } from "../../internal/pathguard/index.ts";
import { createAgentApp, createUpstreamCache, type StagedSite, withClientIp } from "../../pkg/api/index.ts";
import { PROGRAMS } from "../../pkg/boot/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";
import type { Store } from "../../pkg/store/index.ts";
import { createTftpServer, type TftpServer, virtualSource } from "../../pkg/tftp/index.ts";
import { startDhcp } from "./serve_dhcp.ts";
import { powerControls } from "./serve_power.ts";

export { type ServedInterface, servedInterfaces, startDhcp } from "./serve_dhcp.ts";
export { type LeaseStore, type LeaseStoreOptions, openLeaseStore } from "./serve_leases.ts";
export { powerControls } from "./serve_power.ts";

/** What a verb's flags give the serving code. */
export interface ServeConfig {
  "data-dir": string;
  "http-addr": string;
  "tftp-addr": string;
  "ipxe-dir": string;
  "dhcp-iface"?: string[] | undefined;
  "boot-rate": number;
}

/** Something that answers HTTP requests (an Elysia app). */
export interface Handler {
  handle(request: Request): Promise<Response> | Response;
}

/** Options of {@link serveSite}. */
export interface ServeOptions {
  /** `standalone` or `agent`: names the verb in messages and is `/status`'s role. */
  verb: string;
  cfg: ServeConfig;
  store: Store;
  log: Logger;
  version: string;
  /** The site staged at start, if any (an agent may start with nothing staged yet). */
  staged?: StagedSite;
  /** Adds a verb's own routes to the agent app (standalone: the control endpoints). */
  extend?: (app: ReturnType<typeof createAgentApp>, site: () => StagedSite | undefined) => Handler;
}

/** A site being served. */
export interface SiteServer {
  /** The staged site served now. */
  current(): StagedSite | undefined;
  /** Serves `next` from now on (its engine already started): a new HTTP app, TFTP's trace and DHCP follow. */
  switchTo(next: StagedSite): Promise<void>;
  /** The HTTP listener's address. */
  http: { hostname: string; port: number };
  stop(): Promise<void>;
}

/** Starts HTTP (and, once a site is staged, TFTP and DHCP); a port that cannot be bound throws exit 2. */
export async function serveSite(o: ServeOptions): Promise<SiteServer> {
  const { cfg, log, verb } = o;
  let staged = o.staged;
  const site = (): StagedSite | undefined => staged;
  const stops: (() => Promise<void> | void)[] = [];
  let dhcpStops: (() => Promise<void>)[] = [];
  // Which machine an address is: its reserved address, or (proxy mode, pools) the address DHCP saw it ask for.
  const macByIp = new Map<string, string>();
  const programs = await loadBootPrograms(cfg["ipxe-dir"], log);
  let app: Handler = await buildApp(o, site, programs, macByIp);
  try {
    const http = splitHostPort(cfg["http-addr"]);
    // The peer's address comes from the connection, never from a header; the app reads it back per request.
    const server = listen(
      () =>
        Bun.serve({
          hostname: http.host,
          port: http.port,
          fetch: (req, srv) => app.handle(withClientIp(req, srv.requestIP(req)?.address)),
        }),
      `HTTP on ${cfg["http-addr"]}`,
      verb,
    );
    stops.push(() => server.stop(true));
    log.info({ site: staged?.bundle.site.id, release: staged?.release.id, http: `${server.hostname}:${server.port}` }, "serving HTTP");
    if (programs.size) stops.push(await startTftp(cfg["tftp-addr"], programs, site, macByIp, log, verb));
    const startDhcpFor = async (s: StagedSite): Promise<void> => {
      const ifaces = cfg["dhcp-iface"] ?? s.bundle.site.agent.interfaces;
      dhcpStops = await startDhcp(ifaces, s.bundle, site, macByIp, o.store, log, verb);
    };
    if (staged) {
      fillMacByIp(macByIp, staged.bundle);
      await startDhcpFor(staged);
    } else log.info("nothing staged yet: boot requests answer 503 until a bundle arrives; TFTP serves the iPXE builds");
    return {
      current: site,
      http: { hostname: server.hostname ?? http.host, port: server.port ?? http.port },
      async switchTo(next) {
        const nextApp = await buildApp(o, () => next, programs, macByIp);
        for (const stop of dhcpStops.reverse()) await stop();
        dhcpStops = [];
        staged = next;
        app = nextApp;
        fillMacByIp(macByIp, next.bundle);
        await startDhcpFor(next);
      },
      async stop() {
        for (const stop of dhcpStops.reverse()) await stop();
        for (const stop of stops.reverse()) await stop();
      },
    };
  } catch (e) {
    for (const stop of dhcpStops.reverse()) await stop();
    for (const stop of stops.reverse()) await stop();
    throw e;
  }
}

function fillMacByIp(macByIp: Map<string, string>, bundle: Bundle): void {
  macByIp.clear();
  for (const h of bundle.hosts) for (const i of h.interfaces) macByIp.set(i.ipv4, i.mac);
}

/** The agent app (and a verb's routes) for the site served now: assets and upstream cache come from its bundle. */
async function buildApp(
  o: ServeOptions,
  site: () => StagedSite | undefined,
  programs: Map<string, Uint8Array>,
  macByIp: ReadonlyMap<string, string>,
): Promise<Handler> {
  const bundle = site()?.bundle;
  const assets = await optionalGuard(bundle?.site.agent.assets.dir, "site asset directory", o.log);
  const origin = bundle?.site.agent.assets.upstream;
  const upstream = origin
    ? await createUpstreamCache({ upstream: origin, dir: join(o.cfg["data-dir"], "assets-cache"), log: o.log })
    : undefined;
  const app = createAgentApp({
    site,
    log: o.log,
    programs,
    version: o.version,
    macOf: (ip) => macByIp.get(ip),
    bootRate: o.cfg["boot-rate"],
    role: o.verb,
    ...(assets ? { assets } : {}),
    ...(upstream ? { upstream } : {}),
  });
  return o.extend ? o.extend(app, site) : app;
}

/** The power controls of a bundle's hosts, with secrets from the process environment and files. */
export function powerOf(bundle: Bundle, env: Record<string, string | undefined>): ReturnType<typeof powerControls> {
  return powerControls(bundle, { env, readFile: (p) => readFileSync(p, "utf8") });
}

async function optionalGuard(dir: string | undefined, what: string, log: Logger): Promise<PathGuard | undefined> {
  if (!dir) return undefined;
  try {
    return await createPathGuard(dir);
  } catch {
    log.warn({ dir }, `${what} does not exist; not served`);
    return undefined;
  }
}

/** Splits `host:port`. */
export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
}

function listen<T>(start: () => T, what: string, verb: string): T {
  try {
    return start();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const why =
      code === "EADDRINUSE"
        ? "address in use"
        : code === "EACCES"
          ? "permission denied (a port below 1024 needs root)"
          : (e as Error).message;
    throw new VaqueroError("LISTEN", `vaquero ${verb}: cannot serve ${what}: ${why}`, { exitCode: 2 });
  }
}

/**
 * The boot programs of the iPXE directory, read once into memory by their names in pkg/boot's PROGRAMS. The
 * directory is the operator's, so its symbolic links are followed (Debian's `ipxe.efi` links to /boot); the
 * names a machine may ask for are only these, so no request reaches the file system.
 */
async function loadBootPrograms(dir: string, log: Logger): Promise<Map<string, Uint8Array>> {
  const programs = new Map<string, Uint8Array>();
  for (const name of Object.values(PROGRAMS)) {
    const bytes = await readFile(join(dir, name)).catch(() => undefined);
    if (bytes) programs.set(name, new Uint8Array(bytes));
  }
  if (programs.size === 0) log.warn({ dir }, "no iPXE build found in --ipxe-dir; TFTP is not served");
  else log.info({ dir, programs: [...programs.keys()] }, "boot programs loaded");
  return programs;
}

async function startTftp(
  addr: string,
  programs: Map<string, Uint8Array>,
  site: () => StagedSite | undefined,
  macByIp: ReadonlyMap<string, string>,
  log: Logger,
  verb: string,
): Promise<() => Promise<void>> {
  const { host, port } = splitHostPort(addr);
  let tftp: TftpServer;
  try {
    tftp = await createTftpServer({
      address: host,
      port,
      files: virtualSource(programs),
      log,
      onEvent: (e) => {
        const mac = macByIp.get(e.peer.address);
        if (mac)
          site()?.engine.record(mac, "tftp", e.type, { file: e.file, bytes: e.bytes, ms: e.ms, ...(e.error ? { error: e.error } : {}) });
      },
    });
  } catch (e) {
    throw new VaqueroError("LISTEN", `vaquero ${verb}: cannot serve TFTP on ${addr}: ${(e as Error).message}`, { exitCode: 2 });
  }
  log.info({ tftp: addr }, "serving TFTP");
  return () => tftp.close();
}
