/**
 * `vaquero standalone`: compiles --sot, stages its site at once, and serves it: the agent HTTP API, TFTP with the
 * iPXE builds, and DHCP on the interfaces named by --dhcp-iface (or the site's `agent.interfaces`). Wiring
 * only: build in order, start, wait for SIGINT/SIGTERM, stop.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import { createLogger, type Logger } from "../../internal/log/index.ts";
import { createPathGuard, type PathGuard } from "../../internal/pathguard/index.ts";
import {
  createAgentApp,
  createControlApp,
  createUpstreamCache,
  prepareTokens,
  type StagedSite,
  stageSite,
  withClientIp,
} from "../../pkg/api/index.ts";
import { PROGRAMS } from "../../pkg/boot/index.ts";
import { openEmbeddedStore } from "../../pkg/store/index.ts";
import { createTftpServer, type TftpServer, virtualSource } from "../../pkg/tftp/index.ts";
import { compileSource, VERSION } from "../common/index.ts";
import { startDhcp } from "./_dhcp.ts";
import { STANDALONE_FLAGS, StandaloneSchema, splitHostPort } from "./_flags.ts";
import { powerControls } from "./_power.ts";

export { STANDALONE_FLAGS } from "./_flags.ts";

const SYNOPSIS = "--sot DIR|GIT-URL [--ref REF] [--site ID] --data-dir DIR [--http-addr H:P] [--dhcp-iface IF,…] [--tftp-addr H:P]";
const DESCRIPTION = `Server and agent in one process: compiles --sot, stages it on its site and serves it (HTTP boot
scripts, configs, assets and status; rollouts and tokens behind bearer tokens, the first admin token written to
<data-dir>/admin.token; TFTP with the iPXE builds; DHCP on the named interfaces). Runs until SIGINT or SIGTERM. Exit 1 when the SoT is invalid, 2 when a flag, the SoT location or a port is wrong.`;

/** Runs `standalone` until a signal; returns the exit code. */
export async function runStandalone(argv: readonly string[], io: Io, flags: FlagSpec[] = STANDALONE_FLAGS): Promise<number> {
  const parsed = parseConfig("standalone", argv, flags, { env: io.env });
  if (parsed.help) {
    io.out(helpText("standalone", SYNOPSIS, DESCRIPTION, flags));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("standalone", StandaloneSchema, parsed);
  if (cfg["sot-poll"]) throw usage("--sot-poll is not built yet; restart standalone to pick up a new commit");
  const bundleAndRelease = await compileSource(cfg.sot, cfg, io, (result, tree) => {
    if (!result.valid) {
      const errors = result.findings.filter((f) => f.severity === "error");
      for (const f of errors.slice(0, 20)) io.err(`${f.file}:${f.line}:${f.column}: ${f.code} ${f.message}\n`);
      io.err(`vaquero standalone: ${tree.location} has ${errors.length} error(s); nothing is served (run vaquero validate)\n`);
      return undefined;
    }
    const ids = [...result.sites.keys()];
    const id = cfg.site ?? (ids.length === 1 ? ids[0] : undefined);
    if (id === undefined) throw usage(`the SoT has ${ids.length} sites (${ids.join(", ")}); pick one with --site`);
    const site = result.sites.get(id);
    if (!site) throw usage(`site "${id}" is not in the SoT; sites: ${ids.join(", ")}`);
    return { bundle: site.bundle, release: result.release?.id ?? "unknown" };
  });
  if (!bundleAndRelease) return 1;
  const { bundle, release } = bundleAndRelease;
  const log = createLogger({ level: cfg["log-level"], pretty: io.errIsTTY });
  await mkdir(cfg["data-dir"], { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    throw new VaqueroError("DATA_DIR", `vaquero standalone: cannot create --data-dir ${cfg["data-dir"]}: ${e.code ?? e.message}`, {
      exitCode: 2,
    });
  });
  const stops: (() => Promise<void> | void)[] = [];
  try {
    // Durable state (machines, traces, rollouts, DHCP pool leases) in the embedded store; a second process on the
    // same data directory is refused here, before anything is served.
    const store = await openEmbeddedStore({
      path: join(cfg["data-dir"], "vaquero.db"),
      onError: (e) => log.warn({ err: describeError(e) }, "store: lease expiry check failed"),
    });
    stops.push(() => store.close());
    const power = powerControls(bundle, { env: io.env, readFile: (p) => readFileSync(p, "utf8") });
    stops.push(() => power.close());
    const staged = stageSite(bundle, release, () => new Date(), { store, power: power.power, log, tickMs: 1000 });
    await staged.engine.start();
    stops.push(() => staged.engine.stop());
    const assets = await optionalGuard(bundle.site.agent.assets.dir, "site asset directory", log);
    const programs = await loadBootPrograms(cfg["ipxe-dir"], log);
    // Which machine an address is: its reserved address, or (proxy mode, pools) the address DHCP saw it ask for.
    const macByIp = new Map<string, string>();
    for (const h of bundle.hosts) for (const i of h.interfaces) macByIp.set(i.ipv4, i.mac);
    const origin = bundle.site.agent.assets.upstream;
    const upstream = origin ? await createUpstreamCache({ upstream: origin, dir: join(cfg["data-dir"], "assets-cache"), log }) : undefined;
    // Control endpoints (rollouts, tokens) behind bearer tokens; the first start writes <data-dir>/admin.token.
    const { tokens, managed } = await prepareTokens({ store, dataDir: cfg["data-dir"], tokensFile: cfg["tokens-file"], log });
    const app = createAgentApp({
      site: () => staged,
      log,
      programs,
      version: VERSION,
      macOf: (ip) => macByIp.get(ip),
      bootRate: cfg["boot-rate"],
      role: "standalone",
      ...(assets ? { assets } : {}),
      ...(upstream ? { upstream } : {}),
    }).use(createControlApp({ site: () => staged, tokens, tokensManaged: managed, log }));
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
    );
    stops.push(() => server.stop(true));
    log.info({ site: bundle.site.id, release, http: `${server.hostname}:${server.port}`, upstream: upstream?.upstream }, "serving HTTP");
    if (programs.size) stops.push(await startTftp(cfg["tftp-addr"], programs, staged, macByIp, log));
    const ifaces = cfg["dhcp-iface"] ?? bundle.site.agent.interfaces;
    stops.push(...(await startDhcp(ifaces, bundle, staged, macByIp, store, log)));
    await waitForSignal();
    log.info("stopping");
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero standalone: ${msg} (see vaquero standalone --help)`, { exitCode: 2 });
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

function listen<T>(start: () => T, what: string): T {
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
    throw new VaqueroError("LISTEN", `vaquero standalone: cannot serve ${what}: ${why}`, { exitCode: 2 });
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
  staged: StagedSite,
  macByIp: ReadonlyMap<string, string>,
  log: Logger,
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
          staged.engine.record(mac, "tftp", e.type, { file: e.file, bytes: e.bytes, ms: e.ms, ...(e.error ? { error: e.error } : {}) });
      },
    });
  } catch (e) {
    throw new VaqueroError("LISTEN", `vaquero standalone: cannot serve TFTP on ${addr}: ${(e as Error).message}`, { exitCode: 2 });
  }
  log.info({ tftp: addr }, "serving TFTP");
  return () => tftp.close();
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
