/**
 * `/assets/<path>`: files of the site's asset directory through the path guard, else of its upstream cache,
 * with `ETag`/`If-None-Match` and single byte ranges (RFC 9110 §14). The body is a `Bun.file` slice, which the
 * server sends with sendfile.
 */
import { stat } from "node:fs/promises";
import { isVaqueroError } from "../../internal/errors/index.ts";
import type { PathGuard } from "../../internal/pathguard/index.ts";
import { errorResponse } from "./_http.ts";
import type { UpstreamCache } from "./_upstream.ts";

/** Where `/assets/` files come from: the asset directory first, then the upstream. */
export interface AssetSources {
  dir?: PathGuard;
  upstream?: UpstreamCache;
}

/** Serves `/assets/<raw>` (`raw` still percent-encoded) from the asset directory, else from the upstream cache. */
export async function serveAssets(sources: AssetSources, raw: string, request: Request): Promise<Response> {
  if (!sources.dir && !sources.upstream) return errorResponse("ASSET_NOT_FOUND", "this site has no asset directory or upstream");
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return errorResponse("PATH_INVALID", "path is not valid percent-encoding");
  }
  if (sources.dir) {
    const local = await serveAsset(sources.dir, name, request);
    if (local.status !== 404 || !sources.upstream) return local;
  }
  const upstream = sources.upstream as UpstreamCache;
  try {
    const { path } = await upstream.get(name);
    return await serveFile(path, name, request);
  } catch (e) {
    if (isVaqueroError(e)) return errorResponse(e.code, e.message.slice(0, 500));
    throw e;
  }
}

/** Serves `name` (URL-decoded, relative) from `guard`'s root for `request`. */
export async function serveAsset(guard: PathGuard, name: string, request: Request): Promise<Response> {
  let path: string;
  try {
    path = await guard.resolve(name);
  } catch (e) {
    if (isVaqueroError(e) && e.code !== "PATH_NOT_FOUND") return errorResponse(e.code, `asset "${name.slice(0, 200)}": ${e.message}`);
    return errorResponse("ASSET_NOT_FOUND", `asset "${name.slice(0, 200)}" not found`);
  }
  return serveFile(path, name, request);
}

/** Serves the file at `path` (already checked) as asset `name`: 200, 206, 304 or 416. */
async function serveFile(path: string, name: string, request: Request): Promise<Response> {
  const st = await stat(path);
  if (!st.isFile()) return errorResponse("ASSET_NOT_FOUND", `asset "${name.slice(0, 200)}" is not a file`);
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const base = { etag, "accept-ranges": "bytes", "last-modified": st.mtime.toUTCString() };
  if (
    request.headers
      .get("if-none-match")
      ?.split(/\s*,\s*/)
      .includes(etag)
  )
    return new Response(null, { status: 304, headers: base });
  const file = Bun.file(path);
  const range = request.headers.get("range");
  if (range) {
    const r = parseRange(range, st.size);
    if (r === "unsatisfiable") {
      return errorResponse("RANGE_NOT_SATISFIABLE", `range ${range} is outside the ${st.size}-byte asset`, {
        "content-range": `bytes */${st.size}`,
      });
    }
    if (r) {
      return new Response(file.slice(r.start, r.end + 1), {
        status: 206,
        headers: { ...base, "content-range": `bytes ${r.start}-${r.end}/${st.size}`, "content-length": String(r.end - r.start + 1) },
      });
    }
  }
  return new Response(file, { headers: { ...base, "content-length": String(st.size), "content-type": file.type } });
}

/** One `bytes=` range; undefined for a header to ignore (several ranges, other units), per RFC 9110 §14.2. */
export function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
