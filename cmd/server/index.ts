/**
 * `vaquero server`: the control plane. Opens its store (the embedded one under --data-dir, or etcd with
 * --etcd-endpoints), prepares the tokens (the first admin token into <data-dir>/admin.token), compiles the
 * branch's tip once at start, and serves webhooks, releases, /prepare, tokens and the fleet's status; with
 * --sot-poll it also compiles new commits on a timer. On etcd several instances run: one leader (elected with a
 * lease of --lease-ttl) does the compiles, the poll and --auto-execute; the others queue compiles for it and serve
 * reads, agents and site commands (cmd/server/_ha.ts). Wiring only: build in order, start, wait for SIGINT or
 * SIGTERM, stop.
 */
import { readFile } from "node:fs/promises";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { VaqueroError } from "../../internal/errors/index.ts";
import { createLogger } from "../../internal/log/index.ts";
import { createAgentLinkApp, createServerApp, prepareTokens, withClientIp } from "../../pkg/api/index.ts";
import { leaderName } from "../../pkg/control/index.ts";
import { openEtcdStore, type Store } from "../../pkg/store/index.ts";
import { makeDataDir, openLocalStore } from "../common/data.ts";
import { VERSION } from "../common/index.ts";
import { listenForStop } from "../common/signals.ts";
import { SERVER_FLAGS, ServerSchema, seconds, splitHostPort } from "./_flags.ts";
import { checkTlsFlags, loadServerTls, tlsMode } from "./_flags_tls.ts";
import { startControl } from "./_ha.ts";

export { SERVER_FLAGS } from "./_flags.ts";

const SYNOPSIS = "--sot GIT-URL|DIR [--ref BRANCH] --data-dir DIR [--http-addr H:P] [--etcd-endpoints URL,…] [--lease-ttl 2s]";
const DESCRIPTION = `The control plane: compiles the branch --ref of --sot on every signed push to /postreceive (and every
--sot-poll), stores each commit's release (a bundle per site, the hosts each one changes), stages releases on sites
with POST /prepare, and shows the fleet at /status. With --etcd-endpoints several servers share one etcd: one
leader (a lease of --lease-ttl) compiles and rolls out, the others queue compiles for it (202 {queued}) and serve
reads and agents; /ready tells a load balancer which can serve. --tls-cert/--tls-key serve HTTPS; --client-ca adds
mutual TLS (every client needs a certificate signed by that CA, and its token as before). Tokens as standalone: the
first admin token is written to <data-dir>/admin.token. Runs until SIGINT or SIGTERM. Exit 2 when a flag, the SoT
location, a TLS file, the store or the port is wrong.`;

/** Runs `server` until a signal; returns the exit code. */
export async function runServer(argv: readonly string[], io: Io, flags: FlagSpec[] = SERVER_FLAGS): Promise<number> {
  const parsed = parseConfig("server", argv, flags, { env: io.env });
  if (parsed.help) {
    io.out(helpText("server", SYNOPSIS, DESCRIPTION, flags));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("server", ServerSchema, parsed);
  checkTlsFlags(cfg);
  const branch = cfg.ref.replace(/^refs\/heads\//, "");
  const log = createLogger({ level: cfg["log-level"], pretty: io.errIsTTY });
  await makeDataDir("server", cfg["data-dir"]);
  const ttl = seconds(cfg["lease-ttl"]);
  if (ttl < 1) throw usage("--lease-ttl must be at least 1s");
  const secret = cfg["webhook-secret-file"] ? await readSecret(cfg["webhook-secret-file"]) : undefined;
  const tls = await loadServerTls(cfg);
  const stops: (() => Promise<void> | void)[] = [];
  // Listened for from here on: a signal during start-up stops the verb once it has started, cleanly.
  const stop = listenForStop();
  stops.push(() => stop.cancel());
  try {
    const store: Store = cfg["etcd-endpoints"]?.length
      ? await openEtcdStore({ endpoints: cfg["etcd-endpoints"] })
      : await openLocalStore(cfg["data-dir"], log);
    stops.push(() => store.close());
    const { tokens, managed } = await prepareTokens({ store, dataDir: cfg["data-dir"], tokensFile: cfg["tokens-file"], log });
    const ha = Boolean(cfg["etcd-endpoints"]?.length);
    const http = splitHostPort(cfg["http-addr"]);
    const control = startControl({
      store,
      ha,
      name: leaderName(http.host, http.port),
      ttlSeconds: ttl,
      sot: cfg.sot,
      branch,
      timeoutMs: cfg.timeout * 1000,
      ...(cfg["sot-poll"] ? { pollMs: Math.max(1, seconds(cfg["sot-poll"])) * 1000 } : {}),
      autoExecute: cfg["auto-execute"] === true,
      log,
    });
    stops.push(() => control.stop());
    const app = createServerApp({
      store,
      releaser: control.releaser,
      tokens,
      tokensManaged: managed,
      target: { sot: cfg.sot, branch, ...(cfg["webhook-repo"] ? { repo: cfg["webhook-repo"] } : {}) },
      ...(secret ? { webhookSecret: secret } : {}),
      role: control.role,
      leader: control.leader,
      ...(control.readiness ? { readiness: control.readiness } : {}),
      submit: control.submit,
      log,
      version: VERSION,
    });
    // The agent link (/v1/agent/*) and the server-mode rollout endpoints (/execute, /rollouts/<id>…) beside it.
    app.use(createAgentLinkApp({ store, tokens, log }));
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({
        hostname: http.host,
        port: http.port,
        ...(tls ? { tls } : {}),
        maxRequestBodySize: 16 * 1024 * 1024,
        fetch: (req, srv) => app.handle(withClientIp(req, srv.requestIP(req)?.address)),
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      const why =
        code === "EADDRINUSE"
          ? "address in use"
          : code === "EACCES"
            ? "permission denied (a port below 1024 needs root)"
            : (e as Error).message;
      throw new VaqueroError("LISTEN", `vaquero server: cannot serve HTTP on ${cfg["http-addr"]}: ${why}`, { exitCode: 2 });
    }
    stops.push(() => server.stop(true));
    log.info(
      {
        http: `${server.hostname}:${server.port}`,
        tls: tlsMode(tls),
        sot: cfg.sot,
        ref: branch,
        webhooks: secret !== undefined,
        store: ha ? "etcd" : "embedded",
        ...(ha ? { lease_ttl_s: ttl } : {}),
      },
      "serving HTTP",
    );
    // Single: the branch's tip compiled now, then the poll. On etcd both start with each term of leadership.
    await control.start();
    await stop.signalled;
    log.info("stopping");
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero server: ${msg} (see vaquero server --help)`, { exitCode: 2 });
}

async function readSecret(path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new VaqueroError("WEBHOOK_SECRET", `vaquero server: cannot read --webhook-secret-file ${path}: ${e.code ?? e.message}`, {
      exitCode: 2,
    });
  });
  const secret = text.trim();
  if (secret.length < 16)
    throw new VaqueroError("WEBHOOK_SECRET", `vaquero server: --webhook-secret-file ${path} holds under 16 characters`, { exitCode: 2 });
  return secret;
}
