/**
 * The embedded backend (private; `openEmbeddedStore` is re-exported by `index.ts`): one SQLite file through
 * bun:sqlite in WAL mode. Every mutation and every transaction is one SQLite transaction that also moves the
 * revision in `meta`, so an acknowledged write is in the file with its revision, and a crash loses nothing that
 * was acknowledged (with `NORMAL` durability: unless the machine itself loses power; see docs/operations.md).
 */
import { compactedError, StoreError } from "./_errors.ts";
import { type ByteRange, checkKey, checkPutSize, checkTxn, compareBytes, toByteRange, toBytes } from "./_keys.ts";
import { createLeases, type LeaseClock } from "./_lease.ts";
import { type Durability, openFile } from "./_open.ts";
import { type KvRow, prepare, type RevRow, type Statements, toEvent, toKv } from "./_sql.ts";
import type { Compare, DeleteResult, LeaseId, RangeResult, Store, Txn, TxnOp, TxnOpResult, TxnResult } from "./_types.ts";
import { createWatchHub } from "./_watch.ts";

/** Options of {@link openEmbeddedStore}. */
export interface EmbeddedOptions {
  /** The store file, e.g. `<data-dir>/vaquero.db`; its directory must exist. */
  path: string;
  /** Clock of lease deadlines, in milliseconds (default `Date.now`). */
  now?: () => number;
  /** `NORMAL` (default): commits survive a crash of Vaquero, the last ones may not survive a power loss. `FULL`: they do. */
  durability?: Durability;
  /** Milliseconds between checks for expired leases (default 500, at least 10); `false`: only {@link EmbeddedStore.expireLeases}. */
  leaseCheckMs?: number | false;
  /** Told of a failed timed lease check (the next one tries again). */
  onError?: (e: unknown) => void;
}

/** The embedded store: a {@link Store} plus what only a local store can offer. */
export interface EmbeddedStore extends Store {
  /** The file's absolute path. */
  readonly path: string;
  /** Expires every lease whose deadline has passed now; returns how many. The timer calls it too. */
  expireLeases(): Promise<number>;
}

/** Where one write (a put, a delete, a transaction) stands: its revision, the next sub-revision, whether it wrote. */
export interface Writer {
  rev: number;
  sub: number;
  wrote: boolean;
}

const NO_LIMIT = -1;

