/**
 * The site's asset upstream (`agent.assets.upstream`, an HTTP(S) origin) behind an on-disk cache. A file asked
 * for at `/assets/<name>` and missing from the asset directory is fetched once from `<upstream>/<name>`, written
 * to a temporary file, and renamed into the cache only when its body is complete (and matches its
 * Content-Length): the cache never holds a partial file. Requests for a name already being fetched wait for
 * that one download. The client is answered once the file is in the cache, like any local file (Range, ETag).
 *
 * Bounded: a size limit per file, an idle timeout on the upstream (headers and every read), and a limit on
 * downloads at once. Names are checked like the path guard's, re-encoded segment by segment, and the URL built
 * from them must stay under the upstream's base path.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, realpath, rename, rm, unlink } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { checkName, createPathGuard, printable } from "../../internal/pathguard/index.ts";

/** Default size limit of one upstream file: 4 GiB. */
export const UPSTREAM_MAX_BYTES = 4 * 1024 ** 3;
/** Default idle timeout on the upstream: no headers or no body bytes for this long fails the download. */
export const UPSTREAM_IDLE_MS = 30_000;
/** Default number of different files downloaded at once. */
export const UPSTREAM_MAX_DOWNLOADS = 16;

/** A timer source, injected by tests. */
export interface Clock {
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Options of {@link createUpstreamCache}. */
export interface UpstreamCacheOptions {
  /** The HTTP(S) origin with an optional base path, e.g. `https://mirror.example.org/boot`. */
  upstream: string;
  /** Cache directory (created, mode 0700): files under `files/`, downloads in progress under `tmp/`. */
  dir: string;
  log: Logger;
  /** Size limit of one file in bytes (default {@link UPSTREAM_MAX_BYTES}). */
  maxBytes?: number;
  /** Idle timeout in ms (default {@link UPSTREAM_IDLE_MS}). */
  idleMs?: number;
  /** Different files downloaded at once (default {@link UPSTREAM_MAX_DOWNLOADS}); more answer UPSTREAM_BUSY. */
  maxDownloads?: number;
  /** The fetch to use (default the global one). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  clock?: Clock;
}

/** Counters of the cache. */
export interface UpstreamStats {
  /** Requests answered from the cache. */
  hits: number;
  /** Requests that started a download. */
  misses: number;
  /** Requests that waited for a download another request started. */
  shared: number;
  /** Downloads that failed (not found upstream included). */
  errors: number;
  /** Bytes downloaded into the cache. */
  bytes: number;
}

/** An upstream with its cache. */
export interface UpstreamCache {
  /** The upstream as shown in messages (without credentials). */
  readonly upstream: string;
  /**
   * The cached file for `name` (URL-decoded, relative), downloading it first when it is missing. Throws a
   * VaqueroError: `PATH_INVALID` / `PATH_OUTSIDE_ROOT` for a bad name, `ASSET_NOT_FOUND` when the upstream
   * answers 404 or 410, `UPSTREAM_FAILED` (unreachable, another status, a short body), `UPSTREAM_TIMEOUT`,
   * `UPSTREAM_TOO_LARGE`, `UPSTREAM_BUSY`.
   */
  get(name: string): Promise<{ path: string; hit: boolean }>;
  stats(): UpstreamStats;
}

const realClock: Clock = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Opens (creating) the cache for `o.upstream` in `o.dir`; clears downloads a previous run left unfinished. */
export async function createUpstreamCache(o: UpstreamCacheOptions): Promise<UpstreamCache> {
  const base = parseUpstream(o.upstream);
  const shown = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  const maxBytes = o.maxBytes ?? UPSTREAM_MAX_BYTES;
  const idleMs = o.idleMs ?? UPSTREAM_IDLE_MS;
  const maxDownloads = o.maxDownloads ?? UPSTREAM_MAX_DOWNLOADS;
  const doFetch = o.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const clock = o.clock ?? realClock;
  const filesDir = join(o.dir, "files");
  const tmpDir = join(o.dir, "tmp");
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(filesDir, { recursive: true, mode: 0o700 });
  await mkdir(tmpDir, { recursive: true, mode: 0o700 });
  const guard = await createPathGuard(filesDir);
  const tmpReal = await realpath(tmpDir);
  const stats: UpstreamStats = { hits: 0, misses: 0, shared: 0, errors: 0, bytes: 0 };
  const inflight = new Map<string, Promise<string>>();

  const fail = (code: string, name: string, why: string): VaqueroError =>
    new VaqueroError(code, `asset "${printable(name)}" from upstream ${shown}: ${why}`);

  /** Resolves with `promise`, or rejects with UPSTREAM_TIMEOUT when it takes longer than the idle timeout. */
  const idle = <T>(promise: Promise<T>, name: string, what: string, onTimeout: () => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const cancel = clock.after(idleMs, () => {
        onTimeout();
        reject(fail("UPSTREAM_TIMEOUT", name, `no ${what} for ${idleMs} ms`));
      });
      promise.then(
        (v) => {
          cancel();
          resolve(v);
        },
        (e: unknown) => {
          cancel();
          reject(e);
        },
      );
    });

