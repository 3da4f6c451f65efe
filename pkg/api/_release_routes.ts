/**
 * The release endpoints alone (API.md "Server (and standalone)"): `POST /postreceive`, `GET /releases`,
 * `GET /releases/<id>`, `POST /releases`, as a plugin for an app that already serves `/status`, `/metrics`,
 * `/openapi` and the health routes: `vaquero standalone` mounts it on the agent app, so each path is defined once
 * on its one listener. Roles, bodies and errors as the server's (`_server.ts`); the webhook is the same code
 * (`_server_webhook.ts`).
 */
import { Elysia } from "elysia";
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { getRelease, listReleases, MAX_RELEASE_LIST, type Releaser, type WebhookTarget } from "../control/index.ts";
import { isStoreError, type Store } from "../store/index.ts";
import { type Auth, BEARER, createAuth } from "./_auth.ts";
import { errorResponse, readBody, STATUS } from "./_http.ts";
import { handleWebhook } from "./_server_webhook.ts";
import type { TokenStore } from "./_tokens.ts";

/** What the release routes need. */
export interface ReleaseRoutesOptions {
  store: Store;
  releaser: Releaser;
  tokens: TokenStore;
  /** The ref compiled (`--ref`), and what webhooks must match. */
  target: WebhookTarget;
  /** `--webhook-secret-file`'s secret; absent: `/postreceive` answers 404. */
  webhookSecret?: string;
  log: Logger;
  /** Largest `POST /releases` body (default 64 KiB). */
  maxBody?: number;
}

/** `POST /releases`' body is `{}` or `{ref}`; anything else is named. */
function parseReleasesBody(text: string): { ref?: string } | string {
  let value: unknown;
  try {
    value = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    return `/releases wants a JSON object: ${describeError(e).slice(0, 200)}`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "/releases: the body must be a JSON object";
  const extra = Object.keys(value).find((k) => k !== "ref");
  if (extra !== undefined) return `/releases: unknown field ${JSON.stringify(extra.slice(0, 80))}`;
  const ref = (value as { ref?: unknown }).ref;
  if (ref === undefined) return {};
  if (typeof ref !== "string") return '/releases: field "ref": ref must be a string';
  if (ref.length > 256) return '/releases: field "ref": ref is too long';
  return { ref };
}

/** The release routes, as a plugin (`app.use(releaseRoutes(…))`). */
export function releaseRoutes(o: ReleaseRoutesOptions) {
  const auth: Auth = createAuth(o.tokens, o.log);
  const maxBody = o.maxBody ?? 64 * 1024;
  const failed = (e: unknown, what: string): Response => {
    if (isStoreError(e)) {
      o.log.error({ err: describeError(e) }, `${what}: store unavailable`);
      return errorResponse("STORE_UNAVAILABLE", `${what}: the store could not be reached; try again`);
    }
    if (isVaqueroError(e) && STATUS[e.code] !== undefined) return errorResponse(e.code, e.message);
    o.log.error({ err: describeError(e) }, `${what} failed`);
    return errorResponse("INTERNAL", `${what} failed`);
  };
  const branch = o.target.branch;

  return new Elysia()
    .post(
      "/postreceive",
      ({ request }) =>
        handleWebhook(
          { ...(o.webhookSecret ? { secret: o.webhookSecret } : {}), target: o.target, releaser: o.releaser, log: o.log },
          request,
          failed,
        ),
      {
        parse: "none",
        detail: {
          tags: ["releases"],
          summary:
            "A signed push (GitHub, GitLab, Gitea/Forgejo or X-Vaquero-Signature): 202 {release} once stored; 200 {ignored} for another repository or branch; 200 {release, duplicate: true} for a delivery or commit seen before; 401 WEBHOOK_SIGNATURE; 404 without --webhook-secret-file",
        },
      },
    )
    .get(
      "/releases",
      async ({ request, query }) => {
        const who = await auth.check(request, "viewer");
        if (who instanceof Response) return who;
        const limit = Math.min(Math.max(Number.parseInt(String(query.limit ?? "100"), 10) || 100, 1), MAX_RELEASE_LIST);
        try {
          return { releases: await listReleases(o.store, limit) };
        } catch (e) {
          return failed(e, "list releases");
        }
      },
      {
        detail: {
          tags: ["releases"],
          summary: "Releases, newest first (viewer): id, commit, ref, created_at, status; ?limit= (default 100)",
          security: BEARER,
        },
      },
    )
    .get(
      "/releases/:id",
      async ({ request, params }) => {
        const who = await auth.check(request, "viewer");
        if (who instanceof Response) return who;
        try {
          const rel = await getRelease(o.store, params.id);
          return rel ?? errorResponse("RELEASE_UNKNOWN", `no release ${JSON.stringify(params.id.slice(0, 80))}`);
        } catch (e) {
          return failed(e, "read release");
        }
      },
      {
        detail: {
          tags: ["releases"],
          summary: "One release (viewer): status, findings, and per site its bundle's SHA-256, hosts, hosts_changed, hosts_removed",
          security: BEARER,
        },
      },
    )
    .post(
      "/releases",
      async ({ request }) => {
        const who = await auth.check(request, "operator");
        if (who instanceof Response) return who;
        const text = await readBody(request, maxBody);
        if (text === undefined) return errorResponse("BODY_TOO_LARGE", `/releases bodies are at most ${maxBody} bytes`);
        const body = parseReleasesBody(text);
        if (typeof body === "string") return errorResponse("BODY_INVALID", body);
        if (body.ref !== undefined && body.ref !== branch && body.ref !== `refs/heads/${branch}`) {
          return errorResponse("BODY_INVALID", `/releases: this compiles ${branch} (--ref), not ${JSON.stringify(body.ref.slice(0, 80))}`);
        }
        try {
          const out = await o.releaser.compile({ trigger: "api" });
          o.log.info({ release: out.release.id, duplicate: out.duplicate, by: who.name }, "compile asked");
          return out.duplicate
            ? Response.json({ release: out.release.id, status: out.release.status, duplicate: true })
            : Response.json({ release: out.release.id, status: out.release.status }, { status: 202 });
        } catch (e) {
          return failed(e, "compile");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["releases"],
          summary: "Compile the ref's tip now (operator): 202 {release, status}; 200 with duplicate: true when that commit has a release",
          security: BEARER,
        },
      },
    );
}
