/**
 * Sessions (private; re-exported by `index.ts`), as etcd's `concurrency.Session`: a lease kept alive in the
 * background. Every key an election or a mutex writes is attached to it, so a process that dies loses its
 * leadership and its locks when the TTL runs out, with no one cleaning up.
 *
 * `done` resolves as soon as the session can no longer be sure its lease is alive: at once when etcd says the lease
 * is gone (revoked, expired), and at the latest one TTL after the last keep-alive that was sent and answered (the
 * store unreachable: the lease may already have expired on the cluster). Leader work races `done` and stops.
 */
import { isStoreError, type LeaseId, type Store } from "../store/index.ts";
import { type CoordClock, systemClock } from "./_errors.ts";

/** Why a session ended. */
export type SessionEnd =
  | { reason: "closed" }
  | { reason: "lease-lost"; error: unknown }
  | { reason: "expired"; lastRenewedAt: number; error?: unknown };

/** Options of {@link createSession}. */
export interface SessionOptions {
  /** Lease TTL in seconds (default 2, the server's default `--lease-ttl`). */
  ttlSeconds?: number;
  /** Keep-alive period in milliseconds (default: a third of the TTL). */
  keepAliveMs?: number;
  /** Time source (default: wall clock). */
  clock?: CoordClock;
}

/** A live lease with its keep-alive. */
export interface Session {
  readonly store: Store;
  readonly lease: LeaseId;
  readonly ttlSeconds: number;
  /** Resolves once, when the session ends, with the reason. Never rejects. */
  readonly done: Promise<SessionEnd>;
  /** True once the session has ended, or its TTL has passed since the last renewal (then it ends now). */
  isDone(): boolean;
  /** Stops the keep-alive and revokes the lease (deleting every key attached to it); resolves `done` with "closed". */
  close(): Promise<void>;
}

/** Grants a lease on `store` and keeps it alive until {@link Session.close} or until it is lost. */
export async function createSession(store: Store, options: SessionOptions = {}): Promise<Session> {
  const ttl = options.ttlSeconds ?? 2;
  const clock = options.clock ?? systemClock;
  const period = options.keepAliveMs ?? Math.max(50, Math.floor((ttl * 1000) / 3));
  const lease = await store.grant(ttl);
  let renewedAt = clock.now();
  let ended: SessionEnd | undefined;
  let resolveDone: (end: SessionEnd) => void = () => {};
  const done = new Promise<SessionEnd>((r) => {
    resolveDone = r;
  });
  let tick: unknown;
  let expiry: unknown;
  let lastError: unknown;

  const end = (why: SessionEnd): void => {
    if (ended) return;
    ended = why;
    clock.clearTimeout(tick);
    clock.clearTimeout(expiry);
    resolveDone(why);
  };
  const armExpiry = (): void => {
    clock.clearTimeout(expiry);
    const left = renewedAt + ttl * 1000 - clock.now();
    expiry = clock.setTimeout(
      () => end({ reason: "expired", lastRenewedAt: renewedAt, ...(lastError === undefined ? {} : { error: lastError }) }),
      Math.max(0, left),
    );
  };
  const keepAlive = async (): Promise<void> => {
    if (ended) return;
    const sentAt = clock.now();
    try {
      await store.keepAlive(lease);
      if (ended) return;
      // The cluster restarted the TTL no earlier than when the request was sent.
      renewedAt = Math.max(renewedAt, sentAt);
      lastError = undefined;
      armExpiry();
    } catch (e) {
      if (isStoreError(e, "STORE_LEASE_NOT_FOUND") || isStoreError(e, "STORE_CLOSED")) {
        end({ reason: "lease-lost", error: e });
        return;
      }
      // Unreachable or slow: try again next period; the expiry timer decides when it is too late.
      lastError = e;
    }
    if (!ended) tick = clock.setTimeout(() => void keepAlive(), period);
  };
  armExpiry();
  tick = clock.setTimeout(() => void keepAlive(), period);

  return {
    store,
    lease,
    ttlSeconds: ttl,
    done,
    // Read the clock, not only the expiry timer: a thread kept busy (a long compile) runs its timers late, and
    // a lease whose TTL has passed since its last renewal must not be trusted a moment longer.
    isDone: () => {
      if (ended === undefined && clock.now() >= renewedAt + ttl * 1000) {
        end({ reason: "expired", lastRenewedAt: renewedAt, ...(lastError === undefined ? {} : { error: lastError }) });
      }
      return ended !== undefined;
    },
    async close() {
      if (ended) return;
      end({ reason: "closed" });
      try {
        await store.revoke(lease);
      } catch (e) {
        // Already gone, or the store is unreachable: the lease then expires by itself within its TTL.
        if (!isStoreError(e)) throw e;
      }
    },
  };
}
