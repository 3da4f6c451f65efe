/**
 * The network side of reading a SoT through git: an isomorphic-git HTTP client over `fetch` with an idle
 * timeout, and the one-line, credential-free errors every git failure becomes.
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";

/** Removes `user:password@` from a URL (any scheme); other strings come back unchanged. */
export function stripCredentials(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/?#\s]*@/gi, "$1");
}

/** An error of this module: exit code 2, one line, location in `detail`. */
export function gitError(code: string, message: string, location: string, cause?: unknown): VaqueroError {
  return new VaqueroError(code, stripCredentials(message.replace(/\s*\n\s*/g, " ")), { exitCode: 2, cause, detail: { location } });
}

/** The `code` isomorphic-git puts on its errors (`NotFoundError`, `HttpError`, …). */
export function errCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The error a failed fetch of `location` becomes. */
export function fetchError(e: unknown, location: string): VaqueroError {
  if (e instanceof VaqueroError) return e;
  const code = errCode(e);
  if (code === "HttpError") {
    const { statusCode = "error", statusMessage = "" } = (e as { data?: { statusCode?: number; statusMessage?: string } }).data ?? {};
    return gitError("SOT_GIT_UNREACHABLE", `sot: cannot fetch ${location}: HTTP ${statusCode} ${statusMessage}`.trimEnd(), location, e);
  }
  if (code === "NotFoundError" && (e as { data?: { what?: string } }).data?.what === "HEAD") {
    // isomorphic-git cannot fetch from a remote whose HEAD names no branch (git clone only warns).
    return gitError("SOT_GIT_READ", `sot: cannot fetch ${location}: its HEAD names a branch that does not exist`, location, e);
  }
  if (code === "SmartHttpError" || code === "EmptyServerResponseError" || code === "ParseError") {
    return gitError("SOT_GIT_NOT_REPO", `sot: ${location} does not answer as a git repository over smart HTTP`, location, e);
  }
  return gitError("SOT_GIT_READ", `sot: cannot fetch ${location}: ${describeError(e)}`, location, e);
}

/** An isomorphic-git HTTP client over `fetch`: whole bodies, and an abort after `timeoutMs` without a byte. */
export function fetchHttp(location: string, timeoutMs: number): HttpClient {
  return {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      // isomorphic-git hands over an array of chunks or an async iterator, whatever its type says.
      const chunksIn = req.body as AsyncIterable<Uint8Array> | Iterable<Uint8Array> | undefined;
      const body = chunksIn ? Buffer.concat(await Array.fromAsync(chunksIn)) : undefined;
      const ac = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => ac.abort(), timeoutMs);
      };
      arm();
      try {
        const res = await fetch(req.url, { method: req.method ?? "GET", headers: req.headers, body, signal: ac.signal });
        arm();
        const chunks: Uint8Array[] = [];
        if (res.body) {
          for await (const chunk of res.body) {
            chunks.push(chunk);
            arm();
          }
        }
        return {
          url: res.url || req.url,
          method: req.method ?? "GET",
          statusCode: res.status,
          statusMessage: res.statusText,
          headers: Object.fromEntries(res.headers), // names come lower-cased
          body: (async function* () {
            yield* chunks;
          })(),
        };
      } catch (e) {
        const code = errCode(e) ?? "";
        const why = ac.signal.aborted
          ? `no answer within ${timeoutMs} ms`
          : /refused/i.test(code)
            ? "connection refused"
            : /NOTFOUND|EAI_/.test(code)
              ? "host not found"
              : code || describeError(e);
        throw gitError("SOT_GIT_UNREACHABLE", `sot: cannot reach ${location}: ${why}`, location, e);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
