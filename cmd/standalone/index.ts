/**
 * `vaquero standalone`: compiles --sot, stages its site at once, and serves it: the agent HTTP API, TFTP with the
 * iPXE builds, and DHCP on the interfaces named by --dhcp-iface (or the site's `agent.interfaces`). Wiring
 * only: build in order, start, wait for SIGINT/SIGTERM, stop.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import { createLogger } from "../../internal/log/index.ts";
import { createControlApp, prepareTokens, stageSite } from "../../pkg/api/index.ts";
import { openEmbeddedStore } from "../../pkg/store/index.ts";
import { compileSource, VERSION } from "../common/index.ts";
import { powerOf, serveSite, waitForSignal } from "../common/serve.ts";
import { STANDALONE_FLAGS, StandaloneSchema } from "./_flags.ts";

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
    const power = powerOf(bundle, io.env);
    stops.push(() => power.close());
    const staged = stageSite(bundle, release, () => new Date(), { store, power: power.power, log, tickMs: 1000 });
    await staged.engine.start();
    stops.push(() => staged.engine.stop());
    // Control endpoints (rollouts, tokens) behind bearer tokens; the first start writes <data-dir>/admin.token.
    const { tokens, managed } = await prepareTokens({ store, dataDir: cfg["data-dir"], tokensFile: cfg["tokens-file"], log });
    const served = await serveSite({
      verb: "standalone",
      cfg,
      store,
      log,
      version: VERSION,
      staged,
      extend: (app, site) => app.use(createControlApp({ site, tokens, tokensManaged: managed, log })),
    });
    stops.push(() => served.stop());
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
