/**
 * The engine's records in the store: machines under `<prefix>machines/<mac>`, a rollout's header under
 * `<prefix>rollouts/<id>` and each of its hosts under `<prefix>rollouts/<id>/hosts/<name>` (a host's change
 * rewrites that host alone, not a record of thousands), and each machine's trace as a ring of `maxEvents` slots under
 * `<prefix>events/<mac>/<slot>` (a slot is overwritten, never deleted, so a long trace costs no deletes).
 * Writes are queued, coalesced per key, and committed in transactions of at most 128 operations; `flush`
 * resolves once everything queued before it is committed (an acknowledged report waits for it).
 */
import { decodeJson, encodeJson, type KeyValue, MAX_TXN_OPS, type Store } from "../store/index.ts";
import type { Machine, MachineEvent, Rollout } from "./_types.ts";

/** A stored event: its sequence number orders the ring. */
export interface StoredEvent extends MachineEvent {
  seq: number;
}

/** The queue of writes to the store. */
export interface Writer {
  machine(m: Machine): void;
  /** The rollout's header and the hosts named (every host when `hosts` is left out). */
  rollout(r: Rollout, hosts?: readonly string[]): void;
  event(mac: string, slot: number, e: StoredEvent): void;
  /** Resolves when every write queued before the call is committed; rejects when the store refused one. */
  flush(): Promise<void>;
  /** Writes waiting. */
  pending(): number;
}

/** Key layout under `prefix` (ends with `/`). */
export function keys(prefix: string) {
  return {
    machine: (mac: string) => `${prefix}machines/${mac}`,
    rollout: (id: string) => `${prefix}rollouts/${id}`,
    event: (mac: string, slot: number) => `${prefix}events/${mac}/${String(slot).padStart(4, "0")}`,
    rolloutHost: (id: string, name: string) => `${prefix}rollouts/${id}/hosts/${name}`,
    machines: `${prefix}machines/`,
    rollouts: `${prefix}rollouts/`,
    events: `${prefix}events/`,
  };
}

/**
 * A writer over `store`; `delayMs` batches writes that arrive close together (default 5 ms). Entries keep the
 * order they were first queued in (a later value for a queued key replaces it in place), and are committed
 * front first, so "everything queued before a flush" is a prefix: a flush waits for that prefix only, never
 * for writes queued after it.
 */
export function createWriter(store: Store, prefix: string, onError: (e: unknown) => void, delayMs = 5): Writer {
  const k = keys(prefix);
  const queue = new Map<string, { value: Uint8Array; idx: number }>();
  let queued = 0;
  let committed = 0;
  const waiters: { target: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let gathering: Promise<void> | undefined;

  const settle = (upTo: number, failure?: unknown): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (!w || w.target > upTo) continue;
      waiters.splice(i, 1);
      if (failure === undefined) w.resolve();
      else w.reject(failure);
    }
  };
  const drain = async (): Promise<void> => {
    // Bounded: each pass takes up to MAX_TXN_OPS entries; entries queued meanwhile are taken by later passes.
    for (let pass = 0; queue.size > 0 && pass < 1_000_000; pass++) {
      const batch: [string, Uint8Array][] = [];
      let last = committed;
      for (const [key, e] of queue) {
        batch.push([key, e.value]);
        last = Math.max(last, e.idx);
        if (batch.length === MAX_TXN_OPS) break;
      }
      for (const [key] of batch) queue.delete(key);
      try {
        await store.txn({ compare: [], success: batch.map(([key, value]) => ({ put: { key, value } })) });
        committed = last;
        settle(committed);
      } catch (e) {
        onError(e);
        // The writes of this batch are lost: whoever waits for them hears so.
        committed = last;
        settle(last, e);
      }
    }
  };
  const kick = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    running ??= drain().finally(() => {
      running = undefined;
      if (queue.size > 0) void kick();
    });
    return running;
  };
  const enqueue = (key: string, value: unknown): void => {
    const known = queue.get(key);
    if (known) known.value = encodeJson(value);
    else queue.set(key, { value: encodeJson(value), idx: ++queued });
    timer ??= setTimeout(() => void kick(), delayMs);
  };
  const rollout = (r: Rollout, names?: readonly string[]): void => {
    const { hosts, ...header } = r;
    enqueue(k.rollout(r.id), header);
    for (const name of names ?? Object.keys(hosts)) {
      const h = hosts[name];
      if (h) enqueue(k.rolloutHost(r.id, name), h);
    }
  };
  return {
    machine: (m) => enqueue(k.machine(m.mac), m),
    rollout,
    event: (mac, slot, e) => enqueue(k.event(mac, slot), e),
    async flush() {
      const target = queued;
      if (committed >= target) return;
      const done = new Promise<void>((resolve, reject) => waiters.push({ target, resolve, reject }));
      // Group commit: reports that arrive in the same turn of the event loop share one transaction.
      gathering ??= new Promise<void>((resolve) => setImmediate(resolve)).finally(() => {
        gathering = undefined;
      });
      await gathering;
      void kick();
      await done;
    },
    pending: () => queue.size,
  };
}

/** Everything under `prefix` in key order, page by page. */
async function* scan(store: Store, prefix: string): AsyncGenerator<KeyValue> {
  let start = prefix;
  const end = `${prefix}\xff`;
  for (let page = 0; page < 100_000; page++) {
    const r = await store.range({ start, end }, { limit: 1000 });
    for (const kv of r.kvs) yield kv;
    if (!r.more || r.kvs.length === 0) return;
    start = `${r.kvs[r.kvs.length - 1]?.key ?? end}\x00`;
  }
}

/** The engine's records as stored: machines, rollouts, and each machine's events oldest first. */
export async function loadRecords(
  store: Store,
  prefix: string,
): Promise<{ machines: Machine[]; rollouts: Rollout[]; events: Map<string, StoredEvent[]> }> {
  const k = keys(prefix);
  const machines: Machine[] = [];
  const rollouts: Rollout[] = [];
  const events = new Map<string, StoredEvent[]>();
  for await (const kv of scan(store, k.machines)) machines.push(decodeJson<Machine>(kv));
  const byId = new Map<string, Rollout>();
  for await (const kv of scan(store, k.rollouts)) {
    const rest = kv.key.slice(k.rollouts.length);
    const at = rest.indexOf("/hosts/");
    if (at < 0) {
      const r = decodeJson<Rollout>(kv);
      byId.set(rest, { ...r, hosts: { ...r.hosts, ...byId.get(rest)?.hosts } });
    } else {
      const id = rest.slice(0, at);
      const r = byId.get(id) ?? ({ id, hosts: {} } as unknown as Rollout); // its header sorts first; this is a guard
      r.hosts[rest.slice(at + "/hosts/".length)] = decodeJson<Rollout["hosts"][string]>(kv);
      byId.set(id, r);
    }
  }
  rollouts.push(...byId.values());
  for await (const kv of scan(store, k.events)) {
    const mac = kv.key.slice(k.events.length, kv.key.lastIndexOf("/"));
    const list = events.get(mac) ?? [];
    list.push(decodeJson<StoredEvent>(kv));
    events.set(mac, list);
  }
  for (const list of events.values()) list.sort((a, b) => a.seq - b.seq);
  return { machines, rollouts, events };
}
