/**
 * Mutexes (private; re-exported by `index.ts`), as etcd's `concurrency.Mutex`: each waiter writes
 * `<prefix><lease id in hex>` on its session's lease and holds the lock once every key with a smaller create
 * revision is gone, so waiters are served in the order they asked. A holder that dies releases the lock when its
 * lease expires.
 */
import { CoordError } from "./_errors.ts";
import type { Session } from "./_session.ts";
import { byCreation, waitPredecessors } from "./_wait.ts";

/** A distributed lock under a key prefix, for one session. */
export interface Mutex {
  /** This waiter's key. */
  readonly key: string;
  /** Resolves once held; rejects with `COORD_SESSION_LOST` or `COORD_ABORTED` (the place in the queue is then given up). */
  lock(options?: { signal?: AbortSignal }): Promise<void>;
  /** Takes the lock only if nobody holds it or waits before; true when taken. */
  tryLock(): Promise<boolean>;
  /** Releases the lock (or the place in the queue). */
  unlock(): Promise<void>;
  /** True while this mutex holds the lock (as far as the session knows: check `session.done` too). */
  held(): boolean;
}

/** A mutex of `prefix` (a trailing `/` is added when missing) for `session`. */
export function createMutex(session: Session, prefix: string): Mutex {
  const pfx = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const key = `${pfx}${BigInt(session.lease).toString(16)}`;
  let holding = false;

  /** Writes the waiter's key (or finds it) and returns its create revision. */
  const enqueue = async (): Promise<number> => {
    if (session.isDone()) throw new CoordError("COORD_SESSION_LOST", `lease ${session.lease} is lost`);
    const t = await session.store.txn({
      compare: [{ key, target: "createRevision", op: "=", value: 0 }],
      success: [{ put: { key, value: "", lease: session.lease } }],
      failure: [{ get: key }],
    });
    const got = t.results[0];
    return !t.succeeded && got && "get" in got && got.get ? got.get.createRevision : t.revision;
  };
  const unlock = async (): Promise<void> => {
    holding = false;
    await session.store.delete(key);
  };

  return {
    key,
    async lock(options = {}) {
      const mine = await enqueue();
      try {
        await waitPredecessors(session, pfx, mine, options.signal);
      } catch (e) {
        await unlock().catch(() => {});
        throw e;
      }
      holding = true;
    },
    async tryLock() {
      const mine = await enqueue();
      const first = (await byCreation(session, pfx)).kvs[0];
      if (first && first.createRevision < mine) {
        await unlock();
        return false;
      }
      holding = true;
      return true;
    },
    unlock,
    held: () => holding && !session.isDone(),
  };
}
