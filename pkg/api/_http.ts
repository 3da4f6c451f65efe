/**
 * The HTTP edge's shared pieces: the one table from error codes to statuses, the error body of API.md, and a
 * bounded body reader.
 */

/** Error codes the agent and control APIs answer with, and their statuses. */
export const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  MAC_INVALID: 400,
  EVENT_INVALID: 400,
  BODY_INVALID: 400,
  ROLLOUT_HOST_UNKNOWN: 400,
  ROLLOUT_EMPTY: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  MAC_UNKNOWN: 404,
  BOOT_UNKNOWN: 404,
  NO_CONFIG: 404,
  ASSET_NOT_FOUND: 404,
  SITE_UNKNOWN: 404,
  ROLLOUT_UNKNOWN: 404,
  ROLLOUT_BUSY: 409,
  ROLLOUT_STATE: 409,
  TOKEN_EXISTS: 409,
  TOKENS_MANAGED: 409,
  PATH_INVALID: 400,
  PATH_OUTSIDE_ROOT: 403,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  NOT_STAGED: 503,
  STATE_NOT_STORED: 503,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 502,
  UPSTREAM_TOO_LARGE: 502,
  UPSTREAM_BUSY: 503,
  // The agent link.
  COMMAND_CONFLICT: 409,
  BUNDLE_CORRUPT: 500,
  LINK_CLOSED: 503,
  // The server: webhooks, releases, staging.
  WEBHOOK_SIGNATURE: 401,
  RELEASE_UNKNOWN: 404,
  RELEASE_REJECTED: 409,
  SOT_UNAVAILABLE: 502,
};

/** `{"error": {"code", "message"}}` with the status of its code (500 for unknown codes). */
export function errorResponse(code: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message } }, { status: STATUS[code] ?? 500, headers });
}

/** Reads a request body of at most `limit` bytes as bytes; undefined when it is larger (by header or by content). */
export async function readBodyBytes(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) return undefined;
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Reads a request body of at most `limit` bytes as UTF-8 text; undefined when it is larger. */
export async function readBody(request: Request, limit: number): Promise<string | undefined> {
  const bytes = await readBodyBytes(request, limit);
  return bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}
