/**
 * Opening the embedded store's file (private): the directory checks, the ownership lock, the recognition of a
 * file that is not a Vaquero store, and the pragmas.
 *
 * Ownership: `<path>.lock` is a small SQLite file on which the owner holds an open `BEGIN EXCLUSIVE` transaction
 * for as long as the store is open. The operating system drops that lock when the process ends, however it ends,
 * so a crash never leaves a stale lock behind, and the store file itself stays readable by `sqlite3 .backup`.
 * Inside one process, a path is opened once (closing a second handle on a file would drop the first one's lock).
 */
import { Database } from "bun:sqlite";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describeError } from "../../internal/errors/index.ts";
import { StoreError } from "./_errors.ts";
import { SCHEMA, SCHEMA_VERSION } from "./_sql.ts";

/** How commits reach the disk: see docs/operations.md, "Stores". */
export type Durability = "NORMAL" | "FULL";

/** Paths open in this process. */
const openHere = new Set<string>();

/** An open, owned, checked database and the means to let it go. */
export interface OpenedFile {
  path: string;
  db: Database;
  /** Closes the database and drops the lock. */
  release(): void;
}

/** Opens (creating when absent) the store file at `path`; throws STORE_OPEN, STORE_LOCKED or STORE_CORRUPT. */
export function openFile(path: string, durability: Durability): OpenedFile {
  const file = resolve(path);
  checkPlace(file);
  if (openHere.has(file)) throw locked(file);
  const lock = takeLock(file);
  openHere.add(file);
  let db: Database | undefined;
  try {
    db = openChecked(file);
    db.run("PRAGMA journal_mode = WAL");
    db.run(`PRAGMA synchronous = ${durability}`);
    db.run("PRAGMA busy_timeout = 0");
    const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    if (version === 0) db.transaction(() => db?.run(SCHEMA)).immediate();
    const opened = db;
    return {
      path: file,
      db: opened,
      release() {
        opened.close();
        lock.close();
        openHere.delete(file);
      },
    };
  } catch (e) {
    db?.close();
    lock.close();
    openHere.delete(file);
    if (e instanceof StoreError) throw e;
    throw new StoreError("STORE_OPEN", `cannot open "${file}": ${describeError(e)}`, { cause: e, detail: { path: file } });
  }
}

function checkPlace(file: string): void {
  const dir = dirname(file);
  const fail = (why: string): never => {
    throw new StoreError("STORE_OPEN", `cannot open "${file}": ${why}`, { detail: { path: file } });
  };
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(dir);
  } catch {
    fail(`directory "${dir}" does not exist`);
  }
  if (!st?.isDirectory()) fail(`"${dir}" is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    fail(`directory "${dir}" is not writable`);
  }
  if (existsSync(file) && !statSync(file).isFile()) fail("not a regular file");
}

function locked(file: string): StoreError {
  return new StoreError("STORE_LOCKED", `"${file}" is in use by another Vaquero process (or already open in this one)`, {
    detail: { path: file, lock: `${file}.lock` },
  });
}

function takeLock(file: string): Database {
  let lock: Database | undefined;
  try {
    lock = new Database(`${file}.lock`, { create: true });
    lock.run("PRAGMA busy_timeout = 0");
    lock.run("BEGIN EXCLUSIVE");
    return lock;
  } catch (e) {
    lock?.close();
    if (/locked|busy/i.test(describeError(e))) throw locked(file);
    throw new StoreError("STORE_OPEN", `cannot take the lock "${file}.lock": ${describeError(e)}`, { cause: e, detail: { path: file } });
  }
}

/** Opens `file` and proves it is SQLite and, unless empty, a Vaquero store, before anything writes to it. */
function openChecked(file: string): Database {
  const corrupt = (why: string, cause?: unknown): StoreError =>
    new StoreError("STORE_CORRUPT", `"${file}" is not a Vaquero store (${why}); it was left untouched`, { cause, detail: { path: file } });
  let db: Database;
  try {
    db = new Database(file, { create: true, strict: true });
  } catch (e) {
    if (/not a database|malformed/i.test(describeError(e))) throw corrupt(describeError(e), e);
    throw e;
  }
  try {
    const tables = db.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    const names = new Set(tables.map((t) => t.name));
    if (tables.length > 0 && !["meta", "kv", "revisions", "leases"].every((t) => names.has(t))) throw corrupt("other tables");
    if (tables.length > 0 && version !== SCHEMA_VERSION) throw corrupt(`schema version ${version}, this Vaquero reads ${SCHEMA_VERSION}`);
    if (tables.length === 0 && version !== 0) throw corrupt(`schema version ${version} without tables`);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof StoreError) throw e;
    throw corrupt(describeError(e), e);
  }
}
