/**
 * Leadership among `vaquero server` instances on etcd (decision 39): each instance keeps a pkg/coord session (the
 * lease of `--lease-ttl`) and campaigns under {@link ELECTION_PREFIX}; the one whose key is oldest leads and alone
 * runs leader work (compiles, the compile queue, `--sot-poll`, `--auto-execute`). When its session ends (the lease
 * expired, was revoked, or could not be renewed within its TTL) the term's signal fires at once, the instance is a
 * follower again and campaigns anew on a new session.
 *
 * Writes of leader work go through {@link Leadership.store}: a store whose transactions also compare the election
 * key's create revision, so a deposed leader's late write (a compile that finished after its lease expired) fails
 * with `NOT_LEADER` instead of landing. Every instance also reads the election every `pollMs` to know the leader
 * and whether its store answers; `readiness()` is what `/ready` reports.
 */
import { hostname } from "node:os";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import type { Compare, Store, Txn, TxnResult } from "../store/index.ts";

/** Where servers campaign. */
export const ELECTION_PREFIX = "/vaquero/election/server/";

/** A server's role: `single` on the embedded store; `leader` or `follower` among servers on etcd. */
export type LeaderRole = "leader" | "follower" | "single";

/** One term of leadership, handed to the leader work. */
export interface LeaderTerm {
  /** Fires when the term ends (the lease is lost or the server stops). */
  signal: AbortSignal;
  /** The election key and its create revision (what fenced writes compare). */
  key: string;
  createRevision: number;
}

/** Whether this instance can serve, as `/ready` reports it. */
export type Readiness = { ready: true } | { ready: false; code: "NO_LEADER" | "STORE_UNAVAILABLE"; reason: string };

/** The part of a pkg/coord session leadership uses (pkg/control sits beside pkg/coord, so it is handed in). */
export interface CoordSession {
  readonly done: Promise<{ reason: string }>;
  isDone(): boolean;
  close(): Promise<void>;
}

/** The part of a pkg/coord election leadership uses. */
export interface CoordElection {
  key(): string | undefined;
  campaign(value: string, options?: { signal?: AbortSignal }): Promise<void>;
  resign(): Promise<void>;
}

/** pkg/coord's `createSession` and `createElection`, as the caller wires them. */
export interface Coordination {
  createSession(store: Store, options: { ttlSeconds: number }): Promise<CoordSession>;
  createElection(session: CoordSession, prefix: string): CoordElection;
}

/** Options of {@link startLeadership}. */
export interface LeadershipOptions {
  store: Store;
  /** pkg/coord (`{ createSession, createElection }`). */
  coord: Coordination;
  /** The lease TTL in seconds (`--lease-ttl`). */
  ttlSeconds: number;
  /** What this instance is called in the election (its address). */
  name: string;
  log: Logger;
  /** Runs leader work for one term; it must stop when `term.signal` fires. */
  onLead(term: LeaderTerm): void;
  /** How often the election is read (default a quarter of the TTL, at most 500 ms). */
  pollMs?: number;
}

/** The running leadership of one instance. */
export interface Leadership {
  role(): "leader" | "follower";
  /** The current leader's name, as last read (this instance's own name while it leads). */
  leader(): string | undefined;
  readiness(): Readiness;
  /** The store with fenced transactions: a transaction fails with `NOT_LEADER` unless this instance still leads. */
  readonly store: Store;
  /** Ends the term, withdraws and revokes the lease. */
  stop(): Promise<void>;
}

/** Most consecutive session or campaign failures waited out before the back-off stops growing. */
const MAX_BACKOFF_MS = 2000;

/** The name an instance campaigns with: its listen address, the host name in place of a wildcard address. */
export function leaderName(host: string, port: number): string {
  const h = host === "0.0.0.0" || host === "::" || host === "" ? hostname() : host;
  return `${h}:${port}`;
}

/** `NOT_LEADER`: leader work attempted by an instance that does not (or no longer) lead. */
export function notLeader(what: string): VaqueroError {
  return new VaqueroError("NOT_LEADER", `${what}: this server is not the leader`);
}

