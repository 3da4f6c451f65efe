/**
 * The compile queue of servers on etcd (decision 39): a follower does not compile. A webhook delivery or a
 * `POST /releases` it receives is written to `/vaquero/compile-queue/<id>` (created by compare-and-swap, so two
 * deliveries of one id make one entry) and answered 202 `{queued: id}`; the leader drains the queue, compiling each
 * entry as if it had been asked itself, and deletes the entry (a fenced write) only once its compile is done. A
 * leader killed in the middle leaves the entry for the next one, and the releaser's own dedup (delivery ids,
 * commits already released) makes the second attempt a no-op when the first had stored its release.
 */
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";
import type { CompileOutcome, CompileRequest, Releaser } from "./_compile.ts";
import { getRelease, type ReleaseRecord, releaseOfCommit } from "./_releases.ts";

/** Where queued compiles wait. */
export const COMPILE_QUEUE_PREFIX = "/vaquero/compile-queue/";
/** Where webhooks' delivery ids are remembered (as `_compile.ts` writes them). */
const DELIVERY_PREFIX = "/vaquero/deliveries/";
/** Most entries one drain pass takes. */
const DRAIN_BATCH = 100;

/** A queued compile. */
export interface QueuedCompile extends CompileRequest {
  /** ISO 8601 time it was queued. */
  at: string;
  /** The server that queued it. */
  by: string;
}

/** What a submitted compile led to: a compile's outcome (on the leader), or a queue entry (on a follower). */
export type SubmitOutcome = CompileOutcome | { queued: string; duplicate: boolean };

/** The queue id of a request: the delivery id or commit when there is one (so a redelivery finds its entry). */
function queueId(r: CompileRequest, now: number): string {
  const hex = (s: string): string => new Bun.CryptoHasher("sha256").update(s).digest("hex").slice(0, 24);
  if (r.delivery) return `d-${hex(r.delivery)}`;
  if (r.after && /^[0-9a-f]{40}$/i.test(r.after)) return `c-${r.after.toLowerCase()}`;
  return `t-${String(now).padStart(13, "0")}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The release a request was already answered with (its delivery id or commit seen before), if any. */
export async function alreadyReleased(store: Store, r: CompileRequest): Promise<ReleaseRecord | undefined> {
  if (r.delivery) {
    const kv = await store.get(DELIVERY_PREFIX + r.delivery);
    const rel = kv ? await getRelease(store, decodeJson<{ release: string }>(kv).release) : undefined;
    if (rel) return rel;
  }
  const id = r.after ? await releaseOfCommit(store, r.after) : undefined;
  return id ? await getRelease(store, id) : undefined;
}

/**
 * Queues `r`: an answer from a release already made when the delivery or commit was seen; else the queue entry
 * (`duplicate: true` when that delivery or commit was already waiting).
 */
export async function enqueueCompile(
  store: Store,
  r: CompileRequest,
  by: string,
  now: () => Date = () => new Date(),
): Promise<SubmitOutcome> {
  const done = await alreadyReleased(store, r);
  if (done) return { release: done, duplicate: true };
  const id = queueId(r, now().getTime());
  const entry: QueuedCompile = { ...r, at: now().toISOString(), by };
  const key = COMPILE_QUEUE_PREFIX + id;
  const t = await store.txn({
    compare: [{ key, target: "version", op: "=", value: 0 }],
    success: [{ put: { key, value: encodeJson(entry) } }],
  });
  return { queued: id, duplicate: !t.succeeded };
}

/** What {@link drainQueue} needs. */
export interface DrainOptions {
  /** The leader's fenced store (deleting an entry fails once the term is over). */
  store: Store;
  releaser: Releaser;
  signal: AbortSignal;
  log: Logger;
  /** Pause between passes over an empty queue (default 250 ms). */
  idleMs?: number;
}

/** Compiles queued entries, oldest key first, until `signal` fires. */
export async function drainQueue(o: DrainOptions): Promise<void> {
  const idle = o.idleMs ?? 250;
  for (let pass = 0; pass < Number.MAX_SAFE_INTEGER && !o.signal.aborted; pass++) {
    let taken = 0;
    try {
      const r = await o.store.range(COMPILE_QUEUE_PREFIX, { limit: DRAIN_BATCH });
      for (const kv of r.kvs) {
        if (o.signal.aborted) return;
        taken++;
        const id = kv.key.slice(COMPILE_QUEUE_PREFIX.length);
        let entry: QueuedCompile | undefined;
        try {
          entry = decodeJson<QueuedCompile>(kv);
        } catch {
          // Not ours: dropped below.
        }
        if (entry) {
          o.log.info({ queued: id, trigger: entry.trigger, delivery: entry.delivery, from: entry.by }, "compiling a queued request");
          try {
            const out = await o.releaser.compile({
              trigger: entry.trigger,
              ...(entry.delivery ? { delivery: entry.delivery } : {}),
              ...(entry.after ? { after: entry.after } : {}),
            });
            o.log.info({ queued: id, release: out.release.id, duplicate: out.duplicate }, "queued request done");
          } catch (e) {
            // Leadership lost: the entry stays for the next leader. Any other failure is logged and the entry dropped
            // (the next push, poll or takeover compiles the branch's tip again).
            if (isVaqueroError(e) && e.code === "NOT_LEADER") return;
            if (o.signal.aborted) return;
            o.log.error({ queued: id, err: describeError(e) }, "queued compile failed; dropped");
          }
        }
        await o.store.txn({
          compare: [{ key: kv.key, target: "modRevision", op: "=", value: kv.modRevision }],
          success: [{ delete: kv.key }],
        });
      }
    } catch (e) {
      if (o.signal.aborted || (isVaqueroError(e) && e.code === "NOT_LEADER")) return;
      o.log.warn({ err: describeError(e) }, "compile queue: read failed");
      await pause(idle, o.signal);
      continue;
    }
    if (taken === 0) await pause(idle, o.signal);
  }
}

/** Resolves after `ms`, or when `signal` fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
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

/** What {@link createSubmitter} needs. */
export interface SubmitterOptions {
  /** The shared store (queue entries are written by followers, so not the fenced one). */
  store: Store;
  /** The releaser over the leader's fenced store. */
  releaser: Releaser;
  isLeader(): boolean;
  /** This server's name (recorded in queue entries). */
  name: string;
}

/**
 * Where a server on etcd sends a compile: the leader compiles at once (as a single server does); a follower, or a
 * leader deposed while compiling, queues it for the leader.
 */
export function createSubmitter(o: SubmitterOptions): (r: CompileRequest) => Promise<SubmitOutcome> {
  return async (r) => {
    if (o.isLeader()) {
      try {
        return await o.releaser.compile(r);
      } catch (e) {
        if (!isVaqueroError(e) || e.code !== "NOT_LEADER") throw e;
      }
    }
    return await enqueueCompile(o.store, r, o.name);
  };
}
