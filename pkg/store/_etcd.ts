/**
 * The etcd backend (private; `openEtcdStore` is re-exported by `index.ts`): the {@link Store} interface over an
 * etcd v3 cluster through the etcd3 client's raw gRPC services, so that revisions, compares, leases and watches
 * are etcd's own. Keys live under an optional namespace `prefix` (stripped from every answer). Limits are checked
 * before sending, exactly as the embedded store checks them, so both backends refuse the same requests with the
 * same codes; etcd's own refusals are mapped too (`_etcd_errors.ts`).
 */
import type { Etcd3, ICompare, IKeyValue, IRequestOp, IResponseOp } from "etcd3";
import { StoreError } from "./_errors.ts";
import { isUnreachable, notSent, toStoreError, unavailable } from "./_etcd_errors.ts";
import { type Etcd3Module, loadEtcd3 } from "./_etcd_load.ts";
import { openEtcdWatch } from "./_etcd_watch.ts";
import { checkKey, checkPutSize, checkTxn, prefixEnd, toByteRange, toBytes } from "./_keys.ts";
import type { Compare, KeyRange, KeyValue, LeaseId, RangeResult, Store, TxnOp, TxnOpResult, Watch } from "./_types.ts";

/** Options of {@link openEtcdStore}. */
export interface EtcdOptions {
  /** Client URLs of the members, e.g. `["http://127.0.0.1:2379"]`. */
  endpoints: string[];
  /** Namespace every key lives under in etcd (default: none). */
  prefix?: string;
  /** How long opening waits for a member to answer before failing with `STORE_UNAVAILABLE` (default 5000 ms). */
  dialTimeoutMs?: number;
  /** Deadline of each request (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Broken watch streams reopened in a row before a watch fails with `STORE_UNAVAILABLE` (default 40). */
  watchReconnects?: number;
}

/** The etcd store: a {@link Store} plus its endpoints. */
export interface EtcdStore extends Store {
  readonly endpoints: readonly string[];
  readonly prefix: string;
}

/** A fault-handling policy that runs the call as is (etcd3 calls only `execute` on a host policy). */
const passThrough = {
  // async: a synchronous throw of `fn` becomes a rejection, as etcd3's callers expect.
  execute: async <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T): Promise<T> =>
    fn({ signal: new AbortController().signal, attempt: 1 }),
} as unknown as NonNullable<NonNullable<ConstructorParameters<Etcd3Module["Etcd3"]>[0]>["faultHandling"]>["global"] & object; // cockatiel's IPolicy has more members than etcd3 uses; only execute is called.

/** etcd's CompareResult and CompareTarget enums, by their numbers on the wire. */
const RESULT = { "=": 0, ">": 1, "<": 2, "!=": 3 } as const;
const TARGET = { version: 0, createRevision: 1, modRevision: 2, value: 3 } as const;
const MAX_TTL = 9_000_000_000;

