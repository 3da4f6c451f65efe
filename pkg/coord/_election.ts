/**
 * Elections (private; re-exported by `index.ts`), as etcd's `concurrency.Election`. A candidate writes
 * `<prefix><lease id in hex>` attached to its session's lease; the candidate whose key has the lowest create
 * revision is the leader. Candidates wait in create-revision order, each watching only its predecessor. A leader
 * that dies loses its key when its lease expires (within the TTL) and the next candidate leads.
 */
import { isStoreError } from "../store/index.ts";
import { CoordError } from "./_errors.ts";
import type { Session } from "./_session.ts";
import { byCreation, waitPredecessors } from "./_wait.ts";

/** The current leader. */
export interface Leader {
  /** Its election key. */
  key: string;
  value: string;
  createRevision: number;
}

/** An election under a key prefix, on behalf of one session. */
export interface Election {
  readonly prefix: string;
  /** This candidate's key (set once it campaigned). */
  key(): string | undefined;
  /**
   * Becomes a candidate with `value` and resolves once leader. Rejects with `COORD_SESSION_LOST` when the session
   * ends first, `COORD_ABORTED` when `signal` fires (the candidacy is then withdrawn).
   */
  campaign(value: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Replaces the leader's value (only while leader): `COORD_NOT_HELD` otherwise. */
  proclaim(value: string): Promise<void>;
  /** Withdraws (leader or not); a no-op when not campaigning. */
  resign(): Promise<void>;
  /** The current leader, or undefined when there is none. */
  leader(): Promise<Leader | undefined>;
  /** Each leader in turn (the current one first, then every change), until `signal` fires or the store closes. */
  observe(options?: { signal?: AbortSignal }): AsyncIterable<Leader>;
}

const decoder = new TextDecoder();

/** An election of `prefix` (a trailing `/` is added when missing) for `session`. */
export function createElection(session: Session, prefix: string): Election {
  const pfx = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const myKey = `${pfx}${BigInt(session.lease).toString(16)}`;
  let mine: { key: string; createRevision: number } | undefined;

  const leader = async (): Promise<Leader | undefined> => {
    const first = (await byCreation(session, pfx)).kvs[0];
    return first && { key: first.key, value: decoder.decode(first.value), createRevision: first.createRevision };
  };

  const resign = async (): Promise<void> => {
    const m = mine;
    mine = undefined;
    if (!m) return;
    try {
      await session.store.txn({
        compare: [{ key: m.key, target: "createRevision", op: "=", value: m.createRevision }],
        success: [{ delete: m.key }],
      });
    } catch (e) {
      // A store that is gone cannot hold the key either: it expires with the lease.
      if (!isStoreError(e, "STORE_UNAVAILABLE") && !isStoreError(e, "STORE_CLOSED")) throw e;
    }
  };

  return {
    prefix: pfx,
    key: () => mine?.key,
    async campaign(value, options = {}) {
      if (session.isDone()) throw new CoordError("COORD_SESSION_LOST", `lease ${session.lease} is lost`);
      const t = await session.store.txn({
        compare: [{ key: myKey, target: "createRevision", op: "=", value: 0 }],
        success: [{ put: { key: myKey, value, lease: session.lease } }],
        failure: [{ get: myKey }],
      });
      let createRevision = t.revision;
      if (!t.succeeded) {
        // Campaigning again on the same session keeps the place in the queue, with the new value.
        const got = t.results[0];
        createRevision = got && "get" in got && got.get ? got.get.createRevision : t.revision;
        await session.store.put(myKey, value, { lease: session.lease });
      }
      mine = { key: myKey, createRevision };
      try {
        await waitPredecessors(session, pfx, createRevision, options.signal);
      } catch (e) {
        await resign().catch(() => {});
        throw e;
      }
    },
    async proclaim(value) {
      const m = mine;
      if (!m) throw new CoordError("COORD_NOT_HELD", `not a candidate in "${pfx}"`);
      const t = await session.store.txn({
        compare: [{ key: m.key, target: "createRevision", op: "=", value: m.createRevision }],
        success: [{ put: { key: m.key, value, lease: session.lease } }],
      });
      if (!t.succeeded) throw new CoordError("COORD_NOT_HELD", `the election key ${m.key} is gone`);
    },
    resign,
    leader,
    observe: (options = {}) => observe(session, pfx, leader, options.signal),
  };
}

/** Yields the leader whenever it changes (key, create revision or value). */
async function* observe(
  session: Session,
  pfx: string,
  leader: () => Promise<Leader | undefined>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Leader> {
  let last: Leader | undefined;
  const same = (a: Leader | undefined, b: Leader | undefined): boolean =>
    a?.key === b?.key && a?.createRevision === b?.createRevision && a?.value === b?.value;
  let from = (await session.store.status()).revision;
  const current = await leader();
  if (current) {
    last = current;
    yield current;
  }
  // Each round watches from the last revision seen; it ends with the store, the signal, or a compaction re-read.
  for (let round = 0; round < Number.MAX_SAFE_INTEGER && !signal?.aborted; round++) {
    const w = session.store.watch(pfx, { fromRevision: from + 1 });
    const onAbort = (): void => w.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const ev of w) {
        from = ev.kv.modRevision;
        const now = await leader();
        if (now && !same(now, last)) {
          last = now;
          yield now;
        }
      }
      return;
    } catch (e) {
      if (!isStoreError(e, "STORE_COMPACTED")) throw e;
      from = (await session.store.status()).revision;
      const now = await leader();
      if (now && !same(now, last)) {
        last = now;
        yield now;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      w.cancel();
    }
  }
}
