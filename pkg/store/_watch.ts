/**
 * In-process watches of the embedded store (private). A watch keeps a cursor `(revision, sub)` into the revision
 * history and reads its events from there in batches, so live changes and a resumption from an older revision take
 * the same path, and a slow reader costs no memory: a commit only wakes the waiting watches.
 */
import { compactedError, StoreError } from "./_errors.ts";
import type { ByteRange } from "./_keys.ts";
import type { Watch, WatchEvent } from "./_types.ts";

/** Events read per batch. */
const BATCH = 256;

/** What a watch needs from its store. */
export interface WatchSource {
  /** Up to `limit` events of `range` from the cursor on, in order, with each event's `sub`. */
  read(range: ByteRange, revision: number, sub: number, limit: number): { event: WatchEvent; sub: number }[];
  /** The compact revision now. */
  compactRevision(): number;
}

/** The watches of one store. */
export interface WatchHub {
  /** A new watch of `range` from `revision` on. */
  open(range: ByteRange, revision: number): Watch;
  /** Wakes every waiting watch (after a commit). */
  notify(): void;
  /** Ends every watch. */
  close(): void;
}

/** Creates the hub over `source`. */
export function createWatchHub(source: WatchSource): WatchHub {
  const wakers = new Set<() => void>();
  const live = new Set<() => void>();
  let closed = false;

  const open = (range: ByteRange, from: number): Watch => {
    let revision = from;
    let sub = 0;
    let buffer: WatchEvent[] = [];
    let cancelled = closed;
    let wake: (() => void) | undefined;
    const cancel = (): void => {
      cancelled = true;
      live.delete(cancel);
      const w = wake;
      if (w) {
        wakers.delete(w);
        w();
      }
    };
    if (!cancelled) live.add(cancel);

    const next = async (): Promise<IteratorResult<WatchEvent>> => {
      // Each pass either returns or waits for a commit or a cancel; a wake-up with nothing new waits again.
      for (let pass = 0; pass < Number.MAX_SAFE_INTEGER; pass++) {
        if (cancelled) return { done: true, value: undefined };
        const head = buffer.shift();
        if (head) return { done: false, value: head };
        const compact = source.compactRevision();
        if (revision < compact) {
          cancel();
          throw compactedError(revision, compact);
        }
        const batch = source.read(range, revision, sub, BATCH);
        const last = batch[batch.length - 1];
        if (last) {
          buffer = batch.map((b) => b.event);
          revision = last.event.kv.modRevision;
          sub = last.sub + 1;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          wakers.add(resolve);
        });
        wake = undefined;
      }
      throw new StoreError("STORE_CLOSED", "watch loop ended");
    };

    const iterator: AsyncIterator<WatchEvent> = {
      next,
      return: async () => {
        cancel();
        return { done: true, value: undefined };
      },
    };
    return { cancel, [Symbol.asyncIterator]: () => iterator };
  };

  return {
    open,
    notify() {
      const all = [...wakers];
      wakers.clear();
      for (const w of all) w();
    },
    close() {
      closed = true;
      for (const c of [...live]) c();
      for (const w of [...wakers]) w();
      wakers.clear();
    },
  };
}
