/**
 * The agent's side of the control loop: register, long-poll the site's desired release and commands, switch to a
 * new bundle once it is downloaded, verified and written, acknowledge it, then apply the commands in seq order. The
 * last command applied is persisted (`/vaquero/agent/commands-applied`), so a restart never applies one twice.
 * With the server unreachable the loop backs off (exponential, jittered) and the site keeps being served.
 */
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import type { LinkClient, SiteCommand } from "../../pkg/control/index.ts";
import type { Engine } from "../../pkg/state/index.ts";
import type { Store } from "../../pkg/store/index.ts";
import type { StagedRecord } from "./_staged.ts";

/** The last command seq applied. */
export const APPLIED_KEY = "/vaquero/agent/commands-applied";
/** What the loop drives. */
export interface SyncDeps {
  client: LinkClient;
  store: Store;
  log: Logger;
  /** The staged record now (undefined before the first bundle). */
  staged(): StagedRecord | undefined;
  /** Downloads, verifies, writes and serves `want`; throws when the bundle is refused. */
  switchTo(want: StagedRecord): Promise<void>;
  /** Records `want` as staged when its bundle is the one served already (a release that did not change this site). */
  relabel(want: StagedRecord): Promise<void>;
  /** The engine and the host names of the site served now. */
  engine(): { engine: Engine; hosts: string[] } | undefined;
  /** Reports a command that could not run (a rollout record with state `rejected`). */
  rejected(cmd: SiteCommand, reason: string): void;
  pollWaitSeconds: number;
  random?: () => number;
}

/** The running loop. */
export interface Sync {
  stop(): Promise<void>;
}

/** Starts the loop; it runs until `stop()`. */
export async function startSync(d: SyncDeps): Promise<Sync> {
  const kv = await d.store.get(APPLIED_KEY);
  let applied = kv ? Number(new TextDecoder().decode(kv.value)) || 0 : 0;
  // The release of the last rollout started here (API.md `active`), told to the server with the next ack.
  let active: string | undefined;
  let activeTold = true;
  let stopped = false;
  let wake: () => void = () => {};
  const random = d.random ?? Math.random;

  const apply = async (cmd: SiteCommand): Promise<void> => {
    const site = d.engine();
    if (!site) {
      d.rejected(cmd, "nothing is staged on this agent");
      return;
    }
    const { engine } = site;
    try {
      if (cmd.kind === "execute") {
        const hosts = cmd.hosts ?? site.hosts;
        // The engine takes the server's rollout id, and starting an id it has already started changes nothing:
        // a command applied again after a crash (before its seq was stored) starts no second rollout.
        await engine.startRollout({ hosts, id: cmd.rollout, ...(cmd.policy ? { policy: cmd.policy } : {}) });
        active = d.staged()?.release;
        activeTold = false;
        d.log.info({ rollout: cmd.rollout, hosts: hosts.length, seq: cmd.seq }, "rollout started");
      } else {
        const id = cmd.rollout;
        if (cmd.kind === "pause") await engine.pauseRollout(id);
        else if (cmd.kind === "resume") await engine.resumeRollout(id);
        else await engine.cancelRollout(id);
        d.log.info({ rollout: cmd.rollout, kind: cmd.kind, seq: cmd.seq }, "rollout command applied");
      }
    } catch (e) {
      if (!isVaqueroError(e)) throw e;
      d.log.warn({ rollout: cmd.rollout, kind: cmd.kind, seq: cmd.seq, err: describeError(e) }, "command refused by the engine");
      d.rejected(cmd, describeError(e));
    }
  };

  const loop = async (): Promise<void> => {
    let registered = false;
    let backoff = 500;
    let failures = 0;
    while (!stopped) {
      try {
        if (!registered) {
          await d.client.register();
          registered = true;
          const s = d.staged();
          if (s) await d.client.ack(s.release, active);
          d.log.info({ staged: s?.release }, "registered with the server");
        }
        const a = await d.client.poll(d.staged()?.release, applied, d.pollWaitSeconds);
        if (a.bundle && a.release && a.release !== d.staged()?.release) {
          const want = { release: a.release, bundle: a.bundle, staged_at: a.staged_at ?? new Date().toISOString() };
          // A release that leaves this site's bundle as it is: the same bundle, served under the new release's name.
          if (a.bundle === d.staged()?.bundle) await d.relabel(want);
          else await d.switchTo(want);
          await d.client.ack(a.release);
        }
        // Commands wait for the desired bundle: an execute right after a prepare runs on the new release.
        for (const cmd of [...a.commands].sort((x, y) => x.seq - y.seq)) {
          if (stopped || cmd.seq <= applied) continue;
          await apply(cmd);
          applied = cmd.seq;
          await d.store.put(APPLIED_KEY, String(applied));
        }
        const now = d.staged();
        if (!activeTold && active && now) {
          await d.client.ack(now.release, active);
          activeTold = true;
        }
        if (failures) d.log.info({ after: failures }, "the server answers again");
        failures = 0;
        backoff = 500;
      } catch (e) {
        if (stopped) break;
        failures++;
        // Registered again after any failure: the server may have restarted, and the fleet view learns the agent is back.
        registered = false;
        if (!isVaqueroError(e, "LINK_UNREACHABLE") || failures === 1 || failures % 20 === 0) {
          d.log.warn({ err: describeError(e), code: isVaqueroError(e) ? e.code : undefined, failures }, "agent link: retrying");
        }
        const ms = backoff * (0.5 + random());
        backoff = Math.min(backoff * 2, 30_000);
        await new Promise<void>((r) => {
          const t = setTimeout(r, ms);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    }
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      wake();
      await running.catch(() => {});
    },
  };
}

/** The outbox entry reporting a command the engine refused. */
export function rejectedRollout(cmd: SiteCommand, reason: string, at: string): Record<string, unknown> {
  return { id: cmd.rollout, state: "rejected", reason, created_at: at, command: cmd.seq, hosts: {} };
}
