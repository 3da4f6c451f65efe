import { Elysia } from "elysia";
import * as v from "valibot";
import type { Logger } from "../../internal/log/index.ts";
import type { RolloutView } from "../state/index.ts";
import { type Auth, BEARER, createAuth, type NeededRole, type Principal } from "./_auth.ts";
import { errorResponse } from "./_http.ts";
import { failureResponder, jsonBody, jsonRequest } from "./_json.ts";
import type { StagedSite } from "./_stage.ts";
import { NAME_RE, ROLES, type TokenStore } from "./_tokens.ts";

/** What the control app is built from. */
export interface ControlAppOptions {
  /** The staged site, or undefined before a release is staged. */
  site(): StagedSite | undefined;
  tokens: TokenStore;
  /** The tokens come from `--tokens-file`: `POST /tokens` is refused (a token issued here would not survive). */
  tokensManaged?: boolean;
  log: Logger;
  /** Largest request body accepted (default 64 KiB). */
  maxBody?: number;
  /**
   * The hosts the staged release changed on this site, against the release before it (`changed: true`);
   * undefined when there is no earlier release to compare with: then every host that may be provisioned.
   */
  changedHosts?: (site: StagedSite) => Promise<readonly string[] | undefined>;
}

/** Most rollouts `GET /rollouts` lists. */
export const MAX_ROLLOUT_LIST = 1000;
/** Most hosts one `POST /execute` may name. */
export const MAX_EXECUTE_HOSTS = 10_000;

const Count = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.integer(`${what} must be an integer`), v.minValue(0, `${what} must be 0 or more`));
const HostName = v.pipe(v.string("host names are strings"), v.regex(NAME_RE, "is not a host name ([a-z0-9][a-z0-9._-]{0,62})"));

/** `POST /execute`'s body. */
const ExecuteBody = v.strictObject({
  site: v.pipe(v.string("site must be a string"), v.maxLength(200, "site is too long")),
  hosts: v.optional(
    v.pipe(v.array(HostName, "hosts must be a list of host names"), v.maxLength(MAX_EXECUTE_HOSTS, `at most ${MAX_EXECUTE_HOSTS} hosts`)),
  ),
  changed: v.optional(v.literal(true, "changed may only be true")),
  policy: v.optional(
    v.strictObject(
      {
        max_concurrent: v.optional(Count("max_concurrent")),
        max_fail: v.optional(Count("max_fail")),
        min_standing: v.optional(v.nullable(Count("min_standing"))),
        stage_timeout: v.optional(
          v.pipe(
            v.number("stage_timeout must be a number of seconds"),
            v.integer("stage_timeout must be whole seconds"),
            v.minValue(1, "stage_timeout must be at least 1"),
          ),
        ),
      },
      "policy must be an object",
    ),
  ),
});

/** `POST /tokens`'s body. */
const TokenBody = v.strictObject({
  name: v.pipe(v.string("name must be a string"), v.regex(NAME_RE, "must match [a-z0-9][a-z0-9._-]{0,62}")),
  role: v.picklist(ROLES, `must be one of ${ROLES.join(", ")}`),
  site: v.optional(v.pipe(v.string("site must be a string"), v.maxLength(200, "site is too long"))),
});

const ROLLOUT_ID = /^[a-z0-9-]{1,64}$/;

/** A rollout as the API shows it: the engine's view with each host's machine state, stage and reason. */
export function presentRollout(view: RolloutView, s: StagedSite) {
  const hosts = Object.fromEntries(
    Object.entries(view.hosts).map(([name, h]) => {
      const m = s.engine.machine(h.mac);
      const machine = m
        ? { state: m.state, stage: m.stage, ...(m.reason ? { reason: m.reason } : {}), updated_at: m.updated_at }
        : undefined;
      return [name, { ...h, ...(machine ? { machine } : {}) }];
    }),
  );
  return { ...view, site: s.bundle.site.id, hosts };
}

/** A rollout in a list (and in `/status`): no hosts. */
export function rolloutSummary(view: RolloutView) {
  const { id, release, created_at, state, reason, counts } = view;
  return { id, release, created_at, state, ...(reason ? { reason } : {}), counts };
}

