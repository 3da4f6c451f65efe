/**
 * The agent's event outbox over its embedded store: every engine change gets the next seq and is written under
 * `/vaquero/agent/outbox/<seq, 12 digits>` (in the order told, in the background, like the engine's own writer);
 * a sender posts what is stored, oldest first, in batches, and deletes entries once the server acknowledged them.
 * While the server is unreachable it backs off exponentially with jitter; after a reconnect, or the agent's own
 * restart, it replays from the oldest unacknowledged entry. The seq only ever grows (the last acknowledged seq is
 * kept too), so the server, which stores each (agent, seq) once, never sees a duplicate as new.
 */
import type { Logger } from "../../internal/log/index.ts";
import { decodeJson, encodeJson, MAX_TXN_OPS, type Store, type TxnOp } from "../store/index.ts";
import type { LinkEntry } from "./_link.ts";

/** Where the outbox lives in the agent's store. */
export const OUTBOX_PREFIX = "/vaquero/agent/outbox/";
/** The highest seq written to the outbox. */
export const OUTBOX_LAST_KEY = "/vaquero/agent/outbox-last";
/** The highest seq the server acknowledged. */
export const OUTBOX_ACKED_KEY = "/vaquero/agent/outbox-acked";

const key = (seq: number): string => `${OUTBOX_PREFIX}${String(seq).padStart(12, "0")}`;
/** The first key after every outbox entry. */
const END = `${OUTBOX_PREFIX.slice(0, -1)}0`;
/** Most entries looked at when the outbox opens or counts (a bound on every scan). */
const MAX_PENDING = 10_000_000;

/** Posts a batch; resolves with the highest contiguous seq the server has stored. Rejects while unreachable. */
export type OutboxTransport = (entries: LinkEntry[]) => Promise<{ acked: number }>;

/** Options of {@link openOutbox}. */
export interface OutboxOptions {
  store: Store;
  send: OutboxTransport;
  log?: Logger;
  now?: () => number;
  /** Entries per POST (default and most: 1000). */
  batch?: number;
  /** Back-off after a failed send: starts at `minBackoffMs` (250), doubles up to `maxBackoffMs` (30 000), ±50 % jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Random in [0, 1) for the jitter (tests pass a fixed one). */
  random?: () => number;
  /** Waits `ms` or until woken (tests make it instant). */
  sleep?: (ms: number, wake: Promise<void>) => Promise<void>;
}

/** The outbox. */
export interface Outbox {
  /** Numbers and queues an entry (synchronously; written in the background). */
  push(entry: Omit<LinkEntry, "seq" | "at"> & { at?: string }): number;
  /** Resolves once every entry pushed so far is written to the store. */
  flush(): Promise<void>;
  /** Starts the sender. */
  start(): void;
  /** Stops the sender and waits for the writer. */
  stop(): Promise<void>;
  /** Sends until nothing stored is left or a send fails; returns how many were acknowledged (tests, shutdown). */
  drain(): Promise<number>;
  /** Stored entries not yet acknowledged, and the last acknowledged seq. */
  stats(): Promise<{ pending: number; acked: number; next: number }>;
}

