/**
 * The agent's HTTP API (API.md "Agent"): what booting machines fetch and report, and the site's status. Thin:
 * each route decodes its input, asks pkg/boot, pkg/sot or pkg/state, and maps the answer to a response.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Logger } from "../../internal/log/index.ts";
import { normalizeMac } from "../../internal/net/index.ts";
import type { PathGuard } from "../../internal/pathguard/index.ts";
import { exitScript, firstContactScript, unknownMachineScript } from "../boot/index.ts";
import { RenderError } from "../sot/index.ts";
import type { MachineState } from "../state/index.ts";
import { serveAssets } from "./_assets.ts";
import { SECURITY_SCHEMES } from "./_auth.ts";
import { requestBase, servedFor } from "./_base.ts";
import { errorResponse, readBody } from "./_http.ts";
import { createHttpCounters, exposition, httpFamilies, METRICS_CONTENT_TYPE, siteFamilies, upstreamFamilies } from "./_metrics.ts";
import { createRateLimiter } from "./_ratelimit.ts";
import type { StagedSite } from "./_stage.ts";
import { bodyBytes, clientIpOf, markStart, noteMachine, traceRequest } from "./_trace.ts";
import type { UpstreamCache } from "./_upstream.ts";

/** What the agent API is built from. */
export interface AgentAppOptions {
  /** The staged site, or undefined before the first release arrives. */
  site(): StagedSite | undefined;
  /** The site's asset directory, when it has one. */
  assets?: PathGuard;
  /** The site's asset upstream with its cache, asked for files the asset directory does not have. */
  upstream?: UpstreamCache;
  /**
   * The MAC of the machine at an address (reservations of the bundle, addresses DHCP handed out), so that
   * requests without a MAC (`/assets/…`, `/ipxe/…`, first contact) join that machine's boot trace.
   */
  macOf?: (ip: string) => string | undefined;
  /** The client's address of a request (default: what {@link withClientIp} attached to it). */
  clientIp?: (request: Request) => string | undefined;
  /** A monotonic clock in ms for the `ms` of trace events (default `performance.now`). */
  now?: () => number;
  /** The boot programs (iPXE builds) by name, served at `/ipxe/<name>` for UEFI HTTP boot. */
  programs?: ReadonlyMap<string, Uint8Array>;
  log: Logger;
  /** Version shown in the OpenAPI description. */
  version?: string;
  /** Largest `/state` body accepted (default 64 KiB). */
  maxStateBody?: number;
  /**
   * Requests per second per client address on the endpoints booting machines reach (`/boot.ipxe`, `/config`,
   * `/state`, `/assets`, `/ipxe`), with a burst of 5 s worth; 0 turns the limit off. Default 20.
   */
  bootRate?: number;
  /** The rate limiter's clock in ms (default `performance.now`; tests step it). */
  bootRateClock?: () => number;
  /** Shown as `role` in `/status` (standalone answers with the agent's shape plus its role). */
  role?: string;
}

/** Rollouts `/status` shows: the most recent ones. */
export const STATUS_ROLLOUTS = 20;

/** Paths of the unauthenticated endpoints booting machines reach. */
const BOOT_PATHS = /^\/(boot\.ipxe|config\/|state$|assets\/|ipxe\/)/;

/** Events a booting OS may report (API.md). */
export const STATE_EVENTS = ["booted", "stage-done", "installed", "failed", "log"] as const;
const STATES: MachineState[] = ["unknown", "pending", "powering", "booting", "installing", "provisioned", "failed", "skipped"];
const PAGE = 100;

/** An iPXE script response, with its length (counted in metrics and traces). */
function ipxe(script: string): Response {
  return new Response(script, {
    headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(script)) },
  });
}