/** Builds the control app (a plugin: `.use()` it on the app that serves the site). */
export function createControlApp(o: ControlAppOptions) {
  const auth: Auth = createAuth(o.tokens, o.log);
  const maxBody = o.maxBody ?? 64 * 1024;

  /** The staged site and the caller, or the response that refuses the request. */
  const enter = async (request: Request, need: NeededRole): Promise<{ s: StagedSite; who: Principal } | Response> => {
    const s = o.site();
    const who = await auth.check(request, need, s?.bundle.site.id);
    if (who instanceof Response) return who;
    if (!s) return errorResponse("NOT_STAGED", "no release is staged here yet");
    return { s, who };
  };
  const failed = failureResponder(o.log, { code: "STATE_NOT_STORED", message: "the change could not be stored; try again" });
  const control =
    (action: "pause" | "resume" | "cancel") =>
    async ({ params, request }: { params: { id: string }; request: Request }) => {
      const e = await enter(request, "operator");
      if (e instanceof Response) return e;
      if (!ROLLOUT_ID.test(params.id)) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${JSON.stringify(params.id.slice(0, 80))}`);
      try {
        const view =
          action === "pause"
            ? await e.s.engine.pauseRollout(params.id)
            : action === "resume"
              ? await e.s.engine.resumeRollout(params.id)
              : await e.s.engine.cancelRollout(params.id);
        o.log.info({ rollout: view.id, action, state: view.state, by: e.who.name }, "rollout control");
        return presentRollout(view, e.s);
      } catch (err) {
        return failed(err, `${action} rollout`);
      }
    };
  const controlDetail = (action: string) => ({
    tags: ["rollouts"],
    summary: `${action} a rollout (operator); repeating pause or resume changes nothing; 409 ROLLOUT_STATE when it cannot`,
    security: BEARER,
  });

  return new Elysia()
    .post(
      "/execute",
      async ({ request }) => {
        const e = await enter(request, "operator");
        if (e instanceof Response) return e;
        const { s, who } = e;
        const body = await jsonBody(request, maxBody, "/execute", ExecuteBody);
        if (!body.ok) return body.response;
        const req = body.value;
        const siteId = s.bundle.site.id;
        if (req.site !== siteId) {
          return errorResponse(
            "SITE_UNKNOWN",
            `site ${JSON.stringify(req.site.slice(0, 63))} is not served here (this serves "${siteId}")`,
          );
        }
        if ((req.hosts === undefined) === (req.changed === undefined)) {
          return errorResponse("BODY_INVALID", "/execute: give exactly one of hosts (host names) or changed: true");
        }
        // changed: the hosts the staged release changed; with no earlier release, every host that may be provisioned.
        const provisionable = new Set(s.bundle.hosts.filter((h) => !h.never_provision).map((h) => h.name));
        const changed = req.changed ? await o.changedHosts?.(s) : undefined;
        const hosts = req.hosts ?? (changed ? changed.filter((h) => provisionable.has(h)) : [...provisionable]);
        try {
          const view = await s.engine.startRollout({ hosts, ...(req.policy ? { policy: req.policy } : {}) });
          o.log.info({ rollout: view.id, hosts: hosts.length, by: who.name }, "rollout started");
          return Response.json({ rollout: presentRollout(view, s) }, { status: 202 });
        } catch (err) {
          return failed(err, "start rollout");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["rollouts"],
          summary: "Start a rollout of the named hosts, or of every host with changed: true (operator); 202 {rollout}",
          security: BEARER,
          requestBody: jsonRequest(ExecuteBody),
        },
      },
    )
    .get(
      "/rollouts",
      async ({ request, query }) => {
        const e = await enter(request, "viewer");
        if (e instanceof Response) return e;
        const state = typeof query.state === "string" ? query.state : undefined;
        const limit = Math.min(Math.max(Number.parseInt(String(query.limit ?? "100"), 10) || 100, 1), MAX_ROLLOUT_LIST);
        const list = e.s.engine
          .rollouts()
          .filter((r) => !state || r.state === state)
          .reverse()
          .slice(0, limit);
        return { site: e.s.bundle.site.id, rollouts: list.map(rolloutSummary) };
      },
      {
        detail: {
          tags: ["rollouts"],
          summary: "Rollouts, newest first (viewer): id, state, reason, counts; ?state=, ?limit= (default 100)",
          security: BEARER,
        },
      },
    )
    .get(
      "/rollouts/:id",
      async ({ params, request }) => {
        const e = await enter(request, "viewer");
        if (e instanceof Response) return e;
        const view = ROLLOUT_ID.test(params.id) ? e.s.engine.rollout(params.id) : undefined;
        if (!view) return errorResponse("ROLLOUT_UNKNOWN", `no rollout ${JSON.stringify(params.id.slice(0, 80))}`);
        return presentRollout(view, e.s);
      },
      {
        detail: {
          tags: ["rollouts"],
          summary: "One rollout (viewer): every host's rollout state and machine state, counts, why it halted",
          security: BEARER,
        },
      },
    )
    .post("/rollouts/:id/pause", control("pause"), { parse: "none", detail: controlDetail("Pause") })
    .post("/rollouts/:id/resume", control("resume"), { parse: "none", detail: controlDetail("Resume (also a halted one)") })
    .post("/rollouts/:id/cancel", control("cancel"), { parse: "none", detail: controlDetail("Cancel") })
    .post(
      "/tokens",
      async ({ request }) => {
        const e = await enter(request, "admin");
        if (e instanceof Response) return e;
        if (o.tokensManaged) {
          return errorResponse("TOKENS_MANAGED", "tokens come from --tokens-file here: add the token's sha256 there and restart");
        }
        const body = await jsonBody(request, maxBody, "/tokens", TokenBody);
        if (!body.ok) return body.response;
        const { name, role, site } = body.value;
        const siteId = e.s.bundle.site.id;
        if (site !== undefined && site !== siteId) {
          return errorResponse("SITE_UNKNOWN", `site ${JSON.stringify(site.slice(0, 63))} is not served here (this serves "${siteId}")`);
        }
        if (role === "agent" && site === undefined) return errorResponse("BODY_INVALID", "/tokens: an agent token needs a site");
        if (e.who.site !== undefined && site !== e.who.site) {
          return errorResponse("FORBIDDEN", `token "${e.who.name}" may only issue tokens for site "${e.who.site}"`);
        }
        try {
          const { record, token } = await o.tokens.issue({ name, role, ...(site === undefined ? {} : { site }) });
          o.log.info({ name, role, site, by: e.who.name }, "token issued");
          return Response.json(
            { name: record.name, role: record.role, ...(record.site === undefined ? {} : { site: record.site }), token },
            { status: 201, headers: { "cache-control": "no-store" } },
          );
        } catch (err) {
          return failed(err, "issue token");
        }
      },
      {
        parse: "none",
        detail: {
          tags: ["tokens"],
          summary: "Issue a token (admin): 201 {name, role, site?, token}; the token is shown only here; a taken name is 409",
          security: BEARER,
          requestBody: jsonRequest(TokenBody),
        },
      },
    );
}
