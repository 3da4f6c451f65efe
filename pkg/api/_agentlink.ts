/**
 * The agent link over HTTP (API.md "Agent link", `/v1/agent/*`) and the server's rollout control that becomes site
 * commands (`POST /execute`, `POST /rollouts/<id>/pause|resume|cancel`, `GET /rollouts/<id>` from what agents
 * report). Agent routes take only tokens of role `agent`, each bound to one site: the site an agent acts on is its
 * token's, and naming another is 403. An Elysia plugin, mounted by `vaquero server`.
 */
import { randomBytes } from "node:crypto";
import { Elysia } from "elysia";
import * as v from "valibot";
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import {
  appendCommand,
  createLink,
  entryProblem,
  LINK_KEYS,
  type Link,
  type LinkEntry,
  MAX_EVENTS_PER_BATCH,
  MAX_WAIT_MS,
} from "../control/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";
import { type Auth, BEARER, bearerToken, createAuth } from "./_auth.ts";
import { errorResponse, readBody } from "./_http.ts";
import { failureResponder } from "./_json.ts";
import { NAME_RE, type TokenRecord, type TokenStore } from "./_tokens.ts";

/** What the agent link app is built from. */
export interface AgentLinkAppOptions {
  store: Store;
  /** The tokens (agent tokens for `/v1/agent/*`). */
  tokens: TokenStore;
  /** Role checks of the operator routes (default: over `tokens`). */
  auth?: Auth;
  log: Logger;
  now?: () => number;
  /** The link logic (default: one over `store`, closed by `app.stop()`); tests and benchmarks pass their own. */
  link?: Link;
  /** Largest `POST /v1/agent/events` body (default 8 MiB). */
  maxEventsBody?: number;
}

const SMALL_BODY = 64 * 1024;
const SHA_RE = /^[0-9a-f]{64}$/;
const ROLLOUT_ID = /^[a-z0-9-]{1,64}$/;
/** Where the site of a rollout started through the server is found. */
const rolloutSiteKey = (id: string): string => `/vaquero/rollout-sites/${id}`;

const Name = v.pipe(v.string("must be a string"), v.regex(NAME_RE, "must match [a-z0-9][a-z0-9._-]{0,62}"));
const RegisterBody = v.strictObject({ site: Name, name: Name, version: v.pipe(v.string(), v.maxLength(100)) });
const AckBody = v.strictObject({ release: v.pipe(v.string(), v.maxLength(200)), active: v.optional(v.pipe(v.string(), v.maxLength(200))) });
const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const ExecuteBody = v.strictObject({
  site: Name,
  hosts: v.optional(v.pipe(v.array(Name), v.maxLength(10_000))),
  changed: v.optional(v.literal(true)),
  policy: v.optional(
    v.strictObject({
      max_concurrent: v.optional(Count),
      max_fail: v.optional(Count),
      min_standing: v.optional(v.nullable(Count)),
      stage_timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    }),
  ),
});

/** Reads a JSON body of at most `limit` bytes; a Response when it is too large or not JSON. */
async function readJson(request: Request, limit: number, what: string): Promise<unknown | Response> {
  const text = await readBody(request, limit);
  if (text === undefined) return errorResponse("BODY_TOO_LARGE", `${what} bodies are at most ${limit} bytes`);
  try {
    return JSON.parse(text);
  } catch (e) {
    return errorResponse(
      "BODY_INVALID",
      `${what} wants JSON: ${text.trim() === "" ? "the body is empty" : describeError(e).slice(0, 200)}`,
    );
  }
}

function parse<T>(schema: v.GenericSchema<unknown, T>, value: unknown, what: string): T | Response {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = issue ? v.getDotPath(issue) : null;
  return errorResponse("BODY_INVALID", `${what}: ${path ? `field ${JSON.stringify(path)}: ` : ""}${issue?.message ?? "invalid body"}`);
}

