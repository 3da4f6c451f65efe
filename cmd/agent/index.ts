/**
 * `vaquero agent`: one datacenter. Opens its embedded store in --data-dir, serves its last staged bundle at once
 * (DHCP, TFTP, HTTP boots, the state engine with power control), then registers with --server and follows its
 * site's desired release and commands; every engine change goes to the server through the persisted outbox.
 * Wiring only: build in order, start, wait for SIGINT/SIGTERM, stop.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import { createLogger, type Logger } from "../../internal/log/index.ts";
import { NAME_RE, type StagedSite, stageSite } from "../../pkg/api/index.ts";
import { createLinkClient, type LinkEntry, type LinkTls, type Outbox, openOutbox, type SiteCommand } from "../../pkg/control/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";
import type { EngineChange } from "../../pkg/state/index.ts";
import type { Store } from "../../pkg/store/index.ts";
import { makeDataDir, openLocalStore } from "../common/data.ts";
import { VERSION } from "../common/index.ts";
import { powerOf, type SiteServer, serveSite } from "../common/serve.ts";
import { listenForStop } from "../common/signals.ts";
import { pairMissing, readPemCertificates, readTlsPair } from "../common/tls.ts";
import { AGENT_FLAGS, type AgentConfig, AgentSchema } from "./_flags.ts";
import { loadStaged, parseBundle, recordStaged, type StagedRecord, writeBundleFile } from "./_staged.ts";
import { rejectedRollout, startSync } from "./_sync.ts";

export { AGENT_FLAGS } from "./_flags.ts";

const SYNOPSIS =
  "--server URL --site ID --token-file FILE --data-dir DIR [--ca-file FILE] [--tls-cert FILE --tls-key FILE] [--name NAME] [--http-addr H:P] [--dhcp-iface IF,…] [--tftp-addr H:P] [--ipxe-dir DIR]";
const DESCRIPTION = `One datacenter: DHCP, TFTP, HTTP boot and assets, IPMI lifecycle and the state engine of --site, staged by
the control plane at --server (agent token in --token-file). Serves its last staged bundle when the server is
unreachable, keeps running its rollouts, and hands in every event once the server answers again. Runs until SIGINT
or SIGTERM. Over https, --ca-file trusts a private CA for the server's certificate and --tls-cert/--tls-key are the
client certificate a server with mutual TLS asks for. Exit 2 when a flag, the token file, a TLS file or a port is
wrong.`;

/** Runs `agent` until a signal; returns the exit code. */
export async function runAgent(argv: readonly string[], io: Io, flags: FlagSpec[] = AGENT_FLAGS): Promise<number> {
  const parsed = parseConfig("agent", argv, flags, { env: io.env });
  if (parsed.help) {
    io.out(helpText("agent", SYNOPSIS, DESCRIPTION, flags));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("agent", AgentSchema, parsed);
  const token = (
    await readFile(cfg["token-file"], "utf8").catch((e: NodeJS.ErrnoException) => {
      throw usage(`cannot read --token-file ${cfg["token-file"]}: ${e.code ?? e.message}`);
    })
  ).trim();
  if (!token) throw usage(`--token-file ${cfg["token-file"]} is empty`);
  const tls = await clientTls(cfg);
  const name = cfg.name ?? defaultName();
  const log = createLogger({ level: cfg["log-level"], pretty: io.errIsTTY });
  await makeDataDir("agent", cfg["data-dir"]);
  const stops: (() => Promise<void> | void)[] = [];
  // Listened for from here on: a signal during start-up stops the verb once it has started, cleanly.
  const stop = listenForStop();
  stops.push(() => stop.cancel());
  try {
    const store = await openLocalStore(cfg["data-dir"], log);
    stops.push(() => store.close());
    const abort = new AbortController();
    stops.push(() => abort.abort());
    const client = createLinkClient({
      server: cfg.server,
      token,
      site: cfg.site,
      name,
      version: VERSION,
      signal: abort.signal,
      ...(tls ? { tls } : {}),
    });
    const outbox = await openOutbox({ store, send: (entries) => client.events(entries), log });
    stops.push(() => outbox.stop());
    const agent = await createAgentSite({ cfg, store, log, env: io.env, outbox });
    stops.push(() => agent.stop());
    outbox.start();
    const sync = await startSync({
      client,
      store,
      log,
      staged: () => agent.record(),
      switchTo: (want) => agent.switchTo(want, (sha) => client.bundle(sha)),
      relabel: (want) => agent.relabel(want),
      engine: () => {
        const s = agent.server.current();
        return s ? { engine: s.engine, hosts: s.bundle.hosts.filter((h) => !h.never_provision).map((h) => h.name) } : undefined;
      },
      rejected: (cmd: SiteCommand, reason: string) =>
        outbox.push({ kind: "rollout", rollout: rejectedRollout(cmd, reason, new Date().toISOString()) as LinkEntry["rollout"] & {} }),
      pollWaitSeconds: cfg["poll-wait"],
    });
    stops.push(() => sync.stop());
    log.info({ server: cfg.server, site: cfg.site, name }, "agent running");
    await stop.signalled;
    log.info("stopping");
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

/** The site this agent serves, switched when a new bundle is staged. */
interface AgentSite {
  server: SiteServer;
  record(): StagedRecord | undefined;
  switchTo(want: StagedRecord, download: (sha: string) => Promise<Uint8Array>): Promise<void>;
  relabel(want: StagedRecord): Promise<void>;
  stop(): Promise<void>;
}

async function createAgentSite(o: {
  cfg: AgentConfig;
  store: Store;
  log: Logger;
  env: Record<string, string | undefined>;
  outbox: Outbox;
}): Promise<AgentSite> {
  const { cfg, store, log, outbox } = o;
  // Engine changes go to the outbox; rollouts carry the server's ids (the engine takes them from the commands).
  const observe = (c: EngineChange): void => {
    if (c.kind === "rollout") {
      outbox.push({ kind: "rollout", rollout: c.rollout as unknown as LinkEntry["rollout"] & {} });
    } else if (c.kind === "machine") {
      outbox.push({ kind: "machine", machine: c.machine as unknown as LinkEntry["machine"] & {} });
    } else {
      outbox.push({ kind: "event", mac: c.mac, event: c.event as unknown as Record<string, unknown> });
    }
  };
  let power: ReturnType<typeof powerOf> | undefined;
  let record: StagedRecord | undefined;
  const stage = async (bundle: Bundle, r: StagedRecord): Promise<StagedSite> => {
    power = powerOf(bundle, o.env);
    const s = stageSite(bundle, r.release, () => new Date(), { store, power: power.power, log, tickMs: 1000, observe });
    await s.engine.start();
    return s;
  };
  const last = await loadStaged(store, cfg["data-dir"], cfg.site);
  let first: StagedSite | undefined;
  if (last && "bundle" in last) {
    first = await stage(last.bundle, last.record);
    record = last.record;
    log.info({ release: last.record.release, bundle: last.record.bundle }, "serving the last staged bundle");
  } else if (last)
    log.error({ bundle: last.record.bundle, err: last.error }, "the last staged bundle cannot be read; waiting for the server");
  const server = await serveSite({ verb: "agent", cfg, store, log, version: VERSION, ...(first ? { staged: first } : {}) });
  return {
    server,
    record: () => record,
    async switchTo(want, download) {
      let bundle: Bundle;
      let bytes: Uint8Array;
      try {
        bytes = await download(want.bundle);
        bundle = parseBundle(bytes, want.bundle, cfg.site);
      } catch (e) {
        log.error(
          { release: want.release, bundle: want.bundle, err: describeError(e), kept: record?.release },
          "bundle refused; serving the one staged",
        );
        throw e;
      }
      await writeBundleFile(cfg["data-dir"], want.bundle, bytes);
      await recordStaged(store, want);
      // The engine serves the new release without stopping: machines keep their states, rollouts and power
      // sequences in flight go on. The previous BMC sessions are closed once those have had time to finish.
      const old = server.current();
      const oldPower = power;
      let next: StagedSite;
      if (old) {
        power = powerOf(bundle, o.env);
        next = stageSite(bundle, want.release, () => new Date(), { engine: old.engine, power: power.power });
      } else next = await stage(bundle, want);
      await server.switchTo(next);
      if (oldPower) setTimeout(() => void oldPower.close(), 120_000).unref();
      record = want;
      log.info({ release: want.release, bundle: want.bundle, previous: old?.release.id }, "staged");
    },
    async relabel(want) {
      await recordStaged(store, want);
      record = want;
      log.info({ release: want.release, bundle: want.bundle }, "staged (this site's bundle is unchanged)");
    },
    async stop() {
      await server.stop();
      await server.current()?.engine.stop();
      await power?.close();
    },
  };
}

/**
 * The link client's TLS from --ca-file, --tls-cert and --tls-key: files read and checked now (exit 2 naming the
 * file), undefined when none is given. They need an https --server.
 */
async function clientTls(cfg: AgentConfig): Promise<LinkTls | undefined> {
  const missing = pairMissing({ cert: cfg["tls-cert"], key: cfg["tls-key"] });
  if (missing) throw usage(missing);
  const given = cfg["ca-file"] !== undefined || cfg["tls-cert"] !== undefined;
  if (!given) return undefined;
  if (!cfg.server.startsWith("https://")) throw usage("--ca-file, --tls-cert and --tls-key need an https:// --server");
  const ca = cfg["ca-file"] !== undefined ? await readPemCertificates("agent", "--ca-file", cfg["ca-file"]) : undefined;
  const cert = cfg["tls-cert"];
  const key = cfg["tls-key"];
  const pair = cert !== undefined && key !== undefined ? await readTlsPair("agent", { cert, key }) : undefined;
  return { ...(ca ? { ca } : {}), ...pair };
}

function defaultName(): string {
  const h = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, "-")
    .slice(0, 63);
  return NAME_RE.test(h) ? h : "agent";
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero agent: ${msg} (see vaquero agent --help)`, { exitCode: 2 });
}
