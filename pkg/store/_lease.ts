/**
 * Leases of the embedded store (private). A lease has a TTL and a deadline on the store's clock; a keep-alive moves
 * the deadline a full TTL ahead. Revoking or expiring a lease deletes its keys in one revision, so watchers see a
 * delete event for each, exactly as for a delete. A lease past its deadline is gone for every caller, even before
 * the next expiry pass deletes its keys.
 */
import { StoreError } from "./_errors.ts";
import type { Statements } from "./_sql.ts";
import type { LeaseId } from "./_types.ts";

/** The clock of deadlines, in milliseconds. */
export interface LeaseClock {
  now(): number;
}

/** What the leases need from the store. */
export interface LeaseDeps {
  st: Statements;
  clock: LeaseClock;
  write<T>(fn: (w: { rev: number; sub: number; wrote: boolean }) => T): { value: T; revision: number };
  deleteKeys(w: { rev: number; sub: number; wrote: boolean }, keys: Uint8Array[]): number;
}

/** The lease operations (synchronous; the store wraps them). */
export interface Leases {
  grant(ttlSeconds: number): LeaseId;
  keepAlive(id: LeaseId): number;
  revoke(id: LeaseId): void;
  /** Expires every due lease; returns how many. */
  expire(): number;
  /** The lease's number for a put; throws STORE_LEASE_NOT_FOUND when it is not live. */
  require(id: LeaseId): number;
}

/** Largest TTL accepted: etcd's maximum (9,000,000,000 s) is more than any deadline arithmetic needs here. */
const MAX_TTL = 9_000_000_000;
/** Leases expired per pass at most; the next pass takes the rest. */
const EXPIRE_BATCH = 1000;

/** Creates the lease operations over the store's statements. */
export function createLeases(d: LeaseDeps): Leases {
  const { st, clock } = d;
  const notFound = (id: LeaseId): StoreError => new StoreError("STORE_LEASE_NOT_FOUND", `lease ${id} not found`, { detail: { lease: id } });
  const numberOf = (id: LeaseId): number | undefined => {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
    const n = Number(id);
    return Number.isSafeInteger(n) ? n : undefined;
  };
  const liveRow = (id: LeaseId) => {
    const n = numberOf(id);
    const row = n === undefined ? null : st.getLease.get({ id: n });
    return row && row.deadline > clock.now() ? row : undefined;
  };
  const end = (n: number): void => {
    d.write((w) => {
      const keys = st.keysOfLease.all({ lease: n }).map((r) => r.key);
      d.deleteKeys(w, keys);
      st.deleteLease.run({ id: n });
    });
  };

  return {
    grant(ttl) {
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) {
        throw new StoreError("STORE_INVALID", `lease TTL must be a whole number of seconds from 1 to ${MAX_TTL}, got ${ttl}`);
      }
      // Random ids, as etcd's are not sequential either; below 2^53 so that they survive a JavaScript number.
      for (let attempt = 0; attempt < 16; attempt++) {
        const n = 1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1));
        if (st.getLease.get({ id: n })) continue;
        d.write(() => st.insertLease.run({ id: n, ttl, deadline: clock.now() + ttl * 1000 }));
        return String(n);
      }
      throw new StoreError("STORE_INVALID", "could not draw an unused lease id");
    },
    keepAlive(id) {
      const row = liveRow(id);
      if (!row) throw notFound(id);
      d.write(() => st.setDeadline.run({ id: row.id, deadline: clock.now() + row.ttl * 1000 }));
      return row.ttl;
    },
    revoke(id) {
      const n = numberOf(id);
      if (n === undefined || !st.getLease.get({ id: n })) throw notFound(id);
      end(n);
    },
    expire() {
      const due = st.dueLeases.all({ now: clock.now(), limit: EXPIRE_BATCH });
      for (const row of due) end(row.id);
      return due.length;
    },
    require(id) {
      const row = liveRow(id);
      if (!row) throw notFound(id);
      return row.id;
    },
  };
}
