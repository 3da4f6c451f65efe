/**
 * The server's own endpoints (API.md "Server"): webhooks (`/postreceive`), releases (`/releases…`), staging
 * (`/prepare`), tokens, the fleet (`/status…`), health and metrics, and the OpenAPI document. Roles as in
 * `_auth.ts`; bodies are JSON of at most 64 KiB checked field by field; errors are API.md's
 * `{"error": {"code", "message"}}`. The agent link (`/v1/agent/*`, server-mode `/execute`) is another plugin
 * mounted beside this one.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import * as v from "valibot";
import type { Logger } from "../../internal/log/index.ts";
import {
  type CompileRequest,
  prepareRelease,
  type Readiness,
  type Releaser,
  type SubmitOutcome,
  type WebhookTarget,
} from "../control/index.ts";
import type { Store } from "../store/index.ts";
import { type Auth, BEARER, createAuth, SECURITY_SCHEMES } from "./_auth.ts";
import { errorResponse } from "./_http.ts";
import { failureResponder, jsonBody, jsonRequest } from "./_json.ts";
import { createHttpCounters, exposition, httpFamilies, METRICS_CONTENT_TYPE } from "./_metrics.ts";
import { releaseRoutes } from "./_release_routes.ts";
import { fleetRoutes, type ServerRole } from "./_server_status.ts";
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
const TokenBody = v.strictObject({
  name: Name("name"),
  role: v.picklist(ROLES, `must be one of ${ROLES.join(", ")}`),
  site: v.optional(Name("site")),
});

/** Builds the server app (an Elysia instance; mount the agent link beside it with `.use()`). */
export function createServerApp(o: ServerAppOptions) {
  const auth: Auth = createAuth(o.tokens, o.log);
  const maxBody = o.maxBody ?? 64 * 1024;
  const now = o.now ?? (() => new Date());
  const counters = createHttpCounters();
  const failed = failureResponder(o.log);
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
    .use(
      releaseRoutes({
        store: o.store,
        releaser: o.releaser,
        tokens: o.tokens,
        target: o.target,
        submit,
        ...(o.webhookSecret ? { webhookSecret: o.webhookSecret } : {}),
        log: o.log,
        maxBody,
      }),
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
