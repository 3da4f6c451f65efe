/**
 * pkg/store — the one interface every piece of durable state in Vaquero goes through: keys with revisions,
 * history until compaction, transactions, watches and leases, modelled on etcd v3 so that the embedded backend
 * (bun:sqlite, one file under the data directory) and an etcd backend are interchangeable. Both must pass the one
 * conformance suite (`_conformance.ts`).
 *
 * Errors are {@link StoreError}s with stable codes (`STORE_COMPACTED`, `STORE_TOO_LARGE`, `STORE_TOO_MANY_OPS`,
 * `STORE_LOCKED`, `STORE_CORRUPT`, `STORE_OPEN`, …; see {@link STORE_CODES}).
 *
 * @example
 * const store = await openEmbeddedStore({ path: join(dataDir, "vaquero.db") });
 * const rev = await store.put("/vaquero/sites/lab/desired", encodeJson({ release: "r1" }));
 * const t = await store.txn({
 *   compare: [{ key: "/vaquero/leader", target: "version", op: "=", value: 0 }],
 *   success: [{ put: { key: "/vaquero/leader", value: "me", lease: await store.grant(10) } }],
 * });
 * for await (const ev of store.watch("/vaquero/sites/lab/", { fromRevision: rev })) log.info(ev.kv.key, ev.type);
 */
export { type EmbeddedOptions, type EmbeddedStore, openEmbeddedStore } from "./_embedded.ts";
export { isStoreError, MAX_REQUEST_BYTES, MAX_TXN_OPS, STORE_CODES, type StoreCode, StoreError } from "./_errors.ts";
export { type EtcdOptions, type EtcdStore, openEtcdStore } from "./_etcd.ts";
export { decodeJson, encodeJson, getJson, putJson } from "./_json.ts";
export type { Durability } from "./_open.ts";
export type {
  Compare,
  CompareOp,
  DeleteResult,
  KeyRange,
  KeyValue,
  LeaseId,
  PutOptions,
  RangeOptions,
  RangeResult,
  Store,
  Txn,
  TxnOp,
  TxnOpResult,
  TxnResult,
  Watch,
  WatchEvent,
  WatchOptions,
} from "./_types.ts";
