/**
 * The server's leader work (decision 39), for both stores: on the embedded store the one instance is `single` and
 * does everything itself, as before; on etcd it campaigns, and only while it leads does it compile the branch's tip
 * (at each takeover), drain the compile queue, poll `--sot` and finish `--auto-execute` for the latest release. A
 * lost lease aborts the term: the poll timer stops, the drain returns, and a compile in flight cannot store its
 * release (the leader's writes are fenced on the election key).
 */
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import type { ServerRole } from "../../pkg/api/index.ts";
import {
  autoExecute,
  autoExecuteLatest,
  type CompileRequest,
  createReleaser,
  createSubmitter,
  drainQueue,
  type Leadership,
  type LeaderTerm,
  type Readiness,
  type ReleaseRecord,
  type Releaser,
  type SubmitOutcome,
  startLeadership,
} from "../../pkg/control/index.ts";
import { createElection, createSession, type Session } from "../../pkg/coord/index.ts";
import type { Store } from "../../pkg/store/index.ts";

/** What {@link startControl} needs. */
export interface ControlOptions {
  store: Store;
  /** True on etcd: campaign for leadership. */
  ha: boolean;
  /** This instance's name in the election (its address). */
  name: string;
  ttlSeconds: number;
  sot: string;
  branch: string;
  timeoutMs: number;
  /** `--sot-poll` in milliseconds. */
  pollMs?: number;
  autoExecute: boolean;
  log: Logger;
}

/** The control plane's moving parts, as the HTTP app uses them. */
export interface Control {
  releaser: Releaser;
  role(): ServerRole;
  leader(): string | undefined;
  /** Only on etcd (single: `/ready` asks the store). */
  readiness?: () => Readiness;
  submit(r: CompileRequest): Promise<SubmitOutcome>;
  /** Single: the first compile and the poll start (on etcd they start with each term). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Builds the releaser, the leadership (on etcd) and the leader work. */
export function startControl(o: ControlOptions): Control {
  let leadership: Leadership | undefined;
  let term: LeaderTerm | undefined;
  const writeStore = (): Store => leadership?.store ?? o.store;
  const onRelease = o.autoExecute
    ? async (r: ReleaseRecord): Promise<void> => {
        await autoExecute(writeStore(), r, { log: o.log, ...(term ? { signal: term.signal } : {}) });
      }
    : undefined;
  // On etcd the releaser writes through the fenced store, so a deposed leader's publish fails.
  const releaserOf = (store: Store): Releaser =>
    createReleaser({ store, sot: o.sot, ref: o.branch, timeoutMs: o.timeoutMs, log: o.log, ...(onRelease ? { onRelease } : {}) });
  const compile = async (releaser: Releaser, trigger: "start" | "poll"): Promise<void> => {
    try {
      await releaser.compile({ trigger });
    } catch (e) {
      o.log.error({ err: describeError(e), trigger }, "compile failed");
    }
  };
  const poll = (releaser: Releaser, signal?: AbortSignal): (() => void) => {
    if (!o.pollMs) return () => {};
    const timer = setInterval(() => {
      if (releaser.pending === 0 && !signal?.aborted) void compile(releaser, "poll");
    }, o.pollMs);
    o.log.info({ every_s: o.pollMs / 1000 }, "polling --sot");
    const stop = (): void => clearInterval(timer);
    signal?.addEventListener("abort", stop, { once: true });
    return stop;
  };

  if (!o.ha) {
    const releaser = releaserOf(o.store);
    let stopPoll = (): void => {};
    return {
      releaser,
      role: () => "single",
      leader: () => undefined,
      submit: (r) => releaser.compile(r),
      async start() {
        await compile(releaser, "start");
        stopPoll = poll(releaser);
      },
      async stop() {
        stopPoll();
        await releaser.close();
      },
    };
  }

  let releaser: Releaser | undefined;
  const lead = async (t: LeaderTerm, r: Releaser): Promise<void> => {
    term = t;
    await compile(r, "start");
    if (o.autoExecute && !t.signal.aborted) {
      await autoExecuteLatest(writeStore(), o.branch, { log: o.log, signal: t.signal }).catch((e: unknown) => {
        if (!t.signal.aborted) o.log.error({ err: describeError(e) }, "--auto-execute of the latest release failed");
      });
    }
    if (t.signal.aborted) return;
    poll(r, t.signal);
    await drainQueue({ store: writeStore(), releaser: r, signal: t.signal, log: o.log });
  };
  leadership = startLeadership({
    store: o.store,
    coord: { createSession, createElection: (s, prefix) => createElection(s as Session, prefix) },
    ttlSeconds: o.ttlSeconds,
    name: o.name,
    log: o.log,
    onLead: (t) => {
      if (releaser) void lead(t, releaser);
    },
  });
  const l = leadership;
  releaser = releaserOf(l.store);
  const r = releaser;
  const submit = createSubmitter({ store: o.store, releaser: r, isLeader: () => l.role() === "leader", name: o.name });
  return {
    releaser: r,
    role: () => l.role(),
    leader: () => l.leader(),
    readiness: () => l.readiness(),
    submit,
    async start() {},
    async stop() {
      await l.stop();
      await r.close();
    },
  };
}
