/**
 * The agent's HTTP API (API.md "Agent"): what booting machines fetch and report, and the site's status. Thin:
 * each route decodes its input, asks pkg/boot, pkg/sot or pkg/state, and maps the answer to a response.
 */
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Logger } from "../../internal/log/index.ts";
import { normalizeMac } from "../../internal/net/index.ts";
import type { PathGuard } from "../../internal/pathguard/index.ts";
import { bootFor, exitScript, firstContactScript, unknownMachineScript } from "../boot/index.ts";
import { type Bundle, RenderError, type Renderer } from "../sot/index.ts";
import type { MachineState, Tracker } from "../state/index.ts";
import { serveAsset } from "./_assets.ts";
import { errorResponse, readBody } from "./_http.ts";

/** A release staged on this agent's site. */
export interface StagedSite {
  bundle: Bundle;
  renderer: Renderer;
  tracker: Tracker;
  release: { id: string; staged_at: string };
}

/** What the agent API is built from. */
export interface AgentAppOptions {
  /** The staged site, or undefined before the first release arrives. */
  site(): StagedSite | undefined;
  /** The site's asset directory, when it has one. */
  assets?: PathGuard;
  /** The boot programs (iPXE builds) by name, served at `/ipxe/<name>` for UEFI HTTP boot. */
  programs?: ReadonlyMap<string, Uint8Array>;
  log: Logger;
  /** Version shown in the OpenAPI description. */
  version?: string;
  /** Largest `/state` body accepted (default 64 KiB). */
  maxStateBody?: number;
}

/** Events a booting OS may report (API.md). */
export const STATE_EVENTS = ["booted", "stage-done", "installed", "failed", "log"] as const;
const STATES: MachineState[] = ["unknown", "pending", "powering", "booting", "installing", "provisioned", "failed", "skipped"];
const IPXE = { "content-type": "text/plain; charset=utf-8" };
const PAGE = 100;

