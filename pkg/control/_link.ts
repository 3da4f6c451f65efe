/**
 * The server side of the agent link (API.md "Agent link"), without HTTP: agents register, long-poll their site's
 * desired release and commands, download bundles by hash, acknowledge what they staged and hand in their events.
 *
 * Long polls wait on one store watch per site (its `desired` key and `commands/` prefix), started with the first
 * poll of the site; every waiter's deadline is checked by one shared sweep timer, so ten thousand agents polling at
 * once cost ten thousand promises, not ten thousand timers. Events are stored once per (agent, seq): the site
 * keeps, per agent, the highest contiguous seq stored, and only the run right after it is written.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodeJson, encodeJson, MAX_TXN_OPS, type Store, type TxnOp, type Watch } from "../store/index.ts";
import { commandsAfter, commandsPrefix, type SiteCommand, sitePrefix } from "./_commands.ts";

/** A site's desired release (written by `POST /prepare`). */
export interface LinkDesired {
  release: string;
  bundle: string;
  staged_at: string;
  by?: string;
}

/** An agent as the fleet view shows it. */
export interface LinkAgentRecord {
  name: string;
  version: string;
  last_seen: string;
  staged?: string;
  active?: string;
  address?: string;
}

/** One entry of an agent's outbox: an engine change, numbered by the agent. */
export interface LinkEntry {
  seq: number;
  at: string;
  kind: "event" | "machine" | "rollout";
  mac?: string;
  event?: Record<string, unknown>;
  machine?: { mac: string } & Record<string, unknown>;
  rollout?: { id: string } & Record<string, unknown>;
}

/** What the desired poll answers. */
export interface PollAnswer {
  release?: string;
  bundle?: string;
  staged_at?: string;
  commands: SiteCommand[];
}

/** Most entries one `POST /v1/agent/events` may carry. */
export const MAX_EVENTS_PER_BATCH = 1000;
/** Longest long poll. */
export const MAX_WAIT_MS = 60_000;

/** The server-side keys of the agent link (docs/decisions.md, the control plane's store layout). */
export const LINK_KEYS = {
  desired: (site: string): string => `${sitePrefix(site)}desired`,
  agent: (site: string, name: string): string => `${sitePrefix(site)}agents/${name}`,
  event: (site: string, agent: string, seq: number): string => `${sitePrefix(site)}events/${agent}/${String(seq).padStart(12, "0")}`,
  /** The highest contiguous seq stored of an agent's events. */
  eventMark: (site: string, agent: string): string => `${sitePrefix(site)}events-acked/${agent}`,
  machine: (site: string, mac: string): string => `${sitePrefix(site)}machines/${mac}`,
  rollout: (site: string, id: string): string => `${sitePrefix(site)}rollouts/${id}`,
  bundle: (sha: string): string => `/vaquero/bundles/${sha}`,
  blob: (digest: string): string => `/vaquero/blobs/sha256/${digest}`,
};
const {
  desired: desiredKey,
  agent: agentKey,
  event: eventKey,
  eventMark: eventMarkKey,
  machine: machineKey,
  rollout: rolloutKey,
} = LINK_KEYS;
const { bundle: bundleKey, blob: blobKey } = LINK_KEYS;

const SHA_RE = /^[0-9a-f]{64}$/;
const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The server side of the link. */
export interface Link {
  register(site: string, a: { name: string; version: string; address?: string }): Promise<{ site: string; desired?: LinkDesired }>;
  /**
   * Answers at once when the site's desired release differs from `after` (API.md: `after=<release>`; a release
   * that leaves this site's bundle unchanged still counts, so every agent learns of it) or commands after
   * `commandsAfter` exist, else at the first change or after `waitMs`.
   */
  poll(site: string, agent: string, after: string | undefined, commandsAfterSeq: number, waitMs: number): Promise<PollAnswer>;
  /** The canonical bytes of bundle `sha` when it is `site`'s desired bundle; undefined otherwise. Checks every digest. */
  bundle(site: string, sha: string): Promise<Uint8Array | undefined>;
  ack(site: string, agent: string, a: { release: string; active?: string }): Promise<void>;
  /** Stores the contiguous run of `entries` after the agent's mark; returns the new mark. */
  ingest(site: string, agent: string, entries: readonly LinkEntry[]): Promise<number>;
  /** How many polls are waiting (metrics, tests). */
  waiting(): number;
  close(): void;
}

