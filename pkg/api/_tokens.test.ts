import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVaqueroError } from "../../internal/errors/index.ts";
import { silentLogger } from "../../internal/log/index.ts";
import { type EmbeddedStore, openEmbeddedStore } from "../store/index.ts";
import {
  ADMIN_TOKEN_FILE,
  bearerToken,
  createAuth,
  createTokenStore,
  hashToken,
  parseTokensFile,
  prepareTokens,
  TOKEN_PREFIX,
  type TokenRecord,
} from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "vq-tokens-"));
let n = 0;
const fresh = async (): Promise<{ store: EmbeddedStore; dataDir: string }> => {
  const dataDir = join(dir, `d${++n}`);
  const store = await openEmbeddedStore({ path: join(dir, `s${n}.db`) });
  stores.push(store);
  mkdirSync(dataDir, { mode: 0o700 });
  return { store, dataDir };
};
const stores: EmbeddedStore[] = [];
const log = silentLogger();
const now = () => Date.UTC(2026, 0, 1);

afterAll(async () => {
  for (const s of stores) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The error a promise or function throws. */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error("did not throw");
}

const req = (authorization?: string): Request =>
  new Request("http://127.0.0.1/rollouts", authorization === undefined ? {} : { headers: { authorization } });

describe("admin token", () => {
  test("first start writes a random token and a newline, mode 0600; the store keeps only its SHA-256", async () => {
    const { store, dataDir } = await fresh();
    const p = await prepareTokens({ store, dataDir, log, now });
    expect(p.managed).toBe(false);
    const path = join(dataDir, ADMIN_TOKEN_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    const token = text.trim();
    const stored = await store.range(TOKEN_PREFIX);
    expect(stored.kvs.length).toBe(1);
    const raw = new TextDecoder().decode(stored.kvs[0]?.value);
    expect(raw).not.toContain(token);
    expect(JSON.parse(raw)).toEqual({ name: "admin", role: "admin", sha256: hashToken(token), created_at: "2026-01-01T00:00:00.000Z" });
    expect((await p.tokens.verify(token))?.role).toBe("admin");
    expect(existsSync(`${path}.tmp-${process.pid}`)).toBe(false);

    // Later starts reuse the stored hash; a deleted file is not recreated.
    await prepareTokens({ store, dataDir, log, now });
    expect(readFileSync(path, "utf8")).toBe(text);
    rmSync(path);
    await prepareTokens({ store, dataDir, log, now });
    expect(existsSync(path)).toBe(false);
    expect((await p.tokens.verify(token))?.name).toBe("admin");
  });

  test("two first starts on two stores make two different tokens", async () => {
    const a = await fresh();
    const b = await fresh();
    await prepareTokens({ ...a, log, now });
    await prepareTokens({ ...b, log, now });
    expect(readFileSync(join(a.dataDir, ADMIN_TOKEN_FILE), "utf8")).not.toBe(readFileSync(join(b.dataDir, ADMIN_TOKEN_FILE), "utf8"));
  });
});

describe("token store", () => {
  test("issue stores a hash; a taken name is TOKEN_EXISTS; a deleted entry no longer verifies", async () => {
    const { store } = await fresh();
    const tokens = createTokenStore(store, now);
    const { record, token } = await tokens.issue({ name: "ci", role: "operator", site: "s1" });
    expect(record).toEqual({ name: "ci", role: "operator", site: "s1", sha256: hashToken(token), created_at: "2026-01-01T00:00:00.000Z" });
    expect(await tokens.verify(token)).toEqual(record);
    const dup = await thrown(() => tokens.issue({ name: "ci", role: "viewer" }));
    expect(isVaqueroError(dup, "TOKEN_EXISTS")).toBe(true);
    // Same length, one character off.
    const off = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    expect(await tokens.verify(off)).toBeUndefined();
    expect(await tokens.verify("")).toBeUndefined();
    expect(await tokens.verify("x".repeat(10_000))).toBeUndefined();
    await store.delete(`${TOKEN_PREFIX}ci`);
    expect(await tokens.verify(token)).toBeUndefined();
  });

  test("a malformed stored entry is ignored", async () => {
    const { store } = await fresh();
    await store.put(`${TOKEN_PREFIX}bad`, "not json");
    await store.put(`${TOKEN_PREFIX}bad2`, JSON.stringify({ name: "bad2", role: "root", sha256: "00" }));
    const tokens = createTokenStore(store, now);
    expect(await tokens.list()).toEqual([]);
  });
});

describe("tokens file", () => {
  const sha = "ab".repeat(32);
  test("parses tokens; sha256 in any case", () => {
    const text = `tokens:\n  - {name: ops, role: operator, sha256: ${sha.toUpperCase()}}\n  - name: a1\n    role: agent\n    site: s1\n    sha256: ${sha}\n`;
    expect(parseTokensFile(text, "t.yml", now)).toEqual([
      { name: "ops", role: "operator", sha256: sha, created_at: "2026-01-01T00:00:00.000Z" },
      { name: "a1", role: "agent", site: "s1", sha256: sha, created_at: "2026-01-01T00:00:00.000Z" },
    ]);
    expect(parseTokensFile("tokens: []\n", "t.yml")).toEqual([]);
  });

  test.each([
    ["tokens: [\n", /^t\.yml:\d+: /],
    ["- a\n", /^t\.yml:1: want a map with tokens/],
    ["tokens: {}\n", /^t\.yml:1: tokens must be a list/],
    ["other: 1\ntokens: []\n", /^t\.yml:1: unknown key "other"/],
    [
      `tokens:\n  - name: ops\n    role: root\n    sha256: ${sha}\n`,
      /^t\.yml:3: tokens\[0\]: role must be one of viewer, operator, admin, agent$/,
    ],
    [`tokens:\n  - name: ops\n    role: viewer\n    sha256: abc\n`, /^t\.yml:4: tokens\[0\]: sha256 must be 64 hex digits/],
    [`tokens:\n  - name: ops\n    role: viewer\n    token: x\n    sha256: ${sha}\n`, /^t\.yml:4: tokens\[0\]: unknown field "token"$/],
    [
      `tokens:\n  - {name: a, role: viewer, sha256: ${sha}}\n  - {name: a, role: admin, sha256: ${sha}}\n`,
      /^t\.yml:3: tokens\[1\]: name "a" is used twice$/,
    ],
    [`tokens:\n  - {name: a, role: agent, sha256: ${sha}}\n`, /^t\.yml:2: tokens\[0\]: an agent token needs a site$/],
    [`tokens:\n  - {name: "A B", role: viewer, sha256: ${sha}}\n`, /^t\.yml:2: tokens\[0\]: name must match/],
    ["tokens:\n  - just-a-string\n", /^t\.yml:2: tokens\[0\] must be a map/],
  ])("refuses %j with file:line", (text, want) => {
    let e: unknown;
    try {
      parseTokensFile(text, "t.yml");
    } catch (err) {
      e = err;
    }
    expect(isVaqueroError(e, "TOKENS_FILE")).toBe(true);
    expect((e as Error).message).toMatch(want);
    expect((e as { exitCode: number }).exitCode).toBe(2);
  });

  test("--tokens-file replaces the stored tokens; a generated admin token it does not keep is removed", async () => {
    const { store, dataDir } = await fresh();
    const first = await prepareTokens({ store, dataDir, log, now });
    const admin = readFileSync(join(dataDir, ADMIN_TOKEN_FILE), "utf8").trim();
    const { token: old } = await first.tokens.issue({ name: "old", role: "viewer" });
    const mine = "my-own-token-0123456789";
    const file = join(dir, "tokens.yml");
    writeFileSync(file, `tokens:\n  - {name: root, role: admin, sha256: ${hashToken(mine)}}\n`);
    const p = await prepareTokens({ store, dataDir, tokensFile: file, log, now });
    expect(p.managed).toBe(true);
    expect((await p.tokens.list()).map((r: TokenRecord) => r.name)).toEqual(["root"]);
    expect(await p.tokens.verify(admin)).toBeUndefined();
    expect(await p.tokens.verify(old)).toBeUndefined();
    expect((await p.tokens.verify(mine))?.role).toBe("admin");
    expect(existsSync(join(dataDir, ADMIN_TOKEN_FILE))).toBe(false);
    // A later start without the file keeps what the file put there, and generates nothing.
    await prepareTokens({ store, dataDir, log, now });
    expect(existsSync(join(dataDir, ADMIN_TOKEN_FILE))).toBe(false);
  });

  test("an unreadable or bad --tokens-file is exit 2 and changes nothing", async () => {
    const { store, dataDir } = await fresh();
    await prepareTokens({ store, dataDir, log, now });
    const missing = await thrown(() => prepareTokens({ store, dataDir, tokensFile: join(dir, "nope.yml"), log }));
    expect((missing as Error).message).toContain("cannot read --tokens-file");
    expect((missing as { exitCode: number }).exitCode).toBe(2);
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "tokens:\n  - {name: x, role: admin}\n");
    const e = await thrown(() => prepareTokens({ store, dataDir, tokensFile: bad, log }));
    expect((e as Error).message).toMatch(/bad\.yml:2: tokens\[0\]: /);
    expect((await createTokenStore(store).list()).map((r) => r.name)).toEqual(["admin"]);
  });
});

describe("auth", () => {
  test("bearer tokens are read from the header, nothing else", () => {
    expect(bearerToken("Bearer abc-_.~+/=")).toBe("abc-_.~+/=");
    expect(bearerToken("bearer  abc")).toBe("abc");
    expect(bearerToken("Basic YTpi")).toBeUndefined();
    expect(bearerToken("Bearer a b")).toBeUndefined();
    expect(bearerToken("Bearer a\u0000")).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });

  test("401 with a Bearer challenge, 403 naming the role or site needed", async () => {
    const { store } = await fresh();
    const tokens = createTokenStore(store, now);
    const auth = createAuth(tokens, log);
    const viewer = (await tokens.issue({ name: "v", role: "viewer" })).token;
    const agent = (await tokens.issue({ name: "ag", role: "agent", site: "s1" })).token;
    const other = (await tokens.issue({ name: "o2", role: "operator", site: "s2" })).token;
    const op = (await tokens.issue({ name: "o1", role: "operator", site: "s1" })).token;

    const none = (await auth.check(req(), "viewer", "s1")) as Response;
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    for (const h of ["Basic YTpi", "Bearer nope", `Bearer ${viewer}x`]) {
      const r = (await auth.check(req(h), "viewer", "s1")) as Response;
      expect([r.status, r.headers.get("www-authenticate")]).toEqual([401, 'Bearer realm="vaquero", error="invalid_token"']);
    }
    const weak = (await auth.check(req(`Bearer ${viewer}`), "operator", "s1")) as Response;
    expect(weak.status).toBe(403);
    expect(await weak.json()).toEqual({
      error: { code: "FORBIDDEN", message: 'this needs the operator role (or higher); token "v" has viewer' },
    });
    expect(((await auth.check(req(`Bearer ${agent}`), "viewer", "s1")) as Response).status).toBe(403);
    const elsewhere = (await auth.check(req(`Bearer ${other}`), "viewer", "s1")) as Response;
    expect([elsewhere.status, ((await elsewhere.json()) as { error: { message: string } }).error.message]).toEqual([
      403,
      'token "o2" is for site "s2" only',
    ]);
    expect(await auth.check(req(`Bearer ${op}`), "viewer", "s1")).toEqual({ name: "o1", role: "operator", site: "s1" });
    expect(await auth.check(req(`Bearer ${viewer}`), "viewer", "s1")).toEqual({ name: "v", role: "viewer" });
  });
});
