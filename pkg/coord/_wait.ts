/**
 * Waiting for predecessors (private), as etcd's `waitDeletes`: the caller's key has create revision `mine`; it
 * holds the election or the lock once every other key under `prefix` with a smaller create revision is deleted.
 * It watches only the newest such key (its direct predecessor), so each deletion wakes one waiter, not all.
 */
import { isStoreError, type KeyValue } from "../store/index.ts";
import { CoordError } from "./_errors.ts";
import type { Session } from "./_session.ts";

/** At most this many predecessors are waited for in turn (far above any real number of contenders). */
const MAX_ROUNDS = 100_000;

/** The live keys under `prefix`, ordered by create revision (oldest first), and the revision read at. */
export async function byCreation(session: Session, prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
  const r = await session.store.range(prefix);
  return { kvs: [...r.kvs].sort((a, b) => a.createRevision - b.createRevision), revision: r.revision };
}

/** Resolves once no key under `prefix` was created before `mine`; rejects when the session ends or `signal` fires. */
export async function waitPredecessors(session: Session, prefix: string, mine: number, signal?: AbortSignal): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    stopIfOver(session, signal);
    const { kvs, revision } = await byCreation(session, prefix);
    const before = kvs.filter((kv) => kv.createRevision < mine);
    const last = before[before.length - 1];
    if (!last) return;
    await waitDeleted(session, last.key, revision + 1, signal);
  }
  throw new CoordError("COORD_ABORTED", `gave up after ${MAX_ROUNDS} predecessors under "${prefix}"`);
}

function stopIfOver(session: Session, signal: AbortSignal | undefined): void {
  if (session.isDone()) throw new CoordError("COORD_SESSION_LOST", `lease ${session.lease} is lost`);
  if (signal?.aborted) throw new CoordError("COORD_ABORTED", "aborted by the caller", { cause: signal.reason });
}

/** Waits for a delete of `key` at `from` or later (a compacted history means: look again). */
async function waitDeleted(session: Session, key: string, from: number, signal: AbortSignal | undefined): Promise<void> {
  const w = session.store.watch({ start: key, end: `${key}\0` }, { fromRevision: from });
  let onAbort: (() => void) | undefined;
  const stop = new Promise<"stop">((resolve) => {
    onAbort = () => resolve("stop");
    signal?.addEventListener("abort", onAbort, { once: true });
    void session.done.then(() => resolve("stop"));
  });
  const it = w[Symbol.asyncIterator]();
  try {
    // Each pass consumes one event or stops; the watch ends with the store.
    for (let pass = 0; pass < Number.MAX_SAFE_INTEGER; pass++) {
      const next = await Promise.race([it.next(), stop]);
      if (next === "stop") return stopIfOver(session, signal);
      if (next.done) return;
      if (next.value.type === "delete") return;
    }
  } catch (e) {
    if (isStoreError(e, "STORE_COMPACTED")) return;
    throw e;
  } finally {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    w.cancel();
  }
}