/** Opens the outbox of `o.store`: continues the seq after the highest stored or acknowledged one. */
export async function openOutbox(o: OutboxOptions): Promise<Outbox> {
  const now = o.now ?? Date.now;
  const batch = Math.min(Math.max(o.batch ?? 1000, 1), 1000);
  const random = o.random ?? Math.random;
  const sleep =
    o.sleep ?? ((ms: number, wake: Promise<void>) => Promise.race([wake, new Promise<void>((r) => setTimeout(r, ms).unref?.())]));
  const ackedKv = await o.store.get(OUTBOX_ACKED_KEY);
  let acked = ackedKv ? Number(new TextDecoder().decode(ackedKv.value)) || 0 : 0;
  // The seq goes on after the highest entry ever written (kept beside the entries), never below the mark.
  const lastKv = await o.store.get(OUTBOX_LAST_KEY);
  let next = Math.max(acked, lastKv ? Number(new TextDecoder().decode(lastKv.value)) || 0 : 0) + 1;

  let queue: LinkEntry[] = [];
  let writing: Promise<void> = Promise.resolve();
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wakeUp: () => void = () => {};
  let wakeP = new Promise<void>((r) => (wakeUp = r));
  let stopWake: () => void = () => {};
  const stopP = new Promise<void>((r) => (stopWake = r));
  const wake = (): void => {
    wakeUp();
    wakeP = new Promise<void>((r) => (wakeUp = r));
  };

  const write = (): void => {
    writing = writing.then(async () => {
      const take = queue;
      queue = [];
      if (!take.length) return;
      for (let i = 0; i < take.length; i += MAX_TXN_OPS - 1) {
        const part = take.slice(i, i + MAX_TXN_OPS - 1);
        const ops: TxnOp[] = part.map((e) => ({ put: { key: key(e.seq), value: encodeJson(e) } }));
        ops.push({ put: { key: OUTBOX_LAST_KEY, value: String(part[part.length - 1]?.seq ?? 0) } });
        try {
          await o.store.txn({ compare: [], success: ops });
        } catch (e) {
          o.log?.error({ err: String(e), from: take[i]?.seq }, "outbox: entries not stored; they are lost");
        }
      }
      wake();
    });
  };

  /** One batch: read, send, delete what was acknowledged. Returns how many were acknowledged, or undefined when nothing is stored. */
  const sendOnce = async (): Promise<number | undefined> => {
    const r = await o.store.range({ start: key(acked + 1), end: END }, { limit: batch });
    if (!r.kvs.length) return undefined;
    const entries = r.kvs.map((kv) => decodeJson<LinkEntry>(kv));
    const res = await o.send(entries);
    const upTo = Math.min(res.acked, entries[entries.length - 1]?.seq ?? acked);
    if (upTo <= acked) {
      // The server stored none of them: a gap it cannot fill (its mark is behind ours only if its store was reset).
      if (res.acked < acked) o.log?.warn({ server: res.acked, ours: acked }, "outbox: the server's mark is behind ours; it starts again");
      return 0;
    }
    const n = upTo - acked;
    await o.store.txn({
      compare: [],
      success: [{ delete: { start: key(acked + 1), end: key(upTo + 1) } }, { put: { key: OUTBOX_ACKED_KEY, value: String(upTo) } }],
    });
    acked = upTo;
    return n;
  };

  const run = async (): Promise<void> => {
    let backoff = o.minBackoffMs ?? 250;
    let failures = 0;
    while (!stopped) {
      let n: number | undefined;
      try {
        n = await sendOnce();
        if (failures) o.log?.info({ after: failures }, "outbox: the server is reachable again; replaying");
        failures = 0;
        backoff = o.minBackoffMs ?? 250;
      } catch (e) {
        failures++;
        if (failures === 1 || failures % 20 === 0)
          o.log?.warn({ err: String(e), failures }, "outbox: cannot reach the server; events are kept");
        const jittered = backoff * (0.5 + random());
        backoff = Math.min(backoff * 2, o.maxBackoffMs ?? 30_000);
        await sleep(jittered, stopP);
        continue;
      }
      if (n === undefined || n === 0) await sleep(n === 0 ? backoff : 60_000, wakeP);
    }
  };

  return {
    push(entry) {
      const e = { ...entry, seq: next++, at: entry.at ?? new Date(now()).toISOString() } as LinkEntry;
      queue.push(e);
      if (queue.length === 1) write();
      return e.seq;
    },
    flush: async () => {
      await writing;
    },
    start() {
      if (!stopped) return;
      stopped = false;
      loop = run();
    },
    async stop() {
      stopped = true;
      wake();
      stopWake();
      await writing;
      await loop?.catch(() => {});
    },
    async drain() {
      await writing;
      let total = 0;
      for (let i = 0; i < MAX_PENDING; i++) {
        const n = await sendOnce();
        if (!n) break;
        total += n;
      }
      return total;
    },
    async stats() {
      await writing;
      const r = await o.store.range({ start: key(acked + 1), end: END }, { limit: MAX_PENDING });
      return { pending: r.kvs.length, acked, next };
    },
  };
}
