/**
 * The engine's records in the store: machines under `<prefix>machines/<mac>`, rollouts under
 * `<prefix>rollouts/<id>`, and each machine's trace as a ring of `maxEvents` slots under
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
  rollout(r: Rollout): void;
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
    machines: `${prefix}machines/`,
    rollouts: `${prefix}rollouts/`,
    events: `${prefix}events/`,
  };
}

/** A writer over `store`; `delayMs` batches writes that arrive close together (default 5 ms). */
export function createWriter(store: Store, prefix: string, onError: (e: unknown) => void, delayMs = 5): Writer {
  const k = keys(prefix);
  const queue = new Map<string, Uint8Array>();
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failure: unknown;

  const drain = async (): Promise<void> => {
    // Bounded: each pass takes up to MAX_TXN_OPS entries; entries queued meanwhile are taken by later passes.
    for (let pass = 0; queue.size > 0 && pass < 1_000_000; pass++) {
      const batch: [string, Uint8Array][] = [];
      for (const entry of queue) {
        batch.push(entry);
        if (batch.length === MAX_TXN_OPS) break;
      }
      for (const [key] of batch) queue.delete(key);
      try {
        await store.txn({ compare: [], success: batch.map(([key, value]) => ({ put: { key, value } })) });
      } catch (e) {
        failure = e;
        onError(e);
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
    });
    return running;
  };
  const enqueue = (key: string, value: unknown): void => {
    queue.set(key, encodeJson(value));
    timer ??= setTimeout(() => void kick(), delayMs);
  };
  return {
    machine: (m) => enqueue(k.machine(m.mac), m),
    rollout: (r) => enqueue(k.rollout(r.id), r),
    event: (mac, slot, e) => enqueue(k.event(mac, slot), e),
    async flush() {
      failure = undefined;
      // A drain in progress may have started before the latest writes: wait for it, then drain again.
      for (let i = 0; i < 1000 && (running || queue.size > 0); i++) await kick();
      if (failure) throw failure;
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
  for await (const kv of scan(store, k.rollouts)) rollouts.push(decodeJson<Rollout>(kv));
  for await (const kv of scan(store, k.events)) {
    const mac = kv.key.slice(k.events.length, kv.key.lastIndexOf("/"));
    const list = events.get(mac) ?? [];
    list.push(decodeJson<StoredEvent>(kv));
    events.set(mac, list);
  }
  for (const list of events.values()) list.sort((a, b) => a.seq - b.seq);
  return { machines, rollouts, events };
}
