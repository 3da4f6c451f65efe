/**
 * `vaquero standalone`: the server and the agent in one process, on one store and one listener. Compiles --sot
 * through the control plane's release pipeline (the releases a server stores), stages its site's bundle at once
 * and serves it: the agent HTTP API, rollouts and tokens, the release endpoints (and `/postreceive` with
 * --webhook-secret-file), TFTP with the iPXE builds, and DHCP on the interfaces named by --dhcp-iface (or the
 * site's `agent.interfaces`). Every later release (--sot-poll, a webhook, `POST /releases`) is staged in-process.
 * Wiring only: build in order, start, wait for SIGINT/SIGTERM, stop.
 */
import { readFile } from "node:fs/promises";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { describeError, isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import { createLogger, type Logger } from "../../internal/log/index.ts";
import { createControlApp, prepareTokens, releaseRoutes } from "../../pkg/api/index.ts";
import {
  type CompileOutcome,
  type CompileRequest,
  createReleaser,
  getRelease,
  type ReleaseRecord,
  type Releaser,
} from "../../pkg/control/index.ts";
import { makeDataDir, openLocalStore } from "../common/data.ts";
import { VERSION } from "../common/index.ts";
import { listenForStop } from "../common/signals.ts";
import { STANDALONE_FLAGS, type StandaloneConfig, StandaloneSchema, seconds } from "./_flags.ts";
import { type StandaloneSite, startSite } from "./_site.ts";

export { STANDALONE_FLAGS } from "./_flags.ts";

const SYNOPSIS =
  "--sot DIR|GIT-URL [--ref REF] [--site ID] --data-dir DIR [--http-addr H:P] [--dhcp-iface IF,…] [--tftp-addr H:P] [--sot-poll DURATION]";
const DESCRIPTION = `Server and agent in one process, one store, one listener: compiles --sot into a release (as vaquero server
stores them), stages its site at once and serves it (HTTP boot scripts, configs, assets and status; releases,
rollouts and tokens behind bearer tokens, the first admin token written to <data-dir>/admin.token; TFTP with the
iPXE builds; DHCP on the named interfaces). New commits of --ref are compiled and staged in-process every
--sot-poll, on a signed push to /postreceive (--webhook-secret-file) or on POST /releases; a rejected commit is
stored with its findings and the last valid release keeps being served. Runs until SIGINT or SIGTERM. Exit 1 when
the SoT is invalid at start, 2 when a flag, the SoT location or a port is wrong.`;

/** The ref standalone compiles when --ref is not given. */
const DEFAULT_REF = "HEAD";

/** Runs `standalone` until a signal; returns the exit code. */
export async function runStandalone(argv: readonly string[], io: Io, flags: FlagSpec[] = STANDALONE_FLAGS): Promise<number> {
  const parsed = parseConfig("standalone", argv, flags, { env: io.env });
  if (parsed.help) {
    io.out(helpText("standalone", SYNOPSIS, DESCRIPTION, flags));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("standalone", StandaloneSchema, parsed);
  const ref = cfg.ref ?? DEFAULT_REF;
  const branch = ref.replace(/^refs\/heads\//, "");
  if (cfg["webhook-secret-file"] && ref === DEFAULT_REF)
    throw usage("--webhook-secret-file needs --ref BRANCH (the branch pushes must name)");
  const secret = cfg["webhook-secret-file"] ? await readSecret(cfg["webhook-secret-file"]) : undefined;
  const log = createLogger({ level: cfg["log-level"], pretty: io.errIsTTY });
  await makeDataDir("standalone", cfg["data-dir"]);
  const stops: (() => Promise<void> | void)[] = [];
  // Listened for from here on: a signal during start-up stops the verb once it has started, cleanly.
  const stop = listenForStop();
  stops.push(() => stop.cancel());
  try {
    // Durable state (releases and their bundles, machines, traces, rollouts, DHCP pool leases, tokens) in the
    // embedded store; a second process on the same data directory is refused here, before anything is served.
    const store = await openLocalStore(cfg["data-dir"], log);
    stops.push(() => store.close());
    // Releases stored after start are staged by the site; the first one is staged below, before serving.
    let site: StandaloneSite | undefined;
    const releaser = createReleaser({
      store,
      sot: cfg.sot,
      ref: branch,
      timeoutMs: cfg.timeout * 1000,
      log,
      onRelease: async (r) => {
        await site?.follow(r);
      },
    });
    stops.push(() => releaser.close());
    const { release: first, duplicate } = await compileAtStart(releaser, cfg.sot);
    if (first.status !== "valid") {
      printFindings(first, io);
      return 1;
    }
    const ids = Object.keys(first.sites).sort();
    const id = cfg.site ?? (ids.length === 1 ? ids[0] : undefined);
    if (id === undefined) throw usage(`the SoT has ${ids.length} sites (${ids.join(", ")}); pick one with --site`);
    if (!first.sites[id]) throw usage(`site "${id}" is not in the SoT; sites: ${ids.join(", ")}`);
    // Control endpoints (rollouts, tokens, releases) behind bearer tokens; the first start writes <data-dir>/admin.token.
    const { tokens, managed } = await prepareTokens({ store, dataDir: cfg["data-dir"], tokensFile: cfg["tokens-file"], log });
    const target = { sot: cfg.sot, branch, ...(cfg["webhook-repo"] ? { repo: cfg["webhook-repo"] } : {}) };
    site = await startSite(
      {
        serve: {
          verb: "standalone",
          cfg,
          store,
          log,
          version: VERSION,
          extend: (app, staged) =>
            app
              .use(
                createControlApp({
                  site: staged,
                  tokens,
                  tokensManaged: managed,
                  log,
                  // changed: true rolls out what the staged release changed on this site.
                  changedHosts: async (s) => (await getRelease(store, s.release.id))?.sites[id]?.hosts_changed,
                }),
              )
              .use(releaseRoutes({ store, releaser, tokens, target, ...(secret ? { webhookSecret: secret } : {}), log })),
        },
        store,
        log,
        env: io.env,
        site: id,
        autoExecute: cfg["auto-execute"] === true,
      },
      first,
      !duplicate,
    );
    const served = site;
    stops.push(() => served.stop());
    if (cfg["sot-poll"]) stops.push(startPoll(releaser, cfg, log));
    log.info(
      { sot: cfg.sot, ref: branch, webhooks: secret !== undefined, auto_execute: cfg["auto-execute"] === true },
      "standalone running",
    );
    await stop.signalled;
    log.info("stopping");
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** The first compile: the ref's tip (a commit compiled before answers with its stored release). */
async function compileAtStart(releaser: Releaser, sot: string): Promise<CompileOutcome> {
  try {
    return await releaser.compile({ trigger: "start" });
  } catch (e) {
    // The SoT cannot be read (path, remote, ref): a configuration or environment error.
    if (isVaqueroError(e)) throw new VaqueroError(e.code, `vaquero standalone: ${e.message}`, { exitCode: 2 });
    throw new VaqueroError("SOT_UNAVAILABLE", `vaquero standalone: cannot read ${sot}: ${describeError(e)}`, { exitCode: 2 });
  }
}

/** The errors of a rejected release, as `vaquero validate` prints them, and what it means. */
function printFindings(r: ReleaseRecord, io: Io): void {
  const errors = r.findings.filter((f) => f.severity === "error");
  for (const f of errors.slice(0, 20)) io.err(`${f.file}:${f.line}:${f.column}: ${f.code} ${f.message}\n`);
  io.err(`vaquero standalone: ${r.source} has ${errors.length} error(s); nothing is served (run vaquero validate)\n`);
}

/** Compiles --ref every --sot-poll (a poll is skipped while a compile runs); returns the stop. */
function startPoll(releaser: Releaser, cfg: StandaloneConfig, log: Logger): () => void {
  const every = Math.max(1, seconds(cfg["sot-poll"] ?? "1m")) * 1000;
  const req: CompileRequest = { trigger: "poll" };
  const timer = setInterval(() => {
    if (releaser.pending > 0) return;
    releaser.compile(req).catch((e: unknown) => log.error({ err: describeError(e), trigger: "poll" }, "compile failed"));
  }, every);
  log.info({ every_s: every / 1000 }, "polling --sot");
  return () => clearInterval(timer);
}

async function readSecret(path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new VaqueroError("WEBHOOK_SECRET", `vaquero standalone: cannot read --webhook-secret-file ${path}: ${e.code ?? e.message}`, {
      exitCode: 2,
    });
  });
  const secret = text.trim();
  if (secret.length < 16)
    throw new VaqueroError("WEBHOOK_SECRET", `vaquero standalone: --webhook-secret-file ${path} holds under 16 characters`, {
      exitCode: 2,
    });
  return secret;
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero standalone: ${msg} (see vaquero standalone --help)`, { exitCode: 2 });
}
