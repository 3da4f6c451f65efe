/**
 * The release endpoints (API.md "Server (and standalone)"): `POST /postreceive`, `GET /releases`,
 * `GET /releases/<id>`, `POST /releases`, as a plugin: `vaquero server` mounts it in its app, `vaquero standalone`
 * on its agent app (which already serves `/status`, `/metrics`, `/openapi` and the health routes), so each path
 * is defined once per listener and once in the code. The webhook is `_server_webhook.ts`.
 */
import { Elysia } from "elysia";
import * as v from "valibot";
import type { Logger } from "../../internal/log/index.ts";
import {
  type CompileRequest,
  getRelease,
  listReleases,
  MAX_RELEASE_LIST,
  type Releaser,
  type SubmitOutcome,
  type WebhookTarget,
} from "../control/index.ts";
import type { Store } from "../store/index.ts";
import { type Auth, BEARER, createAuth } from "./_auth.ts";
import { errorResponse } from "./_http.ts";
import { failureResponder, jsonBody, jsonRequest } from "./_json.ts";
import { handleWebhook, outcomeResponse } from "./_server_webhook.ts";
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
  /** Where compiles go instead of the releaser (servers on etcd: the leader compiles, a follower queues). */
  submit?: (r: CompileRequest) => Promise<SubmitOutcome>;
  log: Logger;
  /** Largest `POST /releases` body (default 64 KiB). */
  maxBody?: number;
}

const ReleasesBody = v.strictObject({ ref: v.optional(v.pipe(v.string("ref must be a string"), v.maxLength(256, "ref is too long"))) });

/** The release routes, as a plugin (`app.use(releaseRoutes(…))`). */
export function releaseRoutes(o: ReleaseRoutesOptions) {
  const auth: Auth = createAuth(o.tokens, o.log);
  const maxBody = o.maxBody ?? 64 * 1024;
  const submit = o.submit ?? ((r: CompileRequest) => o.releaser.compile(r));
  const failed = failureResponder(o.log);
  const branch = o.target.branch;

  return new Elysia()
    .post(
      "/postreceive",
      ({ request }) =>
        handleWebhook(
          { ...(o.webhookSecret ? { secret: o.webhookSecret } : {}), target: o.target, releaser: o.releaser, submit, log: o.log },
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
        const body = await jsonBody(request, maxBody, "/releases", ReleasesBody, true);
        if (!body.ok) return body.response;
        const ref = body.value.ref;
        if (ref !== undefined && ref !== branch && ref !== `refs/heads/${branch}`) {
          return errorResponse("BODY_INVALID", `/releases: this compiles ${branch} (--ref), not ${JSON.stringify(ref.slice(0, 80))}`);
        }
        try {
          const out = await submit({ trigger: "api" });
          const what = "queued" in out ? { queued: out.queued } : { release: out.release.id };
          o.log.info({ ...what, duplicate: out.duplicate, by: who.name }, "compile asked");
          return outcomeResponse(out);
        } catch (e) {
          return failed(e, "compile");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["releases"],
          summary:
            "Compile the branch's tip now (operator): 202 {release, status}; 200 with duplicate: true when that commit has a release; on a follower 202 {queued} (the leader compiles it)",
          security: BEARER,
          requestBody: { ...jsonRequest(ReleasesBody), required: false },
        },
      },
    );
}
