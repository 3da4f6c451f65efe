/**
 * The DHCP pool's leases in the store, for `vaquero standalone` and `vaquero agent`: each lease under
 * `/vaquero/sites/<site>/dhcp/leases/<ip>` as JSON ({@link PoolLease}), deleted when the address is free again.
 * The pool tells of changes synchronously; they are written in the background in the order told, coalesced per
 * address (only the latest state of an address is written), so a slow store costs at most one entry per address.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { PoolChange, PoolLease } from "../../pkg/dhcp/index.ts";
import { decodeJson, encodeJson, type Store } from "../../pkg/store/index.ts";

/** The pool's leases in the store. */
export interface LeaseStore {
  /** The key prefix, `/vaquero/sites/<site>/dhcp/leases/`. */
  readonly prefix: string;
  /** Every well-formed lease stored for the site (malformed entries are reported to `onError` and skipped). */
  load(): Promise<PoolLease[]>;
  /** Give this to `createLeasePool({ onChange })`: queues the change for writing. */
  onChange(change: PoolChange): void;
  /** Resolves once every change told so far is written (or reported to `onError`). */
  flush(): Promise<void>;
}

/** Options of {@link openLeaseStore}. */
export interface LeaseStoreOptions {
  /** Told of a change that could not be written, or a stored entry that could not be read. */
  onError?: (e: unknown, what: { ip?: string; key?: string }) => void;
}

const STATES = new Set<PoolLease["state"]>(["bound", "declined", "offered"]);

function isLease(v: unknown): v is PoolLease {
  if (typeof v !== "object" || v === null) return false;
  const l = v as Record<string, unknown>;
  return (
    typeof l.mac === "string" && typeof l.ip === "string" && typeof l.expires === "number" && STATES.has(l.state as PoolLease["state"])
  );
}

/** The leases of site `siteId` in `store`. */
export function openLeaseStore(store: Store, siteId: string, options: LeaseStoreOptions = {}): LeaseStore {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(siteId)) {
    throw new VaqueroError("LEASE_STORE_SITE", `DHCP leases: site id "${siteId}" cannot be part of a store key`, { exitCode: 2 });
  }
  const prefix = `/vaquero/sites/${siteId}/dhcp/leases/`;
  const pending = new Map<string, PoolChange>();
  let draining: Promise<void> | undefined;

  const write = async (change: PoolChange): Promise<void> => {
    const key = prefix + change.ip;
    if ("removed" in change) await store.delete(key);
    else await store.put(key, encodeJson({ mac: change.mac, ip: change.ip, expires: change.expires, state: change.state }));
  };
  // Each pass writes one address; the passes of one drain are bounded by what was pending when it started plus
  // what arrived meanwhile, and a drain that stops with work left is followed by another.
  const drain = async (): Promise<void> => {
    const max = pending.size + 10_000;
    for (let i = 0; i < max && pending.size > 0; i++) {
      const [ip, change] = pending.entries().next().value as [string, PoolChange];
      pending.delete(ip);
      try {
        await write(change);
      } catch (e) {
        options.onError?.(e, { ip });
      }
    }
  };
  const start = (): void => {
    if (draining || pending.size === 0) return;
    draining = drain().finally(() => {
      draining = undefined;
      start();
    });
  };

  return {
    prefix,
    async load() {
      const { kvs } = await store.range(prefix);
      const out: PoolLease[] = [];
      for (const kv of kvs) {
        try {
          const v = decodeJson(kv);
          if (!isLease(v) || prefix + v.ip !== kv.key) throw new Error("not a lease of this key");
          out.push({ mac: v.mac, ip: v.ip, expires: v.expires, state: v.state });
        } catch (e) {
          options.onError?.(e, { key: kv.key });
        }
      }
      return out;
    },
    onChange(change) {
      pending.delete(change.ip);
      pending.set(change.ip, change);
      start();
    },
    async flush() {
      // Each round awaits one drain; a drain empties the queue unless more keeps arriving.
      for (let round = 0; round < 1000 && (draining || pending.size > 0); round++) {
        start();
        await draining;
      }
    },
  };
}