  const download = async (name: string, final: string): Promise<string> => {
    const url = upstreamUrl(base, name);
    const abort = new AbortController();
    const tmp = join(tmpReal, randomBytes(12).toString("hex"));
    let file: Awaited<ReturnType<typeof open>> | undefined;
    try {
      const res = await idle(doFetch(url, { signal: abort.signal, redirect: "follow" }), name, "answer", () => abort.abort()).catch(
        (e: unknown) => {
          throw isVaqueroError(e) ? e : fail("UPSTREAM_FAILED", name, `unreachable (${brief(e)})`);
        },
      );
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel().catch(() => undefined);
        throw new VaqueroError("ASSET_NOT_FOUND", `asset "${printable(name)}" not found here nor on upstream ${shown}`);
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw fail("UPSTREAM_FAILED", name, `answered ${res.status}${res.ok ? " without a body" : ""}`);
      }
      const declared = res.headers.get("content-length");
      const expected = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
      if (expected !== undefined && expected > maxBytes) {
        await res.body.cancel().catch(() => undefined);
        throw fail("UPSTREAM_TOO_LARGE", name, `${expected} bytes, limit ${maxBytes}`);
      }
      file = await open(tmp, "wx", 0o600);
      const reader = res.body.getReader();
      let size = 0;
      // Bounded: every turn either ends, adds bytes (capped by maxBytes) or waits at most idleMs for them.
      for (;;) {
        const chunk = await idle(reader.read(), name, "data", () => {
          abort.abort();
          reader.cancel().catch(() => undefined);
        }).catch((e: unknown) => {
          throw isVaqueroError(e) ? e : fail("UPSTREAM_FAILED", name, `connection lost after ${size} bytes (${brief(e)})`);
        });
        if (chunk.done) break;
        size += chunk.value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw fail("UPSTREAM_TOO_LARGE", name, `more than ${maxBytes} bytes`);
        }
        await file.write(chunk.value);
      }
      if (expected !== undefined && size !== expected) throw fail("UPSTREAM_FAILED", name, `body ended after ${size} of ${expected} bytes`);
      await file.close();
      file = undefined;
      await mkdir(dirname(final), { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
        throw fail("UPSTREAM_FAILED", name, `cannot be cached (${e.code ?? e.message})`);
      });
      if (!guard.contains(await realpath(dirname(final)))) throw fail("PATH_OUTSIDE_ROOT", name, "leaves the cache");
      await rename(tmp, final);
      stats.bytes += size;
      o.log.info({ asset: name, upstream: shown, bytes: size }, "asset cached from upstream");
      return final;
    } catch (e) {
      stats.errors++;
      abort.abort();
      await file?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      if (!isVaqueroError(e)) throw fail("UPSTREAM_FAILED", name, brief(e));
      if (e.code !== "ASSET_NOT_FOUND")
        o.log.warn({ asset: name, upstream: shown, code: e.code, err: e.message }, "upstream download failed");
      throw e;
    }
  };

  return {
    upstream: shown,
    stats: () => ({ ...stats }),
    async get(name) {
      checkSegments(name);
      try {
        const path = await guard.resolve(name);
        stats.hits++;
        return { path, hit: true };
      } catch (e) {
        if (!isVaqueroError(e, "PATH_NOT_FOUND")) throw e;
      }
      const running = inflight.get(name);
      if (running) {
        stats.shared++;
        return { path: await running, hit: false };
      }
      if (inflight.size >= maxDownloads) throw fail("UPSTREAM_BUSY", name, `${inflight.size} downloads already running; try again`);
      const final = join(guard.root, ...name.split("/"));
      if (!final.startsWith(guard.root + sep)) throw fail("PATH_OUTSIDE_ROOT", name, "leaves the cache");
      stats.misses++;
      const p = download(name, final).finally(() => inflight.delete(name));
      inflight.set(name, p);
      return { path: await p, hit: false };
    },
  };
}

/** The upstream base URL; only http and https, without query or fragment. */
function parseUpstream(s: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new VaqueroError("UPSTREAM_INVALID", `asset upstream "${printable(s)}" is not a URL`, { exitCode: 2 });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new VaqueroError("UPSTREAM_INVALID", `asset upstream "${printable(s)}" is not http(s)`, { exitCode: 2 });
  u.search = "";
  u.hash = "";
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}

/** Refuses what the path guard refuses, plus empty and `.` segments (`a//b`, `./a`, `http://…`). */
function checkSegments(name: string): void {
  checkName(name);
  if (name.split("/").some((s) => s === "" || s === "."))
    throw new VaqueroError("PATH_INVALID", `path "${printable(name)}" has an empty or "." segment`);
}

/** `<base>/<name>` with every segment percent-encoded; refused unless it stays under the base path. */
export function upstreamUrl(base: URL, name: string): string {
  checkSegments(name);
  const u = new URL(name.split("/").map(encodeURIComponent).join("/"), base);
  if (u.origin !== base.origin || !u.pathname.startsWith(base.pathname) || u.search || u.hash)
    throw new VaqueroError("PATH_OUTSIDE_ROOT", `path "${printable(name)}" leaves the upstream`);
  return u.href;
}

function brief(e: unknown): string {
  if (e instanceof Error) return (e.message.split("\n")[0] ?? e.name).slice(0, 200);
  return String(e).slice(0, 200);
}
