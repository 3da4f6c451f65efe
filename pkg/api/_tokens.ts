/**
 * Bearer tokens over pkg/store: only each token's SHA-256 is kept, under `/vaquero/tokens/<name>` as JSON
 * `{name, role, site?, sha256, created_at}`, so every instance on a shared store knows every token. A token is
 * 32 random bytes, base64url; it is seen once, when issued, and never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { VaqueroError } from "../../internal/errors/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";

/** Roles of API.md: `viewer` < `operator` < `admin`; `agent` stands apart (the agent link of one site). */
export const ROLES = ["viewer", "operator", "admin", "agent"] as const;
/** A token's role. */
export type Role = (typeof ROLES)[number];

/** A stored token: never the token itself. */
export interface TokenRecord {
  name: string;
  role: Role;
  /** The one site the token acts on; absent: every site. */
  site?: string;
  /** Lower-case hex SHA-256 of the token's UTF-8 text. */
  sha256: string;
  created_at: string;
}

/** Where tokens live in the store. */
export const TOKEN_PREFIX = "/vaquero/tokens/";
/** Token and site names: what a store key and a log line can hold safely. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Longest token text looked at; anything longer is no token of ours. */
export const MAX_TOKEN_LENGTH = 512;
/** Most tokens the store answers for (a bound on every scan). */
const MAX_TOKENS = 10_000;
const HEX64 = /^[0-9a-f]{64}$/;

/** A new random token: 32 bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Lower-case hex SHA-256 of a token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** True when `r` is a well-formed stored token. */
export function isTokenRecord(r: unknown): r is TokenRecord {
  if (typeof r !== "object" || r === null) return false;
  const t = r as Record<string, unknown>;
  return (
    typeof t.name === "string" &&
    NAME_RE.test(t.name) &&
    typeof t.role === "string" &&
    (ROLES as readonly string[]).includes(t.role) &&
    (t.site === undefined || (typeof t.site === "string" && NAME_RE.test(t.site))) &&
    typeof t.sha256 === "string" &&
    HEX64.test(t.sha256)
  );
}

/** The tokens of a store. */
export interface TokenStore {
  /** The record whose hash matches `token` (compared in constant time), or undefined. */
  verify(token: string): Promise<TokenRecord | undefined>;
  /** Issues a new token; `TOKEN_EXISTS` when the name is taken. */
  issue(r: { name: string; role: Role; site?: string }): Promise<{ record: TokenRecord; token: string }>;
  /** Stores a record made elsewhere (the admin token); `TOKEN_EXISTS` when the name is taken. */
  add(record: TokenRecord): Promise<void>;
  /** Every well-formed stored token, by name. */
  list(): Promise<TokenRecord[]>;
  /** Replaces every stored token with `records`, in one transaction. */
  replace(records: readonly TokenRecord[]): Promise<void>;
}

/** The tokens kept in `store`; `now` in ms since the epoch stamps new ones. */
export function createTokenStore(store: Store, now: () => number = Date.now): TokenStore {
  const list = async (): Promise<TokenRecord[]> => {
    const r = await store.range(TOKEN_PREFIX, { limit: MAX_TOKENS });
    const out: TokenRecord[] = [];
    for (const kv of r.kvs) {
      let rec: unknown;
      try {
        rec = decodeJson(kv);
      } catch {
        continue;
      }
      if (isTokenRecord(rec)) out.push(rec);
    }
    return out;
  };
  const add = async (record: TokenRecord): Promise<void> => {
    const key = TOKEN_PREFIX + record.name;
    const t = await store.txn({
      compare: [{ key, target: "version", op: "=", value: 0 }],
      success: [{ put: { key, value: encodeJson(record) } }],
    });
    if (!t.succeeded) throw new VaqueroError("TOKEN_EXISTS", `a token named "${record.name}" exists already`);
  };
  return {
    async verify(token) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
      const want = createHash("sha256").update(token, "utf8").digest();
      let found: TokenRecord | undefined;
      // Every record is compared, each in constant time, so the answer's timing says nothing of the hashes.
      for (const rec of await list()) {
        if (timingSafeEqual(Buffer.from(rec.sha256, "hex"), want) && !found) found = rec;
      }
      return found;
    },
    async issue({ name, role, site }) {
      const token = newToken();
      const record: TokenRecord = {
        name,
        role,
        ...(site === undefined ? {} : { site }),
        sha256: hashToken(token),
        created_at: new Date(now()).toISOString(),
      };
      await add(record);
      return { record, token };
    },
    add,
    list,
    async replace(records) {
      // One transaction: the stored tokens the file does not name are deleted one by one, the others put. (A
      // prefix delete beside puts inside that prefix is refused by etcd as a key written twice.)
      const keep = new Set(records.map((r) => TOKEN_PREFIX + r.name));
      const stored = await store.range(TOKEN_PREFIX, { limit: MAX_TOKENS * 10 });
      await store.txn({
        compare: [],
        success: [
          ...stored.kvs.filter((kv) => !keep.has(kv.key)).map((kv) => ({ delete: kv.key })),
          ...records.map((r) => ({ put: { key: TOKEN_PREFIX + r.name, value: encodeJson(r) } })),
        ],
      });
    },
  };
}
