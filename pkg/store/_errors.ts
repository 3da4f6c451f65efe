/** Typed errors and limits of the store (private; re-exported by `index.ts`). */
import { VaqueroError } from "../../internal/errors/index.ts";

/** Stable codes of {@link StoreError}. */
export const STORE_CODES = {
  /** The revision asked for is older than the compact revision; `compactRevision` tells the oldest one left. */
  STORE_COMPACTED: "history before the compact revision is gone",
  /** A revision newer than the current one. */
  STORE_FUTURE_REVISION: "the revision does not exist yet",
  /** A value or request over {@link MAX_REQUEST_BYTES}. */
  STORE_TOO_LARGE: "request too large",
  /** A transaction branch or compare list over {@link MAX_TXN_OPS}. */
  STORE_TOO_MANY_OPS: "too many operations in a transaction",
  /** The lease does not exist (never granted, revoked or expired). */
  STORE_LEASE_NOT_FOUND: "lease not found",
  /** A malformed request: empty key, a key written twice in one transaction, a bad TTL. */
  STORE_INVALID: "invalid request",
  /** Another process (or another handle in this one) has the store open. */
  STORE_LOCKED: "the store is open elsewhere",
  /** The file is not a Vaquero store (not SQLite, or another schema); nothing was written to it. */
  STORE_CORRUPT: "not a readable store",
  /** The store cannot be opened: missing or unwritable directory, I/O error. */
  STORE_OPEN: "cannot open the store",
  /** The store's cluster cannot be reached (etcd: no member answered within the dial or request timeout). */
  STORE_UNAVAILABLE: "the store cannot be reached",
  /** The store was closed. */
  STORE_CLOSED: "the store is closed",
} as const;

/** A code of {@link STORE_CODES}. */
export type StoreCode = keyof typeof STORE_CODES;

/** etcd's default `--max-request-bytes`: 1.5 MiB for a put (key and value) or a whole transaction's writes. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** etcd's default `--max-txn-ops`: compares, success ops and failure ops, each. */
export const MAX_TXN_OPS = 128;

/** An error of the store, with a stable {@link StoreCode}. */
export class StoreError extends VaqueroError {
  override readonly code: StoreCode;
  /** With `STORE_COMPACTED`: the compact revision (the oldest revision still readable). */
  readonly compactRevision: number | undefined;

  constructor(
    code: StoreCode,
    message: string,
    options: { detail?: Record<string, unknown>; cause?: unknown; compactRevision?: number } = {},
  ) {
    const environment = code === "STORE_LOCKED" || code === "STORE_CORRUPT" || code === "STORE_OPEN" || code === "STORE_UNAVAILABLE";
    super(code, `store: ${message}`, {
      exitCode: environment ? 2 : 1,
      detail: { ...(options.detail ?? {}), ...(options.compactRevision === undefined ? {} : { compactRevision: options.compactRevision }) },
      cause: options.cause,
    });
    this.name = "StoreError";
    this.code = code;
    this.compactRevision = options.compactRevision;
  }
}

/** True when `e` is a {@link StoreError}, optionally with the given code. */
export function isStoreError(e: unknown, code?: StoreCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}

/** The `STORE_COMPACTED` error for a request of `revision`. */
export function compactedError(revision: number, compactRevision: number): StoreError {
  return new StoreError("STORE_COMPACTED", `revision ${revision} is compacted (compact revision ${compactRevision})`, {
    compactRevision,
    detail: { revision },
  });
}