/** Opens (or creates) the store at `options.path`; throws STORE_OPEN, STORE_LOCKED or STORE_CORRUPT. */
export async function openEmbeddedStore(options: EmbeddedOptions): Promise<EmbeddedStore> {
  const file = openFile(options.path, options.durability ?? "NORMAL");
  const { db } = file;
  const st: Statements = prepare(db);
  const now = options.now ?? Date.now;
  let closed = false;

  const alive = (): void => {
    if (closed) throw new StoreError("STORE_CLOSED", `"${file.path}" is closed`);
  };
  const meta = (): { revision: number; compact_revision: number } => st.meta.get() ?? { revision: 1, compact_revision: 0 };

  const hub = createWatchHub({
    compactRevision: () => (closed ? 0 : meta().compact_revision),
    read(range, rev, sub, limit) {
      if (closed) return [];
      const p = { rev, sub, start: range.start, limit, ...(range.end ? { end: range.end } : {}) };
      const rows: RevRow[] = range.end ? st.eventsFrom.all(p) : st.eventsFromOpen.all(p);
      return rows.map((r) => ({ event: toEvent(r), sub: r.sub }));
    },
  });

  /** Runs `fn` as one SQLite transaction with a writer; commits the revision if it wrote; wakes the watches. */
  const write = <T>(fn: (w: Writer) => T): { value: T; revision: number } => {
    alive();
    const out = db
      .transaction(() => {
        const w: Writer = { rev: meta().revision + 1, sub: 0, wrote: false };
        const value = fn(w);
        if (w.wrote) st.setRevision.run({ rev: w.rev });
        return { value, revision: w.wrote ? w.rev : w.rev - 1, wrote: w.wrote };
      })
      .immediate();
    if (out.wrote) hub.notify();
    return { value: out.value, revision: out.revision };
  };

  const putOne = (w: Writer, key: string, value: Uint8Array, lease: LeaseId | undefined): void => {
    checkKey(key);
    const leaseNo = lease === undefined ? 0 : leases.require(lease);
    const k = toBytes(key);
    const prev = st.getKv.get({ key: k });
    const row = {
      key: k,
      value,
      create: prev ? prev.create_revision : w.rev,
      rev: w.rev,
      version: prev ? prev.version + 1 : 1,
      lease: leaseNo,
    };
    st.upsertKv.run(row);
    st.insertRev.run({ rev: w.rev, sub: w.sub++, key: k, value, create: row.create, version: row.version, lease: leaseNo, deleted: 0 });
    w.wrote = true;
  };

  const deleteKeys = (w: Writer, keys: Uint8Array[]): number => {
    for (const key of keys) {
      st.deleteKv.run({ key });
      st.insertRev.run({ rev: w.rev, sub: w.sub++, key, value: new Uint8Array(0), create: 0, version: 0, lease: 0, deleted: 1 });
      w.wrote = true;
    }
    return keys.length;
  };

  const rangeRows = (range: ByteRange, limit: number, revision?: number): KvRow[] => {
    const p = { start: range.start, limit, ...(range.end ? { end: range.end } : {}) };
    if (revision === undefined) return range.end ? st.rangeKv.all(p) : st.rangeKvOpen.all(p);
    return range.end ? st.rangeAt.all({ ...p, rev: revision }) : st.rangeAtOpen.all({ ...p, rev: revision });
  };

  const readRange = (keys: ByteRange, limit?: number, revision?: number): RangeResult => {
    const m = meta();
    if (revision !== undefined && revision > 0) {
      if (revision > m.revision) throw new StoreError("STORE_FUTURE_REVISION", `revision ${revision} is newer than ${m.revision}`);
      if (revision < m.compact_revision) throw compactedError(revision, m.compact_revision);
    }
    const at = revision !== undefined && revision > 0 && revision < m.revision ? revision : undefined;
    const want = limit !== undefined && limit > 0 ? limit : undefined;
    const rows = rangeRows(keys, want === undefined ? NO_LIMIT : want + 1, at);
    const more = want !== undefined && rows.length > want;
    return { kvs: (more ? rows.slice(0, want) : rows).map(toKv), more, revision: m.revision };
  };

  const holds = (c: Compare): boolean => {
    const row = st.getKv.get({ key: toBytes(c.key) });
    let d: number;
    if (c.target === "value") {
      if (!row) return false;
      d = compareBytes(row.value, toBytes(c.value));
    } else {
      const field = { version: "version", createRevision: "create_revision", modRevision: "mod_revision" } as const;
      d = (row ? row[field[c.target]] : 0) - c.value;
    }
    return c.op === "=" ? d === 0 : c.op === "!=" ? d !== 0 : c.op === "<" ? d < 0 : d > 0;
  };

  const runOp = (w: Writer, op: TxnOp): TxnOpResult => {
    if ("put" in op) {
      putOne(w, op.put.key, toBytes(op.put.value), op.put.lease);
      return { put: { revision: w.rev } };
    }
    if ("delete" in op) {
      const rows = rangeRows(toByteRange(op.delete, "key"), NO_LIMIT);
      return {
        delete: {
          deleted: deleteKeys(
            w,
            rows.map((r) => r.key),
          ),
        },
      };
    }
    if ("get" in op) {
      const row = st.getKv.get({ key: toBytes(op.get) });
      return { get: row ? toKv(row) : undefined };
    }
    return { range: readRange(toByteRange(op.range, "prefix"), op.limit) };
  };

  const leases = createLeases({
    st,
    clock: { now } satisfies LeaseClock,
    write,
    deleteKeys,
  });

  const store: EmbeddedStore = {
    path: file.path,
    async get(key) {
      alive();
      const row = st.getKv.get({ key: toBytes(key) });
      return row ? toKv(row) : undefined;
    },
    async range(keys, options = {}) {
      alive();
      return readRange(toByteRange(keys, "prefix"), options.limit, options.revision);
    },
    async put(key, value, options = {}) {
      const bytes = toBytes(value);
      checkKey(key);
      checkPutSize(key, bytes);
      return write((w) => putOne(w, key, bytes, options.lease)).revision;
    },
    async delete(keys): Promise<DeleteResult> {
      const range = toByteRange(keys, "key");
      const { value, revision } = write((w) =>
        deleteKeys(
          w,
          rangeRows(range, NO_LIMIT).map((r) => r.key),
        ),
      );
      return { deleted: value, revision };
    },
    async txn(t: Txn): Promise<TxnResult> {
      checkTxn(t);
      const { value, revision } = write((w) => {
        const succeeded = t.compare.every(holds);
        const results = (succeeded ? t.success : (t.failure ?? [])).map((op) => runOp(w, op));
        return { succeeded, results };
      });
      return { ...value, revision };
    },
    watch(keys, options = {}) {
      const range = toByteRange(keys, "prefix");
      const from = options.fromRevision !== undefined && options.fromRevision > 0 ? options.fromRevision : closed ? 0 : meta().revision + 1;
      return hub.open(range, from);
    },
    async compact(revision) {
      alive();
      db.transaction(() => {
        const m = meta();
        if (revision > m.revision)
          throw new StoreError("STORE_FUTURE_REVISION", `cannot compact at ${revision}: the revision is ${m.revision}`);
        if (revision <= m.compact_revision) throw compactedError(revision, m.compact_revision);
        st.compact.run({ rev: revision });
        st.setCompact.run({ rev: revision });
      }).immediate();
    },
    async status() {
      alive();
      const m = meta();
      return { revision: m.revision, compactRevision: m.compact_revision };
    },
    async grant(ttl) {
      alive();
      return leases.grant(ttl);
    },
    async keepAlive(id) {
      alive();
      return leases.keepAlive(id);
    },
    async revoke(id) {
      alive();
      leases.revoke(id);
    },
    async expireLeases() {
      alive();
      return leases.expire();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      hub.close();
      file.release();
    },
  };

  // Leases whose deadline passed while the store was closed end now, before anyone reads.
  leases.expire();
  const every = options.leaseCheckMs === false ? false : Math.max(10, options.leaseCheckMs ?? 500);
  const timer =
    every === false
      ? undefined
      : setInterval(() => {
          try {
            if (!closed) leases.expire();
          } catch (e) {
            options.onError?.(e);
          }
        }, every);
  timer?.unref();
  return store;
}
