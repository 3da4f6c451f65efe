/**
 * The store's contract (private; re-exported by `index.ts`): etcd v3's key-value model with revisions, so that the
 * embedded backend and an etcd backend are interchangeable behind {@link Store}.
 *
 * Every mutation that changes something moves the store's revision up by one; a transaction moves it once for all
 * its writes. A key's `createRevision` is the revision that created it (since its last deletion), `modRevision`
 * the last that changed it, `version` the number of puts since it was created. History is kept until compaction,
 * so readers and watchers can ask for an older revision.
 */

/** A lease id: the decimal form of a positive 63-bit integer, as etcd gives them. */
export type LeaseId = string;

/** One key with its value and revisions. */
export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Revision that created the key (since its last deletion). */
  createRevision: number;
  /** Revision of the last change. */
  modRevision: number;
  /** Puts since creation: 1 after the first. */
  version: number;
  /** The lease the key is attached to; absent when none. */
  lease?: LeaseId;
}

/** Keys starting with `prefix`, or the keys in `[start, end)` (no `end`: every key from `start` on). */
export type KeyRange = { prefix: string } | { start: string; end?: string };

/** Options of {@link Store.range}. */
export interface RangeOptions {
  /** At most this many keys (in key order); `more` tells whether there were others. */
  limit?: number;
  /** Read as of this revision (not older than the compact revision, not newer than the current one). */
  revision?: number;
}

/** What {@link Store.range} returns. */
export interface RangeResult {
  /** The keys, in byte order of their UTF-8 form. */
  kvs: KeyValue[];
  /** True when `limit` left keys out. */
  more: boolean;
  /** The store's revision when it was read. */
  revision: number;
}

/** Options of {@link Store.put}. */
export interface PutOptions {
  /** Attach the key to a lease: revoking or expiring the lease deletes it. */
  lease?: LeaseId;
}

/** A compare of a transaction. A missing key has version, createRevision and modRevision 0; a value compare on it fails. */
export type Compare =
  | { key: string; target: "value"; op: CompareOp; value: Uint8Array | string }
  | { key: string; target: "version" | "createRevision" | "modRevision"; op: CompareOp; value: number };

/** Compare operators: on numbers, and on values byte by byte. */
export type CompareOp = "=" | "!=" | "<" | ">";

/** One operation of a transaction. */
export type TxnOp =
  | { put: { key: string; value: Uint8Array | string; lease?: LeaseId } }
  | { delete: string | KeyRange }
  | { get: string }
  | { range: string | KeyRange; limit?: number };

/** The result of one {@link TxnOp}, in the same order. */
export type TxnOpResult =
  | { put: { revision: number } }
  | { delete: { deleted: number } }
  | { get: KeyValue | undefined }
  | { range: RangeResult };

/** A transaction: if every compare holds, `success` runs, else `failure`, atomically. */
export interface Txn {
  compare: Compare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

/** What {@link Store.txn} returns. */
export interface TxnResult {
  succeeded: boolean;
  results: TxnOpResult[];
  /** The store's revision after the transaction. */
  revision: number;
}

/** What {@link Store.delete} returns. */
export interface DeleteResult {
  deleted: number;
  /** The store's revision after the delete (unchanged when nothing was deleted). */
  revision: number;
}

/** A change seen by a watcher. A delete's `kv` has the key, `modRevision` (the deleting revision) and an empty value. */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
}

/** Options of {@link Store.watch}. */
export interface WatchOptions {
  /** First revision to report (inclusive); default: changes after the current revision. */
  fromRevision?: number;
}

/**
 * A running watch: iterate it for events in revision order (within a revision, in the order of the writes).
 * Iteration fails with `STORE_COMPACTED` (carrying `compactRevision`) when the history it needs is compacted.
 * `cancel()` (or leaving a `for await` loop) ends it.
 */
export interface Watch extends AsyncIterable<WatchEvent> {
  cancel(): void;
}

/** The one interface every piece of durable state in Vaquero goes through. */
export interface Store {
  /** The key's current value and revisions; undefined when absent. */
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys under a prefix (a string is a prefix) or in a range, in key order. */
  range(keys: string | KeyRange, options?: RangeOptions): Promise<RangeResult>;
  /** Writes one key; returns the new revision. */
  put(key: string, value: Uint8Array | string, options?: PutOptions): Promise<number>;
  /** Deletes one key (a string) or a prefix or range. */
  delete(keys: string | KeyRange): Promise<DeleteResult>;
  /** Runs a transaction atomically. */
  txn(t: Txn): Promise<TxnResult>;
  /** Changes under a prefix (a string is a prefix) or in a range. */
  watch(keys: string | KeyRange, options?: WatchOptions): Watch;
  /** Drops history older than `revision`: reads and watches from before it fail with `STORE_COMPACTED`. */
  compact(revision: number): Promise<void>;
  /** The current revision and the compact revision. */
  status(): Promise<{ revision: number; compactRevision: number }>;
  /** Creates a lease that expires `ttlSeconds` after its grant or last keep-alive. */
  grant(ttlSeconds: number): Promise<LeaseId>;
  /** Renews a lease for its full TTL; returns the TTL. Fails with `STORE_LEASE_NOT_FOUND` once it expired. */
  keepAlive(id: LeaseId): Promise<number>;
  /** Ends a lease now, deleting its keys (one revision, delete events for each). */
  revoke(id: LeaseId): Promise<void>;
  /** Stops watches and timers and releases the store; later calls fail with `STORE_CLOSED`. */
  close(): Promise<void>;
}