/** Opens a client on `endpoints` and checks that a member answers; throws `STORE_UNAVAILABLE` (exit 2) if none does. */
export async function openEtcdStore(options: EtcdOptions): Promise<EtcdStore> {
  if (options.endpoints.length === 0) throw new StoreError("STORE_INVALID", "etcd: no endpoints given");
  const { Etcd3 } = await loadEtcd3();
  const requestMs = options.requestTimeoutMs ?? 5000;
  const dialMs = options.dialTimeoutMs ?? 5000;
  const client: Etcd3 = new Etcd3({
    hosts: options.endpoints,
    dialTimeout: dialMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestMs }),
    // No per-member circuit breaker: during an election every member answers "no leader" for a moment, and
    // etcd3's default breaker would then shut all of them out for 5 s. `call` retries with a backoff instead.
    faultHandling: { host: () => passThrough },
    grpcOptions: {
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    },
  });
  const ns = Buffer.from(options.prefix ?? "", "utf8");
  const nsEnd = ns.length ? Buffer.from(prefixEnd(ns) as Uint8Array) : Buffer.from([0]);
  const watches = new Set<Watch>();
  let closed = false;

  const key = (k: string | Uint8Array): Buffer => Buffer.concat([ns, toBytes(k)]);
  const bounds = (keys: string | KeyRange, asString: "prefix" | "key"): { key: Buffer; range_end: Buffer } => {
    const r = toByteRange(keys, asString);
    return { key: key(r.start), range_end: r.end ? key(r.end) : nsEnd };
  };
  const toKv = (kv: IKeyValue): KeyValue => {
    const out: KeyValue = {
      key: kv.key.subarray(ns.length).toString("utf8"),
      value: new Uint8Array(kv.value ?? []),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    if (kv.lease && kv.lease !== "0") out.lease = kv.lease;
    return out;
  };
  const alive = (what: string): void => {
    if (closed) throw new StoreError("STORE_CLOSED", `etcd: ${what}: the store is closed`);
  };
  /**
   * Runs one request, mapping its failure. While a member is down, etcd3's three attempts can all land on members
   * that are not reachable yet; a request that was certainly not sent (no connection), or a read, is tried again
   * on another member until the request deadline. A write that may have reached etcd is never sent twice here.
   */
  const readOnly = new Set(["get", "range", "status"]);
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    alive(what);
    const deadline = Date.now() + requestMs;
    // Bounded by the deadline and by the attempt count.
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const again = attempt < 50 && Date.now() < deadline && !closed && (readOnly.has(what) ? isUnreachable(e) : notSent(e));
        if (!again) throw await toStoreError(e, `etcd ${what}`, compactRevision);
        await Bun.sleep(Math.min(250, 20 * attempt));
      }
    }
  };
  /** The compact revision: the oldest revision a read is not refused at (0 when nothing was compacted). */
  let knownCompact = 0;
  const probe = key("\0compact-probe");
  const readable = (revision: number): Promise<boolean> =>
    client.kv.range({ key: probe, count_only: true, revision }).then(
      () => true,
      (e: unknown) => (String(e).includes("compacted") ? false : Promise.reject(e)),
    );
  const compactRevision = async (): Promise<number> => {
    const head = await client.kv.range({ key: probe, count_only: true });
    let lo = Math.max(1, knownCompact);
    let hi = Number(head.header.revision);
    // Binary search for the first readable revision: at most 64 halvings of a safe-integer range.
    for (let i = 0; i < 64 && lo < hi; i++) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readable(mid)) hi = mid;
      else lo = mid + 1;
    }
    knownCompact = lo <= 1 ? 0 : lo;
    return knownCompact;
  };

  const compare = (c: Compare): ICompare => {
    const base = { key: key(c.key), result: RESULT[c.op], target: TARGET[c.target] };
    if (c.target === "value") return { ...base, value: Buffer.from(toBytes(c.value)) };
    if (c.target === "version") return { ...base, version: c.value };
    if (c.target === "createRevision") return { ...base, create_revision: c.value };
    return { ...base, mod_revision: c.value };
  };
  const request = (op: TxnOp): IRequestOp => {
    if ("put" in op) {
      return { request_put: { key: key(op.put.key), value: Buffer.from(toBytes(op.put.value)), lease: op.put.lease ?? 0 } };
    }
    if ("delete" in op) return { request_delete_range: bounds(op.delete, "key") };
    if ("get" in op) return { request_range: { key: key(op.get) } };
    return { request_range: { ...bounds(op.range, "prefix"), limit: op.limit ?? 0 } };
  };
  const result = (op: TxnOp, res: IResponseOp | undefined, revision: number): TxnOpResult => {
    if ("put" in op) return { put: { revision } };
    if ("delete" in op) return { delete: { deleted: Number(res?.response_delete_range?.deleted ?? 0) } };
    const kvs = (res?.response_range?.kvs ?? []).map(toKv);
    if ("get" in op) return { get: kvs[0] };
    return { range: { kvs, more: Boolean(res?.response_range?.more), revision } };
  };

  const store: EtcdStore = {
    endpoints: [...options.endpoints],
    prefix: options.prefix ?? "",
    get: (k) =>
      call("get", async () => {
        const res = await client.kv.range({ key: key(k) });
        const kv = res.kvs[0];
        return kv ? toKv(kv) : undefined;
      }),
    range: (keys, opts = {}) =>
      call("range", async (): Promise<RangeResult> => {
        const res = await client.kv.range({ ...bounds(keys, "prefix"), limit: opts.limit ?? 0, revision: opts.revision ?? 0 });
        return { kvs: res.kvs.map(toKv), more: res.more, revision: Number(res.header.revision) };
      }),
    async put(k, value, opts = {}) {
      checkKey(k);
      const bytes = toBytes(value);
      checkPutSize(k, bytes);
      return call("put", async () => {
        const res = await client.kv.put({ key: key(k), value: Buffer.from(bytes), lease: opts.lease ?? 0 });
        return Number(res.header.revision);
      });
    },
    delete: (keys) =>
      call("delete", async () => {
        const res = await client.kv.deleteRange(bounds(keys, "key"));
        return { deleted: Number(res.deleted), revision: Number(res.header.revision) };
      }),
    async txn(t) {
      checkTxn(t);
      return call("txn", async () => {
        const res = await client.kv.txn({
          compare: t.compare.map(compare),
          success: t.success.map(request),
          failure: (t.failure ?? []).map(request),
        });
        const revision = Number(res.header.revision);
        const ops = res.succeeded ? t.success : (t.failure ?? []);
        return { succeeded: res.succeeded, revision, results: ops.map((op, i) => result(op, res.responses[i], revision)) };
      });
    },
    watch(keys, opts = {}) {
      const b = bounds(keys, "prefix");
      const from = opts.fromRevision !== undefined && opts.fromRevision > 0 ? opts.fromRevision : undefined;
      let w: Watch | undefined;
      w = openEtcdWatch({
        client,
        start: b.key,
        end: b.range_end,
        fromRevision: from,
        toKv,
        maxReconnects: closed ? 0 : (options.watchReconnects ?? 40),
        onEnd: () => {
          if (w) watches.delete(w);
        },
      });
      if (closed) w.cancel();
      else watches.add(w);
      return w;
    },
    async compact(revision) {
      await call("compact", async () => {
        const head = await client.kv.range({ key: probe, count_only: true });
        if (revision > Number(head.header.revision)) {
          throw new StoreError("STORE_FUTURE_REVISION", `cannot compact at ${revision}: the revision is ${head.header.revision}`);
        }
        await client.kv.compact({ revision, physical: true });
        knownCompact = Math.max(knownCompact, revision);
      });
    },
    status: () =>
      call("status", async () => {
        const head = await client.kv.range({ key: probe, count_only: true });
        return { revision: Number(head.header.revision), compactRevision: await compactRevision() };
      }),
    async grant(ttl) {
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) {
        throw new StoreError("STORE_INVALID", `lease TTL must be a whole number of seconds from 1 to ${MAX_TTL}, got ${ttl}`);
      }
      return call("grant", async () => (await client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).ID);
    },
    keepAlive: (id) => call("keepAlive", () => keepAliveOnce(client, id, requestMs)),
    revoke: (id) =>
      call("revoke", async () => {
        await client.leaseClient.leaseRevoke({ ID: id });
      }),
    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...watches]) w.cancel();
      client.close();
    },
  };

  try {
    await client.kv.range({ key: probe, count_only: true }, { deadline: Date.now() + dialMs });
  } catch (e) {
    client.close();
    closed = true;
    if (!isUnreachable(e)) throw await toStoreError(e, "etcd open", async () => 0);
    throw unavailable(`etcd: no member of ${options.endpoints.join(",")} answered within ${dialMs} ms`, e, {
      endpoints: options.endpoints,
    });
  }
  return store;
}

/** One keep-alive round trip on its own stream: etcd answers TTL 0 for a lease it does not know. */
async function keepAliveOnce(client: Etcd3, id: LeaseId, timeoutMs: number): Promise<number> {
  const stream = await client.leaseClient.leaseKeepAlive();
  // grpc-js' duplex stream has cancel(); etcd3's declared type omits it.
  const cancel = (): void => (stream as unknown as { cancel?: () => void }).cancel?.();
  try {
    const ttl = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable(`etcd keepAlive: no answer within ${timeoutMs} ms`)), timeoutMs);
      stream.on("data", (res) => {
        clearTimeout(timer);
        resolve(Number(res.TTL));
      });
      stream.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      stream.write({ ID: id });
    });
    if (ttl <= 0) throw new StoreError("STORE_LEASE_NOT_FOUND", `lease ${id} not found`, { detail: { lease: id } });
    return ttl;
  } finally {
    stream.end();
    cancel();
  }
}
