/**
 * The server's own endpoints (API.md "Server"): webhooks (`/postreceive`), releases (`/releases…`), staging
 * (`/prepare`), tokens, the fleet (`/status…`), health and metrics, and the OpenAPI document. Roles as in
 * `_auth.ts`; bodies are JSON of at most 64 KiB checked field by field; errors are API.md's
 * `{"error": {"code", "message"}}`. The agent link (`/v1/agent/*`, server-mode `/execute`) is another plugin
 * mounted beside this one.
 */
import { openapi } from "@elysiajs/openapi";
import { toJsonSchema } from "@valibot/to-json-schema";
import { Elysia } from "elysia";
import * as v from "valibot";
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import {
  type CompileRequest,
  getRelease,
  listReleases,
  MAX_RELEASE_LIST,
  prepareRelease,
  type Readiness,
  type Releaser,
  type SubmitOutcome,
  type WebhookTarget,
} from "../control/index.ts";
import { isStoreError, type Store } from "../store/index.ts";
import { type Auth, BEARER, createAuth, SECURITY_SCHEMES } from "./_auth.ts";
import { errorResponse, readBody, STATUS } from "./_http.ts";
import { createHttpCounters, exposition, httpFamilies, METRICS_CONTENT_TYPE } from "./_metrics.ts";
import { fleetRoutes, type ServerRole } from "./_server_status.ts";
import { handleWebhook, outcomeResponse } from "./_server_webhook.ts";
import { NAME_RE, ROLES, type TokenStore } from "./_tokens.ts";

export type { ServerRole } from "./_server_status.ts";

/** What the server app is built from. */
export interface ServerAppOptions {
  store: Store;
  releaser: Releaser;
  tokens: TokenStore;
  /** The tokens come from `--tokens-file`: `POST /tokens` is refused. */
  tokensManaged?: boolean;
  /** The branch compiled, and what webhooks must match. */
  target: WebhookTarget;
  /** `--webhook-secret-file`'s secret; absent: `/postreceive` answers 404. */
  webhookSecret?: string;
  /** This instance's role: `single` (one server), or `leader`/`follower` on etcd. */
  role(): ServerRole;
  /** The leader's name (servers on etcd). */
  leader?: () => string | undefined;
  /** Whether this instance can serve (servers on etcd: a leader, or a follower that sees one); default: the store answers. */
  readiness?: () => Readiness;
  /** Where compiles go instead of the releaser (servers on etcd: the leader compiles, a follower queues). */
  submit?: (r: CompileRequest) => Promise<SubmitOutcome>;
  log: Logger;
  version?: string;
  now?: () => Date;
  /** Largest JSON body (default 64 KiB). */
  maxBody?: number;
}

const Name = (what: string) => v.pipe(v.string(`${what} must be a string`), v.regex(NAME_RE, "must match [a-z0-9][a-z0-9._-]{0,62}"));
const PrepareBody = v.strictObject({
  release: v.pipe(v.string("release must be a string"), v.maxLength(100, "release is too long")),
  sites: v.optional(v.pipe(v.array(Name("a site"), "sites must be a list of site ids"), v.maxLength(10_000, "at most 10000 sites"))),
});
const ReleasesBody = v.strictObject({ ref: v.optional(v.pipe(v.string("ref must be a string"), v.maxLength(256, "ref is too long"))) });
const TokenBody = v.strictObject({
  name: Name("name"),
  role: v.picklist(ROLES, `must be one of ${ROLES.join(", ")}`),
  site: v.optional(Name("site")),
});

const jsonRequest = (schema: v.GenericSchema) => ({
  required: true,
  content: { "application/json": { schema: toJsonSchema(schema) as object } },
});