/** Starts campaigning; returns at once (the first term starts in the background). */
export function startLeadership(o: LeadershipOptions): Leadership {
  const pollMs = o.pollMs ?? Math.min(500, Math.max(50, Math.floor((o.ttlSeconds * 1000) / 4)));
  const stopping = new AbortController();
  let term: (LeaderTerm & { end: AbortController }) | undefined;
  let session: CoordSession | undefined;
  let seen: { leader?: string; at: number; error?: string } = { at: 0, error: "the election has not been read yet" };

  const fencedTxn = async (t: Txn): Promise<TxnResult> => {
    const mine = term;
    if (!mine || mine.signal.aborted) throw notLeader("write");
    const fence: Compare = { key: mine.key, target: "createRevision", op: "=", value: mine.createRevision };
    const r = await o.store.txn({ ...t, compare: [...t.compare, fence] });
    if (r.succeeded) return r;
    // The transaction's own compares failed, or the fence did: only the latter is the caller's business.
    const kv = await o.store.get(mine.key);
    if (kv?.createRevision !== mine.createRevision) {
      mine.end.abort();
      throw notLeader("write");
    }
    return r;
  };
  const store: Store = new Proxy(o.store, {
    get(target, prop, receiver) {
      if (prop === "txn") return fencedTxn;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });

  const poll = async (): Promise<void> => {
    for (let i = 0; i < Number.MAX_SAFE_INTEGER && !stopping.signal.aborted; i++) {
      try {
        const r = await withTimeout(o.store.range(ELECTION_PREFIX), Math.max(pollMs * 2, o.ttlSeconds * 1000));
        const first = [...r.kvs].sort((a, b) => a.createRevision - b.createRevision)[0];
        seen = { ...(first ? { leader: new TextDecoder().decode(first.value) } : {}), at: Date.now() };
      } catch (e) {
        seen = { ...seen, error: describeError(e).slice(0, 200) };
      }
      await sleep(pollMs, stopping.signal);
    }
  };

  const campaign = async (): Promise<void> => {
    let backoff = 100;
    for (let round = 0; round < Number.MAX_SAFE_INTEGER && !stopping.signal.aborted; round++) {
      let s: CoordSession;
      try {
        s = await o.coord.createSession(o.store, { ttlSeconds: o.ttlSeconds });
      } catch (e) {
        o.log.warn({ err: describeError(e) }, "leader election: no session (store unreachable?)");
        await sleep(backoff, stopping.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      session = s;
      const election = o.coord.createElection(s, ELECTION_PREFIX);
      const lost = new AbortController();
      void s.done.then(() => lost.abort());
      const quit = (): void => lost.abort();
      stopping.signal.addEventListener("abort", quit, { once: true });
      try {
        await election.campaign(o.name, { signal: lost.signal });
        const key = election.key();
        const kv = key ? await o.store.get(key) : undefined;
        if (!key || !kv || s.isDone()) throw notLeader("campaign");
        backoff = 100;
        const end = new AbortController();
        const signal = AbortSignal.any([end.signal, lost.signal]);
        term = { key, createRevision: kv.createRevision, signal, end };
        o.log.info({ name: o.name, key, ttl_s: o.ttlSeconds }, "leader: this server leads");
        o.onLead(term);
        await new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true })));
        term = undefined;
        const why = s.isDone() ? (await s.done).reason : stopping.signal.aborted ? "stopping" : "deposed";
        o.log.warn({ name: o.name, why }, "leader: leadership lost; leader work stopped");
      } catch (e) {
        if (!stopping.signal.aborted) o.log.warn({ err: describeError(e) }, "leader election: campaign ended");
        await sleep(backoff, stopping.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      } finally {
        term?.end.abort();
        term = undefined;
        stopping.signal.removeEventListener("abort", quit);
        await election.resign().catch(() => {});
        await s.close().catch(() => {});
      }
    }
  };

  /** In a term whose lease is still good by the clock (a busy thread's late timers do not count). */
  const leading = (): boolean => {
    if (!term || term.signal.aborted) return false;
    if (session?.isDone()) {
      term.end.abort();
      return false;
    }
    return true;
  };
  const polling = poll();
  const campaigning = campaign();
  return {
    role: () => (leading() ? "leader" : "follower"),
    leader: () => (leading() ? o.name : seen.leader),
    readiness(): Readiness {
      if (leading()) return { ready: true };
      const stale = Date.now() - seen.at > Math.max(pollMs * 4, o.ttlSeconds * 1000);
      if (stale) return { ready: false, code: "STORE_UNAVAILABLE", reason: `the store does not answer: ${seen.error ?? "no answer"}` };
      if (!seen.leader) return { ready: false, code: "NO_LEADER", reason: "no server leads (an election is under way)" };
      return { ready: true };
    },
    store,
    async stop() {
      stopping.abort();
      term?.end.abort();
      await session?.close().catch(() => {});
      await Promise.all([polling, campaigning]);
    },
  };
}

/** Resolves after `ms`, or at once when `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `p`, or a rejection after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
