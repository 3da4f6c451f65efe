/**
 * `POST /postreceive` (API.md "Server"): a signed push from GitHub, GitLab, Gitea/Forgejo or any sender that
 * signs with `X-Vaquero-Signature`. The order of checks: webhooks configured (else 404), body size (413), the
 * signature over the raw bytes (401 `WEBHOOK_SIGNATURE`), the repository and branch (200 `{ignored}`), then the
 * compile (202 `{release}` once the release is stored; 200 `{release, duplicate: true}` for a delivery or commit
 * already seen). Nothing of an unsigned request is parsed or logged beyond its size.
 */
import type { Logger } from "../../internal/log/index.ts";
import {
  type CompileRequest,
  ignoreReason,
  MAX_WEBHOOK_BYTES,
  parsePush,
  type Releaser,
  type SubmitOutcome,
  verifySignature,
  type WebhookTarget,
} from "../control/index.ts";
import { errorResponse, readBodyBytes } from "./_http.ts";

/** What `/postreceive` needs. */
export interface WebhookOptions {
  /** The shared secret (`--webhook-secret-file`, trimmed); absent: `/postreceive` answers 404. */
  secret?: string;
  target: WebhookTarget;
  releaser: Releaser;
  /** Where compiles go instead of the releaser (servers on etcd: the leader compiles, a follower queues). */
  submit?: (r: CompileRequest) => Promise<SubmitOutcome>;
  log: Logger;
  /** Largest body (default {@link MAX_WEBHOOK_BYTES}). */
  maxBody?: number;
}

/** Handles one delivery; `failed` turns a compile error into its response. */
export async function handleWebhook(
  o: WebhookOptions,
  request: Request,
  failed: (e: unknown, what: string) => Response,
): Promise<Response> {
  if (!o.secret) return errorResponse("NOT_FOUND", "webhooks are not configured here (--webhook-secret-file)");
  const limit = o.maxBody ?? MAX_WEBHOOK_BYTES;
  const body = await readBodyBytes(request, limit);
  if (body === undefined) return errorResponse("BODY_TOO_LARGE", `webhook bodies are at most ${limit} bytes`);
  const sig = verifySignature(request.headers, body, o.secret);
  if (!sig.ok) {
    o.log.warn({ bytes: body.length, why: sig.reason }, "webhook refused");
    return errorResponse("WEBHOOK_SIGNATURE", sig.reason);
  }
  const push = parsePush(sig.provider, request.headers, body);
  if (!push) return errorResponse("BODY_INVALID", "the delivery's body is not a JSON object");
  const ignored = ignoreReason(push, o.target);
  if (ignored !== undefined) {
    o.log.info({ provider: push.provider, delivery: push.delivery, why: ignored }, "webhook ignored");
    return Response.json({ ignored });
  }
  try {
    const req: CompileRequest = {
      trigger: "webhook",
      ...(push.delivery ? { delivery: push.delivery } : {}),
      ...(push.after ? { after: push.after } : {}),
    };
    const out = o.submit ? await o.submit(req) : await o.releaser.compile(req);
    const what = "queued" in out ? { queued: out.queued } : { release: out.release.id };
    o.log.info({ provider: push.provider, delivery: push.delivery, ...what, duplicate: out.duplicate }, "webhook");
    return outcomeResponse(out);
  } catch (e) {
    return failed(e, "compile");
  }
}

/**
 * The answer to a compile asked for: 202 `{release, status}` for a new release, 200 with `duplicate: true` for one
 * made before, 202 `{queued}` when a follower queued it for the leader (`duplicate: true` when it was waiting).
 */
export function outcomeResponse(out: SubmitOutcome): Response {
  if ("queued" in out) return Response.json({ queued: out.queued, ...(out.duplicate ? { duplicate: true } : {}) }, { status: 202 });
  if (out.duplicate) return Response.json({ release: out.release.id, status: out.release.status, duplicate: true });
  return Response.json({ release: out.release.id, status: out.release.status }, { status: 202 });
}
