/**
 * etcd's errors as {@link StoreError}s (private). etcd answers with gRPC statuses whose messages carry its own
 * error text (`etcdserver: mvcc: required revision has been compacted`, `etcdserver: request is too large`, …);
 * etcd3 turns them into its error classes. Both are matched here, by message first (stable across etcd versions
 * since 3.0) and then by gRPC status code, so every failure of the etcd backend has a stable code.
 */
import { describeError } from "../../internal/errors/index.ts";
import { StoreError } from "./_errors.ts";

/** gRPC status codes that mean the cluster could not be reached or could not answer in time. */
const UNAVAILABLE_GRPC = new Set([4, 14]); // DEADLINE_EXCEEDED, UNAVAILABLE

/** The numeric gRPC status code of an error from etcd3, when it carries one. */
function grpcCode(e: unknown): number | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/**
 * Maps an error of etcd3 to a {@link StoreError}. `compactRevision` is asked for only when the error is a
 * compaction (etcd's message does not carry the number), so the common paths cost nothing.
 */
export async function toStoreError(e: unknown, what: string, compactRevision: () => Promise<number>): Promise<StoreError> {
  if (e instanceof StoreError) return e;
  const message = describeError(e);
  const m = message.toLowerCase();
  if (m.includes("required revision has been compacted")) {
    let rev = 0;
    try {
      rev = await compactRevision();
    } catch {
      // The compaction is certain; the number is best effort when the cluster went away meanwhile.
    }
    return new StoreError("STORE_COMPACTED", `${what}: the revision is compacted (compact revision ${rev})`, {
      compactRevision: rev,
      cause: e,
    });
  }
  if (m.includes("future revision")) return new StoreError("STORE_FUTURE_REVISION", `${what}: ${message}`, { cause: e });
  if (m.includes("request is too large") || m.includes("larger than max") || grpcCode(e) === 8) {
    return new StoreError("STORE_TOO_LARGE", `${what}: ${message}`, { cause: e });
  }
  if (m.includes("too many operations in txn")) return new StoreError("STORE_TOO_MANY_OPS", `${what}: ${message}`, { cause: e });
  if (m.includes("lease not found") || (e instanceof Error && e.name === "EtcdLeaseInvalidError")) {
    return new StoreError("STORE_LEASE_NOT_FOUND", `${what}: lease not found`, { cause: e });
  }
  if (m.includes("duplicate key") || m.includes("empty key") || m.includes("key is not provided")) {
    return new StoreError("STORE_INVALID", `${what}: ${message}`, { cause: e });
  }
  if (e instanceof Error && e.name === "ClientClosedError")
    return new StoreError("STORE_CLOSED", `${what}: the client is closed`, { cause: e });
  return unavailable(`${what}: ${message}`, e);
}

/** True when `e` (from etcd3) says the cluster was not reached, rather than that it refused the request. */
export function isUnreachable(e: unknown): boolean {
  const code = grpcCode(e);
  if (code !== undefined) return UNAVAILABLE_GRPC.has(code);
  return /unavailable|deadline|no connection|econnrefused|connect/i.test(describeError(e));
}

/** True when `e` says the request never left the client (no connection, a host's circuit open): safe to send again. */
export function notSent(e: unknown): boolean {
  return /no connection established|econnrefused|circuit|no connection available|etcdserver: no leader/i.test(
    `${describeError(e)} ${e instanceof Error ? e.name : ""}`,
  );
}

/** The `STORE_UNAVAILABLE` error. */
export function unavailable(message: string, cause?: unknown, detail?: Record<string, unknown>): StoreError {
  return new StoreError("STORE_UNAVAILABLE", message, { cause, ...(detail ? { detail } : {}) });
}