/** Builds the agent app. Bind it with `.listen()` or test it with `app.handle(new Request(…))`. */
export function createAgentApp(o: AgentAppOptions) {
  const maxBody = o.maxStateBody ?? 64 * 1024;
  const staged = (): StagedSite | Response => o.site() ?? errorResponse("NOT_STAGED", "no release is staged on this agent yet");

  return new Elysia()
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
        },
      }),
    )
    .get(
      "/boot.ipxe",
      ({ query, request }) => {
        const origin = new URL(request.url).origin;
        if (query.mac === undefined) return new Response(firstContactScript(origin), { headers: IPXE });
        const s = staged();
        if (s instanceof Response) return s;
        const mac = normalizeMac(String(query.mac));
        const host = mac ? s.renderer.lookup(mac) : undefined;
        if (!mac || !host) {
          o.log.info({ mac: query.mac, site: s.bundle.site.id }, "boot script for an unknown machine");
          return new Response(unknownMachineScript(origin, String(query.mac).slice(0, 40), s.bundle.site.id), { headers: IPXE });
        }
        const next = s.tracker.bootFor(mac);
        if (!next || "exit" in next) {
          const why = next && "exit" in next ? next.exit : "not a host of this site";
          s.tracker.record(mac, "http", "boot.ipxe", { exit: why });
          return new Response(exitScript(why), { headers: IPXE });
        }
        try {
          const served = servedFor(s, mac, next.boot);
          if ("code" in served) return errorResponse("BOOT_UNKNOWN", `boot "${next.boot}" is not in site "${s.bundle.site.id}"`);
          s.tracker.record(mac, "http", "boot.ipxe", { boot: served.boot, uuid: query.uuid, arch: query.arch });
          return new Response(served.script, { headers: IPXE });
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
      ({ params, query }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const mac = normalizeMac(params.mac);
        if (!mac) return errorResponse("MAC_INVALID", `"${params.mac.slice(0, 40)}" is not a MAC address`);
        if (!s.renderer.lookup(mac)) return errorResponse("MAC_UNKNOWN", `MAC ${mac} is not a host of site "${s.bundle.site.id}"`);
        const next = s.tracker.bootFor(mac);
        const boot = typeof query.boot === "string" ? query.boot : next && "boot" in next ? next.boot : undefined;
        if (!boot)
          return errorResponse("NO_CONFIG", `MAC ${mac} has no stage to configure (${next && "exit" in next ? next.exit : "unknown"})`);
        try {
          const served = servedFor(s, mac, boot);
          if ("code" in served) return errorResponse("BOOT_UNKNOWN", `boot "${boot}" is not used in site "${s.bundle.site.id}"`);
          if (!served.config) return errorResponse("NO_CONFIG", `boot "${boot}" has no unattended config`);
          s.tracker.record(mac, "http", "config", { boot, type: served.config.type });
          return new Response(served.config.body, { headers: { "content-type": served.config.contentType } });
        } catch (e) {
          return renderFailure(o.log, mac, e);
        }
      },
      { detail: { tags: ["boot"], summary: "The machine's rendered unattended config for its current stage, or ?boot=ID" } },
    )
    .get("/assets/*", ({ params, request }) => fromDir(o.assets, "this site has no asset directory", params["*"], request), {
      detail: { tags: ["boot"], summary: "A file of the site's asset directory (Range, ETag)" },
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
        const m = s.tracker.record(mac, "state", event, detail);
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
        const machines = s.tracker.machines();
        const by_state = Object.fromEntries(STATES.map((st) => [st, machines.filter((m) => m.state === st).length]).filter(([, n]) => n));
        return { site: s.bundle.site.id, release: s.release, machines: { total: machines.length, by_state }, rollouts: [] };
      },
      { detail: { tags: ["status"], summary: "The site: staged release and machines by state" } },
    )
    .get(
      "/status/machines",
      ({ query }) => {
        const s = staged();
        if (s instanceof Response) return s;
        const wanted = typeof query.state === "string" ? query.state : undefined;
        const after = typeof query.cursor === "string" ? query.cursor : "";
        const list = s.tracker.machines().filter((m) => (!wanted || m.state === wanted) && m.mac > after);
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
        const m = s.tracker.machine(mac);
        if (!m) return errorResponse("MAC_UNKNOWN", `MAC ${mac} is not a host of site "${s.bundle.site.id}"`);
        return {
          mac,
          host: m.host,
          state: m.state,
          stage: m.stage,
          ...(m.reason ? { reason: m.reason } : {}),
          events: s.tracker.events(mac),
        };
      },
      { detail: { tags: ["status"], summary: "One machine and its boot trace" } },
    )
    .get("/live", () => ({ status: "ok" }), { detail: { tags: ["health"], summary: "The process is alive" } })
    .get("/ready", () => (o.site() ? { status: "ready" } : errorResponse("NOT_STAGED", "no release is staged on this agent yet")), {
      detail: { tags: ["health"], summary: "200 once a release is staged, else 503" },
    })
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return errorResponse("NOT_FOUND", "no such endpoint");
      o.log.warn({ err: String(error) }, "agent API error");
      return errorResponse("BAD_REQUEST", code === "PARSE" ? "malformed request" : "request failed");
    });
}

/**
 * What a machine is served for a boot, rendered once per staged release: scripts and configs are pure
 * functions of (bundle, host, boot), so they are kept until the next release replaces the staged site.
 */
const servedCache = new WeakMap<StagedSite, Map<string, ReturnType<typeof bootFor>>>();
function servedFor(s: StagedSite, mac: string, boot: string): ReturnType<typeof bootFor> {
  let cache = servedCache.get(s);
  if (!cache) {
    cache = new Map();
    servedCache.set(s, cache);
  }
  const key = `${mac} ${boot}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = bootFor(s.bundle, s.renderer, mac, boot);
    cache.set(key, hit);
  }
  return hit;
}

function fromDir(guard: PathGuard | undefined, none: string, raw: string, request: Request): Promise<Response> | Response {
  if (!guard) return errorResponse("ASSET_NOT_FOUND", none);
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return errorResponse("PATH_INVALID", "path is not valid percent-encoding");
  }
  return serveAsset(guard, name, request);
}

function renderFailure(log: Logger, mac: string, e: unknown): Response {
  if (e instanceof RenderError) {
    log.error({ mac, template: e.template, err: e.message }, "render failed");
    return errorResponse(e.code, e.message);
  }
  throw e;
}
