/**
 * The embedded store's SQLite schema and statements (private).
 *
 * - `meta`: one row, the current revision and the compact revision.
 * - `kv`: the live keys, one row each, for fast reads at the current revision.
 * - `revisions`: every change, `(revision, sub)` in write order; a put keeps its value and revisions, a delete is a
 *   row with `deleted = 1`. Reads at an older revision and watches read here. Compaction removes the rows no read
 *   at or after the compact revision can need.
 * - `leases`: id, TTL and deadline (milliseconds of the store's clock); keys name their lease in `kv.lease`.
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";
import { keyOf } from "./_keys.ts";
import type { KeyValue, WatchEvent } from "./_types.ts";

/** Schema version kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 1;

/** Creates the tables of an empty file (inside the caller's transaction). */
export const SCHEMA = `
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL,
  compact_revision INTEGER NOT NULL
);
INSERT INTO meta (id, revision, compact_revision) VALUES (1, 1, 0);
CREATE TABLE kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;
CREATE TABLE revisions (
  revision INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  UNIQUE (revision, sub)
);
CREATE INDEX revisions_key ON revisions (key, revision);
CREATE TABLE leases (
  id INTEGER PRIMARY KEY,
  ttl INTEGER NOT NULL,
  deadline INTEGER NOT NULL
);
PRAGMA user_version = ${SCHEMA_VERSION};
`;

/** A row of `kv` or a put row of `revisions` as SQLite returns it. */
export interface KvRow {
  key: Uint8Array;
  value: Uint8Array;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease: number;
}

/** A row of `revisions`. */
export interface RevRow extends KvRow {
  sub: number;
  deleted: number;
}

/** A lease row. */
export interface LeaseRow {
  id: number;
  ttl: number;
  deadline: number;
}

/** A row as a {@link KeyValue}. */
export function toKv(r: KvRow): KeyValue {
  const kv: KeyValue = {
    key: keyOf(r.key),
    value: new Uint8Array(r.value),
    createRevision: r.create_revision,
    modRevision: r.mod_revision,
    version: r.version,
  };
  if (r.lease !== 0) kv.lease = String(r.lease);
  return kv;
}

/** A revision row as a {@link WatchEvent}. */
export function toEvent(r: RevRow): WatchEvent {
  if (r.deleted) {
    return {
      type: "delete",
      kv: { key: keyOf(r.key), value: new Uint8Array(0), createRevision: 0, modRevision: r.mod_revision, version: 0 },
    };
  }
  return { type: "put", kv: toKv(r) };
}

const KV_COLS = "key, value, create_revision, mod_revision, version, lease";
const REV_COLS = "key, value, create_revision, revision AS mod_revision, version, lease";
const LATEST = "NOT EXISTS (SELECT 1 FROM revisions n WHERE n.key = r.key AND n.revision > r.revision AND n.revision <= $rev)";

/** Parameters of statements (bun:sqlite named bindings). */
type P = Record<string, string | number | bigint | boolean | null | Uint8Array>;

/** The prepared statements of one open store. */
export interface Statements {
  meta: Statement<{ revision: number; compact_revision: number }, []>;
  setRevision: Statement<unknown, [P]>;
  setCompact: Statement<unknown, [P]>;
  getKv: Statement<KvRow, [P]>;
  rangeKv: Statement<KvRow, [P]>;
  rangeKvOpen: Statement<KvRow, [P]>;
  rangeAt: Statement<KvRow, [P]>;
  rangeAtOpen: Statement<KvRow, [P]>;
  upsertKv: Statement<unknown, [P]>;
  deleteKv: Statement<unknown, [P]>;
  insertRev: Statement<unknown, [P]>;
  eventsFrom: Statement<RevRow, [P]>;
  eventsFromOpen: Statement<RevRow, [P]>;
  compact: Statement<unknown, [P]>;
  keysOfLease: Statement<{ key: Uint8Array }, [P]>;
  getLease: Statement<LeaseRow, [P]>;
  insertLease: Statement<unknown, [P]>;
  setDeadline: Statement<unknown, [P]>;
  deleteLease: Statement<unknown, [P]>;
  dueLeases: Statement<LeaseRow, [P]>;
}

/** Prepares every statement once. */
export function prepare(db: Database): Statements {
  const q = <R, A extends SQLQueryBindings[]>(sql: string): Statement<R, A> => db.query<R, A>(sql) as Statement<R, A>;
  return {
    meta: q("SELECT revision, compact_revision FROM meta WHERE id = 1"),
    setRevision: q("UPDATE meta SET revision = $rev WHERE id = 1"),
    setCompact: q("UPDATE meta SET compact_revision = $rev WHERE id = 1"),
    getKv: q(`SELECT ${KV_COLS} FROM kv WHERE key = $key`),
    rangeKv: q(`SELECT ${KV_COLS} FROM kv WHERE key >= $start AND key < $end ORDER BY key LIMIT $limit`),
    rangeKvOpen: q(`SELECT ${KV_COLS} FROM kv WHERE key >= $start ORDER BY key LIMIT $limit`),
    rangeAt: q(
      `SELECT ${REV_COLS} FROM revisions r WHERE key >= $start AND key < $end AND revision <= $rev AND deleted = 0 AND ${LATEST} ORDER BY key LIMIT $limit`,
    ),
    rangeAtOpen: q(
      `SELECT ${REV_COLS} FROM revisions r WHERE key >= $start AND revision <= $rev AND deleted = 0 AND ${LATEST} ORDER BY key LIMIT $limit`,
    ),
    upsertKv: q(
      `INSERT INTO kv (${KV_COLS}) VALUES ($key, $value, $create, $rev, $version, $lease)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = excluded.version, lease = excluded.lease`,
    ),
    deleteKv: q("DELETE FROM kv WHERE key = $key"),
    insertRev: q(
      `INSERT INTO revisions (revision, sub, key, value, create_revision, version, lease, deleted)
       VALUES ($rev, $sub, $key, $value, $create, $version, $lease, $deleted)`,
    ),
    eventsFrom: q(
      `SELECT ${REV_COLS}, sub, deleted FROM revisions r WHERE (revision, sub) >= ($rev, $sub) AND key >= $start AND key < $end ORDER BY revision, sub LIMIT $limit`,
    ),
    eventsFromOpen: q(
      `SELECT ${REV_COLS}, sub, deleted FROM revisions r WHERE (revision, sub) >= ($rev, $sub) AND key >= $start ORDER BY revision, sub LIMIT $limit`,
    ),
    // A row older than the compact revision is needed only while it is its key's latest and not a deletion.
    compact: q(
      `DELETE FROM revisions WHERE revision < $rev AND (deleted = 1 OR EXISTS
         (SELECT 1 FROM revisions n WHERE n.key = revisions.key AND n.revision > revisions.revision AND n.revision <= $rev))`,
    ),
    keysOfLease: q("SELECT key FROM kv WHERE lease = $lease ORDER BY key"),
    getLease: q("SELECT id, ttl, deadline FROM leases WHERE id = $id"),
    insertLease: q("INSERT INTO leases (id, ttl, deadline) VALUES ($id, $ttl, $deadline)"),
    setDeadline: q("UPDATE leases SET deadline = $deadline WHERE id = $id"),
    deleteLease: q("DELETE FROM leases WHERE id = $id"),
    dueLeases: q("SELECT id, ttl, deadline FROM leases WHERE deadline <= $now ORDER BY deadline, id LIMIT $limit"),
  };
}