interface Waiter {
  deadline: number;
  wake: () => void;
}

/** Options of {@link createLink}. */
export interface LinkOptions {
  store: Store;
  now?: () => number;
  log?: Logger;
  /** Sweep interval of poll deadlines in ms (default 250). */
  sweepMs?: number;
}

/** Creates the server side of the agent link over `store`. */
export function createLink(o: LinkOptions): Link {
  const now = o.now ?? Date.now;
  const iso = (): string => new Date(now()).toISOString();
  const sites = new Map<string, { waiters: Set<Waiter>; watches: Watch[] }>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const wakeAll = (set: Set<Waiter>): void => {
    for (const w of [...set]) w.wake();
  };
  /** The site's watches, started with its first poll; a failed watch wakes everyone (they re-read and re-poll). */
  const hub = (site: string): Set<Waiter> => {
    const known = sites.get(site);
    if (known) return known.waiters;
    const waiters = new Set<Waiter>();
    const watches = [o.store.watch(desiredKey(site)), o.store.watch(commandsPrefix(site))];
    sites.set(site, { waiters, watches });
    for (const w of watches) {
      void (async () => {
        try {
          for await (const _ of w) wakeAll(waiters);
        } catch (e) {
          if (!closed) o.log?.warn({ site, err: String(e) }, "agent link: watch ended; polls answer and agents poll again");
        }
        if (sites.get(site)?.watches.includes(w)) {
          for (const x of sites.get(site)?.watches ?? []) x.cancel();
          sites.delete(site);
        }
        wakeAll(waiters);
      })();
    }
    sweeper ??= setInterval(() => {
      const t = now();
      for (const s of sites.values()) for (const w of s.waiters) if (w.deadline <= t) w.wake();
    }, o.sweepMs ?? 250);
    // The sweep alone never keeps a process alive.
    sweeper.unref?.();
    return waiters;
  };

  const readDesired = async (site: string): Promise<LinkDesired | undefined> => {
    const kv = await o.store.get(desiredKey(site));
    if (!kv) return undefined;
    try {
      return decodeJson<LinkDesired>(kv);
    } catch {
      return undefined;
    }
  };
  const answer = async (site: string, commandsAfterSeq: number): Promise<PollAnswer> => {
    const [d, commands] = await Promise.all([readDesired(site), commandsAfter(o.store, site, commandsAfterSeq)]);
    return { ...(d ? { release: d.release, bundle: d.bundle, staged_at: d.staged_at } : {}), commands };
  };
  const touch = async (site: string, name: string, patch: Partial<LinkAgentRecord>): Promise<void> => {
    const key = agentKey(site, name);
    const kv = await o.store.get(key);
    const prev = kv ? decodeJson<LinkAgentRecord>(kv) : { name, version: "unknown" };
    await o.store.put(key, encodeJson({ ...prev, ...patch, name, last_seen: iso() }));
  };

  return {
    async register(site, a) {
      await touch(site, a.name, { version: a.version, ...(a.address ? { address: a.address } : {}) });
      const desired = await readDesired(site);
      return { site, ...(desired ? { desired } : {}) };
    },
    async poll(site, agent, after, commandsAfterSeq, waitMs) {
      if (closed) throw new VaqueroError("LINK_CLOSED", "the agent link is shutting down");
      await touch(site, agent, {});
      const waiters = hub(site);
      // Registered before the first read: a change between the read and the wait still wakes this poll.
      let woken = false;
      let wake: () => void = () => {
        woken = true;
      };
      const w: Waiter = { deadline: now() + Math.min(Math.max(waitMs, 0), MAX_WAIT_MS), wake: () => wake() };
      waiters.add(w);
      try {
        const first = await answer(site, commandsAfterSeq);
        if (first.release !== after || first.commands.length || waitMs <= 0 || closed) return first;
        if (!woken) await new Promise<void>((resolve) => (wake = resolve));
        return await answer(site, commandsAfterSeq);
      } finally {
        waiters.delete(w);
      }
    },
    async bundle(site, sha) {
      if (!SHA_RE.test(sha)) return undefined;
      const d = await readDesired(site);
      if (d?.bundle !== sha) return undefined;
      const kv = await o.store.get(bundleKey(sha));
      if (!kv) return undefined;
      const m = decodeJson<{ sha256: string; size: number; chunks: string[] }>(kv);
      const parts = await Promise.all(m.chunks.map((c) => o.store.get(blobKey(c))));
      const out = new Uint8Array(m.size);
      let off = 0;
      for (const [i, p] of parts.entries()) {
        if (!p || hex(p.value) !== m.chunks[i] || off + p.value.length > m.size) {
          throw new VaqueroError("BUNDLE_CORRUPT", `bundle ${sha}: chunk ${i} is missing or corrupt in the store`);
        }
        out.set(p.value, off);
        off += p.value.length;
      }
      if (off !== m.size || hex(out) !== sha) throw new VaqueroError("BUNDLE_CORRUPT", `bundle ${sha}: its bytes do not match its name`);
      return out;
    },
    async ack(site, agent, a) {
      await touch(site, agent, { staged: a.release, ...(a.active ? { active: a.active } : {}) });
    },
    async ingest(site, agent, entries) {
      const markKey = eventMarkKey(site, agent);
      const markKv = await o.store.get(markKey);
      const mark = markKv ? Number(new TextDecoder().decode(markKv.value)) || 0 : 0;
      const bySeq = new Map<number, LinkEntry>();
      for (const e of entries) if (e.seq > mark) bySeq.set(e.seq, e);
      const run: LinkEntry[] = [];
      for (let s = mark + 1; bySeq.has(s); s++) run.push(bySeq.get(s) as LinkEntry);
      if (run.length === 0) return mark;
      const ops: TxnOp[] = [];
      const latestMachine = new Map<string, LinkEntry["machine"]>();
      const latestRollout = new Map<string, LinkEntry["rollout"]>();
      for (const e of run) {
        ops.push({ put: { key: eventKey(site, agent, e.seq), value: encodeJson(e) } });
        if (e.kind === "machine" && e.machine && MAC_RE.test(e.machine.mac)) latestMachine.set(e.machine.mac, e.machine);
        if (e.kind === "rollout" && e.rollout && ID_RE.test(e.rollout.id)) latestRollout.set(e.rollout.id, e.rollout);
      }
      for (const [mac, m] of latestMachine) ops.push({ put: { key: machineKey(site, mac), value: encodeJson({ ...m, agent }) } });
      for (const [id, r] of latestRollout) ops.push({ put: { key: rolloutKey(site, id), value: encodeJson({ ...r, site, agent }) } });
      // The records first, in transactions of MAX_TXN_OPS; the mark last, only if no other request moved it. A
      // request that dies in between leaves records the retry writes again, byte for byte, under the same keys.
      for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await o.store.txn({ compare: [], success: ops.slice(i, i + MAX_TXN_OPS) });
      const last = run[run.length - 1]?.seq ?? mark;
      const t = await o.store.txn({
        compare: [
          markKv
            ? { key: markKey, target: "modRevision", op: "=", value: markKv.modRevision }
            : { key: markKey, target: "version", op: "=", value: 0 },
        ],
        success: [{ put: { key: markKey, value: String(last) } }],
        failure: [{ get: markKey }],
      });
      if (t.succeeded) return last;
      const other = t.results[0];
      const kv = other && "get" in other ? other.get : undefined;
      return kv ? Number(new TextDecoder().decode(kv.value)) || 0 : mark;
    },
    waiting: () => [...sites.values()].reduce((n, s) => n + s.waiters.size, 0),
    close() {
      closed = true;
      if (sweeper) clearInterval(sweeper);
      for (const s of sites.values()) {
        for (const w of s.watches) w.cancel();
        wakeAll(s.waiters);
      }
      sites.clear();
    },
  };
}

const hex = (b: Uint8Array): string => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** Validates one outbox entry off the wire; returns the reason it is refused, or undefined. */
export function entryProblem(e: unknown, i: number): string | undefined {
  if (typeof e !== "object" || e === null || Array.isArray(e)) return `entry ${i} is not an object`;
  const x = e as Record<string, unknown>;
  if (typeof x.seq !== "number" || !Number.isSafeInteger(x.seq) || x.seq < 1) return `entry ${i}: seq must be a positive integer`;
  if (typeof x.at !== "string" || x.at.length > 64) return `entry ${i}: at must be an ISO time`;
  if (x.kind !== "event" && x.kind !== "machine" && x.kind !== "rollout") return `entry ${i}: kind must be event, machine or rollout`;
  const rec = x[x.kind];
  if (typeof rec !== "object" || rec === null) return `entry ${i}: a ${x.kind} entry needs its ${x.kind} object`;
  return undefined;
}
