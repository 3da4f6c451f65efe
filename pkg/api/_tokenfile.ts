/**
 * Where tokens come from at start: `--tokens-file` (YAML `tokens: [{name, role, site?, sha256}]`, replacing every
 * stored token), else the store, with an admin token generated on first start and written to
 * `<data-dir>/admin.token` (mode 0600, written to a temporary file and renamed). The token is never logged.
 */
import { chmod, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import type { Store } from "../store/index.ts";
import { createTokenStore, hashToken, NAME_RE, newToken, ROLES, type TokenRecord, type TokenStore } from "./_tokens.ts";

/** The admin token's file in the data directory. */
export const ADMIN_TOKEN_FILE = "admin.token";
/** Most tokens a tokens file may hold (they are stored in one transaction). */
export const MAX_FILE_TOKENS = 100;

const Entry = v.strictObject({
  name: v.pipe(v.string("must be a string"), v.regex(NAME_RE, "must match [a-z0-9][a-z0-9._-]{0,62}")),
  role: v.picklist(ROLES, `must be one of ${ROLES.join(", ")}`),
  site: v.optional(v.pipe(v.string("must be a string"), v.regex(NAME_RE, "must be a site id"))),
  sha256: v.pipe(
    v.string("must be a string"),
    v.toLowerCase(),
    v.regex(/^[0-9a-f]{64}$/, "must be 64 hex digits (sha256sum of the token)"),
  ),
});

const fileError = (message: string): VaqueroError => new VaqueroError("TOKENS_FILE", message, { exitCode: 2 });

/** Parses a tokens file; throws `TOKENS_FILE` (exit 2) naming `file:line` and the field at fault. */
export function parseTokensFile(text: string, file: string, now: () => number = Date.now): TokenRecord[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const line = (offset: number | undefined): string => `${file}:${offset === undefined ? 1 : lc.linePos(offset).line}`;
  const first = doc.errors[0];
  if (first) throw fileError(`${file}:${first.linePos?.[0]?.line ?? 1}: ${first.message.split("\n")[0]}`);
  const root = doc.contents;
  if (!isMap(root)) throw fileError(`${line(0)}: want a map with tokens: [{name, role, site?, sha256}]`);
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (key !== "tokens") throw fileError(`${line(isNode(pair.key) ? pair.key.range?.[0] : 0)}: unknown key ${JSON.stringify(key)}`);
  }
  const seq = root.get("tokens", true);
  if (!isSeq(seq)) throw fileError(`${line(isNode(seq) ? seq.range?.[0] : 0)}: tokens must be a list`);
  if (seq.items.length > MAX_FILE_TOKENS) throw fileError(`${line(seq.range?.[0])}: at most ${MAX_FILE_TOKENS} tokens`);
  const out: TokenRecord[] = [];
  const created_at = new Date(now()).toISOString();
  for (const [i, item] of seq.items.entries()) {
    const at = line(isNode(item) ? item.range?.[0] : seq.range?.[0]);
    if (!isMap(item)) throw fileError(`${at}: tokens[${i}] must be a map {name, role, site?, sha256}`);
    const r = v.safeParse(Entry, item.toJSON());
    if (!r.success) {
      const issue = r.issues[0];
      const field = issue ? (v.getDotPath(issue) ?? "") : "";
      const pair = item.items.find((p) => isScalar(p.key) && String(p.key.value) === field);
      const where = pair && isNode(pair.key) ? line(pair.key.range?.[0]) : at;
      const why =
        issue?.type === "strict_object"
          ? `unknown field ${JSON.stringify(field)}`
          : field
            ? `${field} ${issue?.message}`
            : `${issue?.message ?? "invalid"} (want name, role, sha256)`;
      throw fileError(`${where}: tokens[${i}]: ${why}`);
    }
    const e = r.output;
    if (e.role === "agent" && e.site === undefined) throw fileError(`${at}: tokens[${i}]: an agent token needs a site`);
    if (out.some((t) => t.name === e.name)) throw fileError(`${at}: tokens[${i}]: name "${e.name}" is used twice`);
    out.push({ name: e.name, role: e.role, ...(e.site === undefined ? {} : { site: e.site }), sha256: e.sha256, created_at });
  }
  return out;
}

/** Writes `text` to `path` with mode 0600: a temporary file beside it, flushed, then renamed over it. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Options of {@link prepareTokens}. */
export interface PrepareTokensOptions {
  store: Store;
  /** Where `admin.token` is written. */
  dataDir: string;
  /** `--tokens-file`: replaces the stored tokens. */
  tokensFile?: string | undefined;
  log: Logger;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
}

/** The tokens to serve with. `managed`: they come from a tokens file, so `POST /tokens` is refused. */
export interface PreparedTokens {
  tokens: TokenStore;
  managed: boolean;
}

/**
 * Loads the tokens at start: from `--tokens-file` when given (replacing the stored ones), else from the store,
 * generating the admin token when no admin token is stored. Throws `TOKENS_FILE` (exit 2) for a bad file.
 */
export async function prepareTokens(o: PrepareTokensOptions): Promise<PreparedTokens> {
  const now = o.now ?? Date.now;
  const tokens = createTokenStore(o.store, now);
  const adminPath = join(o.dataDir, ADMIN_TOKEN_FILE);
  if (o.tokensFile !== undefined) {
    let text: string;
    try {
      text = await readFile(o.tokensFile, "utf8");
    } catch (e) {
      throw fileError(`cannot read --tokens-file ${o.tokensFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const records = parseTokensFile(text, o.tokensFile, now);
    await tokens.replace(records);
    o.log.info({ file: o.tokensFile, tokens: records.length }, "tokens replaced from --tokens-file");
    // A generated admin token the file does not keep no longer works: its file goes too.
    const old = await readFile(adminPath, "utf8").catch(() => undefined);
    if (old !== undefined && !records.some((r) => r.sha256 === hashToken(old.trim()))) {
      await rm(adminPath, { force: true });
      o.log.warn({ path: adminPath }, "admin token file removed: its token is not in --tokens-file");
    }
    return { tokens, managed: true };
  }
  const stored = await tokens.list();
  if (stored.some((r) => r.role === "admin")) {
    o.log.info({ tokens: stored.length }, "tokens loaded from the store");
    return { tokens, managed: false };
  }
  const token = newToken();
  const name = stored.some((r) => r.name === "admin") ? `admin-${now().toString(36)}` : "admin";
  // The file first: a crash before the store write leaves no admin stored, so the next start writes a new one.
  await writeSecretFile(adminPath, `${token}\n`);
  await tokens.add({ name, role: "admin", sha256: hashToken(token), created_at: new Date(now()).toISOString() });
  o.log.info({ path: adminPath, name }, "admin token generated; it is in this file (mode 0600)");
  return { tokens, managed: false };
}