/** Reads and validates a JSON object body; the first problem names its field. An empty body counts as `{}` when `empty` is set. */
async function jsonBody<T>(
  request: Request,
  limit: number,
  what: string,
  schema: v.GenericSchema<unknown, T>,
  empty = false,
): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  const text = await readBody(request, limit);
  if (text === undefined) return { ok: false, response: errorResponse("BODY_TOO_LARGE", `${what} bodies are at most ${limit} bytes`) };
  let value: unknown;
  try {
    value = empty && text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    const why = text.trim() === "" ? "the body is empty" : describeError(e).slice(0, 200);
    return { ok: false, response: errorResponse("BODY_INVALID", `${what} wants a JSON object: ${why}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, response: errorResponse("BODY_INVALID", `${what}: the body must be a JSON object`) };
  }
  const r = v.safeParse(schema, value);
  if (r.success) return { ok: true, value: r.output };
  const issue = r.issues[0];
  const path = issue ? v.getDotPath(issue) : null;
  const msg =
    issue?.type === "strict_object" && issue.expected === "never"
      ? `unknown field ${JSON.stringify(path ?? "")}`
      : `${path === null ? "" : `field ${JSON.stringify(path)}: `}${issue?.message ?? "invalid body"}`;
  return { ok: false, response: errorResponse("BODY_INVALID", `${what}: ${msg}`) };
}

/** Builds the server app (an Elysia instance; mount the agent link beside it with `.use()`). */
export function createServerApp(o: ServerAppOptions) {
  const auth: Auth = createAuth(o.tokens, o.log);
  const maxBody = o.maxBody ?? 64 * 1024;
  const now = o.now ?? (() => new Date());
  const counters = createHttpCounters();
  const failed = (e: unknown, what: string): Response => {
    if (isStoreError(e)) {
      o.log.error({ err: describeError(e) }, `${what}: store unavailable`);
      return errorResponse("STORE_UNAVAILABLE", `${what}: the store could not be reached; try again`);
    }
    if (isVaqueroError(e) && STATUS[e.code] !== undefined) return errorResponse(e.code, e.message);
    o.log.error({ err: describeError(e) }, `${what} failed`);
    return errorResponse("INTERNAL", `${what} failed`);
  };
  const submit = o.submit ?? ((r: CompileRequest) => o.releaser.compile(r));

  return new Elysia()
    .onAfterHandle(({ route, responseValue, set }) => {
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === "number" ? set.status : 200;
      counters.count(route, status, undefined);
    })
    .use(
      openapi({
        path: "/openapi",
        documentation: {
          info: {
            title: "Vaquero server API",
            version: o.version ?? "dev",
            description: "Webhooks, releases, staging, tokens and the fleet's status.",
          },
          components: { securitySchemes: SECURITY_SCHEMES },
        },
      }),
    )
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
            "A signed push (GitHub X-Hub-Signature-256, GitLab X-Gitlab-Token, Gitea/Forgejo X-Gitea-Signature/X-Forgejo-Signature, or X-Vaquero-Signature: sha256=<hex HMAC-SHA256 of the body>): 202 {release} once stored; 200 {ignored} for another repository or branch; 200 {release, duplicate: true} for a delivery or commit seen before; 401 WEBHOOK_SIGNATURE",
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
        if (ref !== undefined && ref !== o.target.branch && ref !== `refs/heads/${o.target.branch}`) {
          return errorResponse("BODY_INVALID", `/releases: this server compiles ${o.target.branch} (--ref), not ${JSON.stringify(ref)}`);
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
    )
    .post(
      "/prepare",
      async ({ request }) => {
        const who = await auth.check(request, "operator");
        if (who instanceof Response) return who;
        const body = await jsonBody(request, maxBody, "/prepare", PrepareBody);
        if (!body.ok) return body.response;
        if (who.site !== undefined && (body.value.sites === undefined || body.value.sites.some((s) => s !== who.site))) {
          return errorResponse("FORBIDDEN", `token "${who.name}" may only prepare site "${who.site}": name it in sites`);
        }
        try {
          const desired = await prepareRelease(o.store, {
            release: body.value.release,
            ...(body.value.sites ? { sites: body.value.sites } : {}),
            by: who.name,
            now: now(),
          });
          o.log.info({ release: body.value.release, sites: Object.keys(desired), by: who.name }, "release prepared");
          return Response.json({ release: body.value.release, sites: desired }, { status: 202 });
        } catch (e) {
          return failed(e, "prepare");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["releases"],
          summary:
            "Stage a release on sites (operator; default all of its sites): 202 {release, sites: {<id>: {release, bundle, staged_at, by}}}; a rejected release 409, an unknown release or site 404",
          security: BEARER,
          requestBody: jsonRequest(PrepareBody),
        },
      },
    )
    .post(
      "/tokens",
      async ({ request }) => {
        const who = await auth.check(request, "admin");
        if (who instanceof Response) return who;
        if (o.tokensManaged)
          return errorResponse("TOKENS_MANAGED", "tokens come from --tokens-file here: add the token's sha256 there and restart");
        const body = await jsonBody(request, maxBody, "/tokens", TokenBody);
        if (!body.ok) return body.response;
        const { name, role, site } = body.value;
        if (role === "agent" && site === undefined) return errorResponse("BODY_INVALID", "/tokens: an agent token needs a site");
        if (who.site !== undefined && site !== who.site)
          return errorResponse("FORBIDDEN", `token "${who.name}" may only issue tokens for site "${who.site}"`);
        try {
          const { record, token } = await o.tokens.issue({ name, role, ...(site === undefined ? {} : { site }) });
          o.log.info({ name, role, site, by: who.name }, "token issued");
          return Response.json(
            { name: record.name, role: record.role, ...(record.site === undefined ? {} : { site: record.site }), token },
            { status: 201, headers: { "cache-control": "no-store" } },
          );
        } catch (e) {
          return failed(e, "issue token");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["tokens"],
          summary: "Issue a token (admin): 201 {name, role, site?, token}; an agent token needs a site; a taken name is 409",
          security: BEARER,
          requestBody: jsonRequest(TokenBody),
        },
      },
    )
    .use(fleetRoutes({ store: o.store, auth, ref: o.target.branch, role: o.role, ...(o.leader ? { leader: o.leader } : {}), failed }))
    .get(
      "/metrics",
      () =>
        new Response(
          exposition([
            ...httpFamilies(counters),
            {
              name: "vaquero_releases_published_total",
              type: "counter",
              help: "Releases compiled and stored by this instance",
              samples: [{ value: o.releaser.published }],
            },
            {
              name: "vaquero_compiles_pending",
              type: "gauge",
              help: "Compiles running or queued",
              samples: [{ value: o.releaser.pending }],
            },
            {
              name: "vaquero_server_leader",
              type: "gauge",
              help: "1 when this instance may compile (leader or single)",
              samples: [{ value: o.role() === "follower" ? 0 : 1 }],
            },
          ]),
          { headers: { "content-type": METRICS_CONTENT_TYPE } },
        ),
      { detail: { tags: ["health"], summary: "Prometheus text: HTTP requests, releases published, compiles pending, leadership" } },
    )
    .get("/live", () => ({ status: "ok" }), { detail: { tags: ["health"], summary: "The process is alive" } })
    .get(
      "/ready",
      async () => {
        if (o.readiness) {
          const r = o.readiness();
          const leader = o.leader?.();
          if (r.ready) return { status: "ready", role: o.role(), ...(leader ? { leader } : {}) };
          return Response.json({ error: { code: r.code, message: r.reason }, role: o.role() }, { status: 503 });
        }
        try {
          await o.store.status();
          return { status: "ready", role: o.role() };
        } catch {
          return errorResponse("STORE_UNAVAILABLE", "the store cannot be reached");
        }
      },
      {
        detail: {
          tags: ["health"],
          summary:
            "200 {status, role, leader?} when this instance can serve its role (single: its store answers; on etcd: it leads, or it sees a leader and its store); else 503 {error: {code: STORE_UNAVAILABLE|NO_LEADER}, role}",
        },
      },
    )
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return errorResponse("NOT_FOUND", "no such endpoint");
      o.log.warn({ err: String(error) }, "server API error");
      return errorResponse("BAD_REQUEST", code === "PARSE" ? "malformed request" : "request failed");
    });
}