/** Builds the agent link app (a plugin: `.use()` it on the server's app). */
export function createAgentLinkApp(o: AgentLinkAppOptions) {
  const now = o.now ?? Date.now;
  const link = o.link ?? createLink({ store: o.store, now, log: o.log });
  const auth = o.auth ?? createAuth(o.tokens, o.log);
  const maxEvents = o.maxEventsBody ?? 8 * 1024 * 1024;

  /** The agent's token, its site and its name; or the 401/403 response. */
  const agent = async (request: Request): Promise<{ rec: TokenRecord; site: string; name: string } | Response> => {
    const header = request.headers.get("authorization");
    const token = bearerToken(header);
    if (token === undefined) {
      return errorResponse("UNAUTHORIZED", "the agent link needs an agent token: Authorization: Bearer <token>", {
        "www-authenticate": 'Bearer realm="vaquero"',
      });
    }
    let rec: TokenRecord | undefined;
    try {
      rec = await o.tokens.verify(token);
    } catch (e) {
      o.log.error({ err: describeError(e) }, "tokens could not be read");
      return errorResponse("STORE_UNAVAILABLE", "tokens could not be read from the store; try again");
    }
    if (!rec)
      return errorResponse("UNAUTHORIZED", "unknown token", { "www-authenticate": 'Bearer realm="vaquero", error="invalid_token"' });
    if (rec.role !== "agent" || rec.site === undefined) {
      return errorResponse("FORBIDDEN", `the agent link needs a token of role agent bound to a site; token "${rec.name}" has ${rec.role}`);
    }
    const asked = new URL(request.url).searchParams.get("site");
    if (asked !== null && asked !== rec.site) return errorResponse("FORBIDDEN", `token "${rec.name}" is for site "${rec.site}" only`);
    const name = request.headers.get("vaquero-agent") ?? rec.name;
    if (!NAME_RE.test(name))
      return errorResponse("BAD_REQUEST", "the vaquero-agent header must be an agent name ([a-z0-9][a-z0-9._-]{0,62})");
    return { rec, site: rec.site, name };
  };
  const failed = failureResponder(o.log, { code: "STORE_UNAVAILABLE", message: "the store did not answer; try again" });
  const waitMs = (raw: unknown): number => {
    const m = /^(\d{1,6})(ms|s)?$/.exec(typeof raw === "string" ? raw : "");
    if (!m) return 30_000;
    const n = Number(m[1]) * (m[2] === "ms" ? 1 : 1000);
    return Math.min(n, MAX_WAIT_MS);
  };
  const control =
    (kind: "pause" | "resume" | "cancel") =>
    async ({ params, request }: { params: { id: string }; request: Request }) => {
      if (!ROLLOUT_ID.test(params.id)) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${JSON.stringify(params.id.slice(0, 80))}`);
      try {
        const kv = await o.store.get(rolloutSiteKey(params.id));
        if (!kv) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${params.id}`);
        const { site } = decodeJson<{ site: string }>(kv);
        const who = await auth.check(request, "operator", site);
        if (who instanceof Response) return who;
        const command = await appendCommand(o.store, site, { id: newId("c"), kind, rollout: params.id, by: who.name }, now);
        o.log.info({ rollout: params.id, site, kind, seq: command.seq, by: who.name }, "rollout command");
        return Response.json({ command }, { status: 202 });
      } catch (e) {
        return failed(e, `${kind} rollout`);
      }
    };
  const agentDetail = (summary: string) => ({ tags: ["agent link"], summary, security: BEARER });

  return new Elysia()
    .post(
      "/v1/agent/register",
      async ({ request }) => {
        const a = await agent(request);
        if (a instanceof Response) return a;
        const raw = await readJson(request, SMALL_BODY, "/v1/agent/register");
        if (raw instanceof Response) return raw;
        const body = parse(RegisterBody, raw, "/v1/agent/register");
        if (body instanceof Response) return body;
        if (body.site !== a.site) return errorResponse("FORBIDDEN", `token "${a.rec.name}" is for site "${a.site}" only`);
        try {
          const r = await link.register(a.site, { name: body.name, version: body.version });
          o.log.info({ site: a.site, agent: body.name, version: body.version }, "agent registered");
          return r;
        } catch (e) {
          return failed(e, "register");
        }
      },
      { parse: "none", detail: agentDetail("Register an agent (agent token of the site): {site, desired?}") },
    )
    .get(
      "/v1/agent/desired",
      async ({ request, query }) => {
        const a = await agent(request);
        if (a instanceof Response) return a;
        const after = typeof query.after === "string" && query.after !== "" ? query.after : undefined;
        const cAfter = Number.parseInt(String(query.commands_after ?? "0"), 10);
        try {
          return await link.poll(a.site, a.name, after, Number.isSafeInteger(cAfter) && cAfter > 0 ? cAfter : 0, waitMs(query.wait));
        } catch (e) {
          return failed(e, "desired poll");
        }
      },
      {
        detail: agentDetail(
          "Long poll (≤ 60 s): answers when the site's desired bundle differs from ?after= or commands after ?commands_after= exist",
        ),
      },
    )
    .get(
      "/v1/agent/bundles/:sha",
      async ({ request, params }) => {
        const a = await agent(request);
        if (a instanceof Response) return a;
        if (!SHA_RE.test(params.sha)) return errorResponse("NOT_FOUND", "a bundle is named by its lower-case hex SHA-256");
        try {
          const bytes = await link.bundle(a.site, params.sha);
          if (!bytes) return errorResponse("NOT_FOUND", `bundle ${params.sha} is not the desired bundle of site ${a.site}`);
          return new Response(bytes, { headers: { "content-type": "application/json", "cache-control": "no-store" } });
        } catch (e) {
          return failed(e, "bundle");
        }
      },
      { detail: agentDetail("The site's desired bundle, canonical bytes; the agent checks its SHA-256") },
    )
    .post(
      "/v1/agent/ack",
      async ({ request }) => {
        const a = await agent(request);
        if (a instanceof Response) return a;
        const raw = await readJson(request, SMALL_BODY, "/v1/agent/ack");
        if (raw instanceof Response) return raw;
        const body = parse(AckBody, raw, "/v1/agent/ack");
        if (body instanceof Response) return body;
        try {
          await link.ack(a.site, a.name, { release: body.release, ...(body.active ? { active: body.active } : {}) });
          return new Response(null, { status: 204 });
        } catch (e) {
          return failed(e, "ack");
        }
      },
      { parse: "none", detail: agentDetail("The agent staged {release}; 204") },
    )
    .post(
      "/v1/agent/events",
      async ({ request }) => {
        const a = await agent(request);
        if (a instanceof Response) return a;
        const raw = await readJson(request, maxEvents, "/v1/agent/events");
        if (raw instanceof Response) return raw;
        if (!Array.isArray(raw)) return errorResponse("BODY_INVALID", "/v1/agent/events wants a JSON array of entries");
        if (raw.length > MAX_EVENTS_PER_BATCH)
          return errorResponse("BODY_TOO_LARGE", `at most ${MAX_EVENTS_PER_BATCH} entries per request`);
        for (const [i, e] of raw.entries()) {
          const problem = entryProblem(e, i);
          if (problem) return errorResponse("BODY_INVALID", `/v1/agent/events: ${problem}`);
        }
        try {
          return { acked: await link.ingest(a.site, a.name, raw as LinkEntry[]) };
        } catch (e) {
          return failed(e, "events");
        }
      },
      { parse: "none", detail: agentDetail("Batched events, idempotent by (agent, seq): {acked: highest contiguous seq stored}") },
    )
    .post(
      "/execute",
      async ({ request }) => {
        const raw = await readJson(request, SMALL_BODY, "/execute");
        const site = typeof (raw as { site?: unknown })?.site === "string" ? (raw as { site: string }).site : undefined;
        const who = await auth.check(request, "operator", site);
        if (who instanceof Response) return who;
        if (raw instanceof Response) return raw;
        const body = parse(ExecuteBody, raw, "/execute");
        if (body instanceof Response) return body;
        if ((body.hosts === undefined) === (body.changed === undefined)) {
          return errorResponse("BODY_INVALID", "/execute: give exactly one of hosts (host names) or changed: true");
        }
        try {
          const desired = await o.store.get(LINK_KEYS.desired(body.site));
          if (!desired) return errorResponse("SITE_UNKNOWN", `nothing is prepared on site ${body.site}; POST /prepare first`);
          const release = decodeJson<{ release: string }>(desired).release;
          const hosts = body.hosts ?? (await changedHosts(o.store, release, body.site));
          const rollout = newId("r");
          await o.store.put(rolloutSiteKey(rollout), encodeJson({ site: body.site }));
          const command = await appendCommand(
            o.store,
            body.site,
            {
              id: newId("c"),
              kind: "execute",
              rollout,
              ...(hosts ? { hosts } : { changed: true as const }),
              ...(body.policy ? { policy: body.policy } : {}),
              by: who.name,
            },
            now,
          );
          o.log.info({ rollout, site: body.site, seq: command.seq, by: who.name }, "rollout requested");
          return Response.json({ rollout: { id: rollout, site: body.site, release, state: "requested", command } }, { status: 202 });
        } catch (e) {
          return failed(e, "execute");
        }
      },
      {
        parse: "none",
        detail: { tags: ["rollouts"], summary: "Start a rollout on a site's agent (operator); 202 {rollout}", security: BEARER },
      },
    )
    .get(
      "/rollouts/:id",
      async ({ params, request }) => {
        if (!ROLLOUT_ID.test(params.id)) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${JSON.stringify(params.id.slice(0, 80))}`);
        try {
          const kv = await o.store.get(rolloutSiteKey(params.id));
          const site = kv ? decodeJson<{ site: string }>(kv).site : undefined;
          const who = await auth.check(request, "viewer", site);
          if (who instanceof Response) return who;
          if (!site) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${params.id}`);
          const rec = await o.store.get(LINK_KEYS.rollout(site, params.id));
          return rec ? decodeJson(rec) : { id: params.id, site, state: "requested" };
        } catch (e) {
          return failed(e, "rollout");
        }
      },
      { detail: { tags: ["rollouts"], summary: "A rollout as its site's agent last reported it (viewer)", security: BEARER } },
    )
    .post("/rollouts/:id/pause", control("pause"), {
      parse: "none",
      detail: { tags: ["rollouts"], summary: "Pause (operator); 202", security: BEARER },
    })
    .post("/rollouts/:id/resume", control("resume"), {
      parse: "none",
      detail: { tags: ["rollouts"], summary: "Resume (operator); 202", security: BEARER },
    })
    .post("/rollouts/:id/cancel", control("cancel"), {
      parse: "none",
      detail: { tags: ["rollouts"], summary: "Cancel (operator); 202", security: BEARER },
    })
    .onStop(() => link.close());
}

/** The hosts a release changes on a site (its release record), or undefined when unknown: the agent takes every host. */
async function changedHosts(store: Store, release: string, site: string): Promise<string[] | undefined> {
  const kv = await store.get(`/vaquero/releases/${release}`);
  if (!kv) return undefined;
  try {
    const hosts = decodeJson<{ sites?: Record<string, { hosts_changed?: string[] }> }>(kv).sites?.[site]?.hosts_changed;
    return Array.isArray(hosts) && hosts.length ? hosts : undefined;
  } catch {
    return undefined;
  }
}

function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}
