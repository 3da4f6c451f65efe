/**
 * Dynamic addresses for machines the SoT does not know (discovery). Hosts of the SoT always get their reserved
 * address; the pool only serves the rest. One address is never offered to two clients at once: an offer holds
 * the address for `offerSeconds`, an acknowledged lease for the lease time; a declined address is quarantined.
 * Time comes from an injected clock.
 *
 * Persistence: `onChange` hears of every change a restart must not forget: a lease bound or renewed, a lease
 * released, an address declined, and a bound or declined entry found expired (reclaimed). Offers stay in memory
 * only: an offer binds nothing and lasts seconds; after a restart the client's REQUEST binds the address if it is
 * still free (or gets a NAK and starts over), while writing every offer would cost a store write per DISCOVER of
 * every unknown machine on the segment. Restore with `leases` (what `onChange` saw, as {@link PoolLease}s).
 */
import { intToIpv4, ipv4ToInt } from "../../internal/net/index.ts";

/** A lease of the pool. */
export interface PoolLease {
  mac: string;
  ip: string;
  /** Milliseconds since the epoch when it expires. */
  expires: number;
  state: "offered" | "bound" | "declined";
}

/** A change for persistence: the lease now held for `ip`, or `{ ip, removed: true }` when `ip` is free again. */
export type PoolChange = PoolLease | { ip: string; removed: true };

/** Options of {@link createLeasePool}. */
export interface PoolOptions {
  start: string;
  end: string;
  /** Addresses never handed out (the SoT's reservations, the agent's own address). */
  exclude?: Iterable<string>;
  leaseSeconds: number;
  /** How long an offer holds its address (default 30 s). */
  offerSeconds?: number;
  /** How long a declined address stays out of use (default 10 min). */
  declineSeconds?: number;
  now: () => number;
  /** Leases to start from (restored from the store). */
  leases?: PoolLease[];
  /** Told synchronously of every bound, renewed, released, declined or reclaimed lease (not of offers). */
  onChange?: (change: PoolChange) => void;
}

/** The pool's operations, all synchronous and O(1) or O(pool size). */
export interface LeasePool {
  /** Holds an address for `mac` (its current one when it has one); undefined when the pool is full. */
  offer(mac: string, requested?: string): string | undefined;
  /** Binds `ip` to `mac` if it is free or already theirs; false otherwise (the caller NAKs). */
  bind(mac: string, ip: string): boolean;
  /** Frees the client's lease on `ip`. */
  release(mac: string, ip: string): void;
  /** Quarantines `ip` (a client found it in use). */
  decline(mac: string, ip: string): void;
  /** True when `ip` is inside the pool's range. */
  contains(ip: string): boolean;
  /** Current leases (for persistence and status). */
  leases(): PoolLease[];
}

/** Creates a pool over `[start, end]`. */
export function createLeasePool(o: PoolOptions): LeasePool {
  const lo = ipv4ToInt(o.start) ?? 0;
  const hi = ipv4ToInt(o.end) ?? -1;
  const excluded = new Set([...(o.exclude ?? [])].map((ip) => ipv4ToInt(ip)).filter((n): n is number => n !== undefined));
  const byIp = new Map<number, PoolLease>();
  const byMac = new Map<string, PoolLease>();
  const offerMs = (o.offerSeconds ?? 30) * 1000;
  const declineMs = (o.declineSeconds ?? 600) * 1000;
  let cursor = lo;
  /** Only bound and declined entries are persisted, so only their changes are told. */
  const persisted = (l: PoolLease | undefined): boolean => l !== undefined && l.state !== "offered";
  const tell = (change: PoolChange): void => o.onChange?.(change);

  const put = (l: PoolLease): void => {
    const n = ipv4ToInt(l.ip) ?? 0;
    const prev = byMac.get(l.mac);
    if (prev && prev.ip !== l.ip) {
      byIp.delete(ipv4ToInt(prev.ip) ?? 0);
      if (persisted(prev)) tell({ ip: prev.ip, removed: true });
    }
    byIp.set(n, l);
    if (l.state !== "declined") byMac.set(l.mac, l);
  };
  // Restoring tells only of corrections: a second address of one MAC is dropped (the last one wins).
  for (const l of o.leases ?? []) put({ ...l });

  const live = (n: number): PoolLease | undefined => {
    const l = byIp.get(n);
    if (l && l.expires <= o.now()) {
      byIp.delete(n);
      if (byMac.get(l.mac) === l) byMac.delete(l.mac);
      if (persisted(l)) tell({ ip: l.ip, removed: true });
      return undefined;
    }
    return l;
  };
  const usable = (n: number, mac: string): boolean => {
    if (n < lo || n > hi || excluded.has(n)) return false;
    const l = live(n);
    return !l || (l.mac === mac && l.state !== "declined");
  };

  return {
    offer(mac, requested) {
      const mine = byMac.get(mac);
      const candidates: number[] = [];
      if (mine && live(ipv4ToInt(mine.ip) ?? 0)) candidates.push(ipv4ToInt(mine.ip) ?? 0);
      const req = requested ? ipv4ToInt(requested) : undefined;
      if (req !== undefined) candidates.push(req);
      for (const n of candidates) {
        if (usable(n, mac)) {
          const state = byIp.get(n)?.state === "bound" ? "bound" : "offered";
          const l: PoolLease = {
            mac,
            ip: intToIpv4(n),
            state,
            expires: state === "bound" ? (byIp.get(n)?.expires ?? 0) : o.now() + offerMs,
          };
          put(l);
          return l.ip;
        }
      }
      const size = hi - lo + 1;
      for (let i = 0; i < size; i++) {
        const n = lo + ((cursor - lo + i) % size);
        if (usable(n, mac)) {
          cursor = n + 1 > hi ? lo : n + 1;
          const l: PoolLease = { mac, ip: intToIpv4(n), state: "offered", expires: o.now() + offerMs };
          put(l);
          return l.ip;
        }
      }
      return undefined;
    },
    bind(mac, ip) {
      const n = ipv4ToInt(ip);
      if (n === undefined || !usable(n, mac)) return false;
      const l: PoolLease = { mac, ip: intToIpv4(n), state: "bound", expires: o.now() + o.leaseSeconds * 1000 };
      put(l);
      tell({ ...l });
      return true;
    },
    release(mac, ip) {
      const n = ipv4ToInt(ip) ?? -1;
      const l = live(n);
      if (l && l.mac === mac) {
        byIp.delete(n);
        byMac.delete(mac);
        if (persisted(l)) tell({ ip: l.ip, removed: true });
      }
    },
    decline(mac, ip) {
      const n = ipv4ToInt(ip);
      if (n === undefined || n < lo || n > hi) return;
      if (byMac.get(mac)?.ip === ip) byMac.delete(mac);
      const l: PoolLease = { mac, ip: intToIpv4(n), state: "declined", expires: o.now() + declineMs };
      byIp.set(n, l);
      tell({ ...l });
    },
    contains(ip) {
      const n = ipv4ToInt(ip);
      return n !== undefined && n >= lo && n <= hi;
    },
    leases() {
      return [...byIp.keys()].map((n) => live(n)).filter((l): l is PoolLease => l !== undefined);
    },
  };
}