/** Builds the agent app. Bind it with `.listen()` or test it with `app.handle(new Request(…))`. */
export function createAgentApp(o: AgentAppOptions) {
  const maxBody = o.maxStateBody ?? 64 * 1024;
  const staged = (): StagedSite | Response => o.site() ?? errorResponse("NOT_STAGED", "no release is staged on this agent yet");
  const now = o.now ?? (() => performance.now());
  const counters = createHttpCounters();
  const trace = { clientIp: o.clientIp ?? clientIpOf, macOf: o.macOf, now };
  /** Counts an answered request and records its trace event: once per request, after its response is built. */
  const observe = (request: Request, route: string, status: number, headers: Headers | undefined): void => {
    counters.count(route, status, bodyBytes(headers));
    traceRequest({ ...trace, engine: o.site()?.engine }, request, route, status, headers);
  };

  const rate = o.bootRate ?? 20;
  const limiter =
    rate > 0 ? createRateLimiter({ perSecond: rate, burst: rate * 5, ...(o.bootRateClock ? { now: o.bootRateClock } : {}) }) : undefined;

  return new Elysia()
    .onRequest(({ request }) => {
      markStart(request, now());
      if (!limiter) return;
      const ip = trace.clientIp(request);
      if (ip === undefined || !BOOT_PATHS.test(new URL(request.url, "http://agent").pathname)) return;
      const d = limiter.take(ip);
      if (d.ok) return;
      counters.count("limited", 429, 0);
      o.log.debug({ ip, url: request.url.slice(0, 200) }, "boot request rate-limited");
      return errorResponse("RATE_LIMITED", `too many requests from ${ip}; retry in ${d.retryAfterSeconds} s`, {
        "retry-after": String(d.retryAfterSeconds),
      });
    })
    .onAfterHandle(({ request, route, responseValue, set }) => {
      if (responseValue instanceof Response) observe(request, route, responseValue.status, responseValue.headers);
      else observe(request, route, typeof set.status === "number" ? set.status : 200, undefined);
    })
    .use(
      openapi({
        path: "/openapi",
        // /boot.ipxe looks like a static file to the plugin, which would leave it out by default.
        exclude: { staticFile: false },
        documentation: {
          info: {
            title: "Vaquero agent API",
            version: o.version ?? "dev",
            description: "What booting machines fetch and report, and the site's status.",
          },
          components: { securitySchemes: SECURITY_SCHEMES },
        },
      }),
    )
    .get(
      "/boot.ipxe",
      ({ query, request }) => {
        const s = o.site();
        const base = requestBase(request, s?.bundle.site.agent.url);
        if (query.mac === undefined) {
          if (!base) return errorResponse("NOT_STAGED", "no release is staged and the request's Host is not a plain address");
          return ipxe(firstContactScript(base));
        }
        if (!s || !base) return errorResponse("NOT_STAGED", "no release is staged on this agent yet");
        const mac = normalizeMac(String(query.mac));
        const host = mac ? s.renderer.lookup(mac) : undefined;
        if (!mac || !host) {
          o.log.info({ mac: query.mac, site: s.bundle.site.id }, "boot script for an unknown machine");
          return ipxe(unknownMachineScript(base, String(query.mac).slice(0, 40), s.bundle.site.id));
        }
        const next = s.engine.bootFor(mac);
        if (!next || "exit" in next) {
          const why = next && "exit" in next ? next.exit : "not a host of this site";
          noteMachine(request, mac, { exit: why });
          return ipxe(exitScript(why));
        }
        try {
          const served = servedFor(s, base, mac, next.boot);
          if ("code" in served) return errorResponse("BOOT_UNKNOWN", `boot "${next.boot}" is not in site "${s.bundle.site.id}"`);
          noteMachine(request, mac, { boot: served.boot, uuid: query.uuid, arch: query.arch });
          return ipxe(served.script);
        } catch (e) {
          return renderFailure(o.log, mac, e);
        }
      },
      {
        detail: {
          tags: ["boot"],
          summary:
            "iPXE script: first contact without mac; with mac, the machine's current stage (unknown machines retry, provisioned ones boot their disk)",
        },
      },
    )
    .get(
      "/config/:mac",
      ({ params, query, request }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const base = requestBase(request, s.bundle.site.agent.url) ?? s.bundle.site.agent.url;
        const mac = normalizeMac(params.mac);
        if (!mac) return errorResponse("MAC_INVALID", `"${params.mac.slice(0, 40)}" is not a MAC address`);
        if (!s.renderer.lookup(mac)) return errorResponse("MAC_UNKNOWN", `MAC ${mac} is not a host of site "${s.bundle.site.id}"`);
        const next = s.engine.bootFor(mac);
        const boot = typeof query.boot === "string" ? query.boot : next && "boot" in next ? next.boot : undefined;
        if (!boot)
          return errorResponse("NO_CONFIG", `MAC ${mac} has no stage to configure (${next && "exit" in next ? next.exit : "unknown"})`);
        try {
          const served = servedFor(s, base, mac, boot);
          if ("code" in served) return errorResponse("BOOT_UNKNOWN", `boot "${boot}" is not used in site "${s.bundle.site.id}"`);
          if (!served.config) return errorResponse("NO_CONFIG", `boot "${boot}" has no unattended config`);
          noteMachine(request, mac, { boot, type: served.config.type });
          const body = served.config.body;
          return new Response(body, {
            headers: { "content-type": served.config.contentType, "content-length": String(Buffer.byteLength(body)) },
          });
        } catch (e) {
          return renderFailure(o.log, mac, e);
        }
      },
      { detail: { tags: ["boot"], summary: "The machine's rendered unattended config for its current stage, or ?boot=ID" } },
    )
    .get("/assets/*", ({ params, request }) => serveAssets({ dir: o.assets, upstream: o.upstream }, params["*"], request), {
      detail: { tags: ["boot"], summary: "A file of the site's asset directory, else of its upstream (cached); Range, ETag" },
    })
    .get(
      "/ipxe/*",
      ({ params }) => {
        const body = o.programs?.get(params["*"]);
        if (!body) return errorResponse("ASSET_NOT_FOUND", `boot program "${params["*"].slice(0, 80)}" is not served here`);
        return new Response(body, { headers: { "content-type": "application/octet-stream", "content-length": String(body.byteLength) } });
      },
      { detail: { tags: ["boot"], summary: "A boot program (iPXE build) for UEFI HTTP boot" } },
    )
    .post(
      "/state",
      async ({ request }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const text = await readBody(request, maxBody);
        if (text === undefined) return errorResponse("BODY_TOO_LARGE", `/state bodies are at most ${maxBody} bytes`);
        const type = request.headers.get("content-type") ?? "";
        let fields: Record<string, unknown>;
        if (type.includes("application/json")) {
          try {
            const v: unknown = JSON.parse(text);
            if (typeof v !== "object" || v === null || Array.isArray(v)) return errorResponse("BODY_INVALID", "/state wants a JSON object");
            fields = v as Record<string, unknown>;
          } catch (e) {
            return errorResponse("BODY_INVALID", `/state body is not JSON: ${(e as Error).message}`);
          }
        } else if (type.includes("application/x-www-form-urlencoded") || type === "") {
          fields = Object.fromEntries(new URLSearchParams(text));
        } else return errorResponse("UNSUPPORTED_MEDIA_TYPE", `/state takes JSON or a form, not ${type.slice(0, 80)}`);
        const { mac: rawMac, event, ...detail } = fields;
        const mac = typeof rawMac === "string" ? normalizeMac(rawMac) : undefined;
        if (!mac) return errorResponse("MAC_INVALID", "/state needs mac, a MAC address");
        if (typeof event !== "string" || !(STATE_EVENTS as readonly string[]).includes(event)) {
          return errorResponse("EVENT_INVALID", `/state needs event, one of ${STATE_EVENTS.join(", ")}`);
        }
        let m: Awaited<ReturnType<typeof s.engine.report>>;
        try {
          // 204 only once the report and the state it caused are durable.
          m = await s.engine.report(mac, event, detail);
        } catch (e) {
          o.log.error({ mac, event, err: e instanceof Error ? e.message : String(e) }, "machine report not stored");
          return errorResponse("STATE_NOT_STORED", "the report could not be stored; send it again");
        }
        if (!m) return errorResponse("MAC_UNKNOWN", `MAC ${mac} is not a host of site "${s.bundle.site.id}"`);
        o.log.info({ mac, host: m.host, event, state: m.state }, "machine report");
        return new Response(null, { status: 204 });
      },
      {
        parse: "none",
        detail: {
          tags: ["boot"],
          summary: "A booting machine's report: mac and event (booted, stage-done, installed, failed, log); other fields are kept",
        },
      },
    )
    .get(
      "/status",
      () => {
        const s = staged();
        if (s instanceof Response) return s;
        const machines = s.engine.machines();
        const by_state = Object.fromEntries(STATES.map((st) => [st, machines.filter((m) => m.state === st).length]).filter(([, n]) => n));
        const rollouts = s.engine
          .rollouts()
          .slice(-STATUS_ROLLOUTS)
          .map(({ id, state, reason, counts }) => ({ id, state, ...(reason ? { reason } : {}), counts }));
        return {
          ...(o.role ? { role: o.role } : {}),
          site: s.bundle.site.id,
          release: s.release,
          machines: { total: machines.length, by_state },
          rollouts,
        };
      },
      { detail: { tags: ["status"], summary: "The site: staged release, machines by state, the 20 most recent rollouts" } },
    )
    .get(
      "/status/machines",
      ({ query }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const wanted = typeof query.state === "string" ? query.state : undefined;
        const after = typeof query.cursor === "string" ? query.cursor : "";
        const list = s.engine.machines().filter((m) => (!wanted || m.state === wanted) && m.mac > after);
        const page = list.slice(0, PAGE).map(({ mac, host, state, stage, updated_at }) => ({ mac, host, state, stage, updated_at }));
        return { machines: page, ...(list.length > PAGE ? { next_cursor: page[page.length - 1]?.mac } : {}) };
      },
      { detail: { tags: ["status"], summary: "A page of machines (?state=, ?cursor=)" } },
    )
    .get(
      "/status/machines/:mac",
      ({ params }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const mac = normalizeMac(params.mac);
        if (!mac) return errorResponse("MAC_INVALID", `"${params.mac.slice(0, 40)}" is not a MAC address`);
        const m = s.engine.machine(mac);
        if (!m) return errorResponse("MAC_UNKNOWN", `MAC ${mac} is not a host of site "${s.bundle.site.id}"`);
        return {
          mac,
          host: m.host,
          state: m.state,
          stage: m.stage,
          ...(m.reason ? { reason: m.reason } : {}),
          events: s.engine.events(mac),
        };
      },
      { detail: { tags: ["status"], summary: "One machine and its boot trace" } },
    )
    .get(
      "/metrics",
      () =>
        new Response(exposition([...httpFamilies(counters), ...siteFamilies(o.site()), ...upstreamFamilies(o.upstream)]), {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        }),
      { detail: { tags: ["health"], summary: "Prometheus text: HTTP requests and bytes, machines by state, release, upstream cache" } },
    )
    .get("/live", () => ({ status: "ok" }), { detail: { tags: ["health"], summary: "The process is alive" } })
    .get("/ready", () => (o.site() ? { status: "ready" } : errorResponse("NOT_STAGED", "no release is staged on this agent yet")), {
      detail: { tags: ["health"], summary: "200 once a release is staged, else 503" },
    })
    .onError(({ code, error }) => {
      const res =
        code === "NOT_FOUND"
          ? errorResponse("NOT_FOUND", "no such endpoint")
          : errorResponse("BAD_REQUEST", code === "PARSE" ? "malformed request" : "request failed");
      if (code !== "NOT_FOUND") o.log.warn({ err: String(error) }, "agent API error");
      counters.count("other", res.status, undefined);
      return res;
    });
}

function renderFailure(log: Logger, mac: string, e: unknown): Response {
  if (e instanceof RenderError) {
    log.error({ mac, template: e.template, err: e.message }, "render failed");
    return errorResponse(e.code, e.message);
  }
  throw e;
}
