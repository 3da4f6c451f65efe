/**
 * pkg/api — the HTTP faces of Vaquero on Elysia. Today: the agent API that booting machines and the site's
 * operators use (boot scripts, unattended configs, assets and their upstream cache, reports, status, metrics).
 * URLs handed to a machine use the address it asked on; its requests join its boot trace. Errors are
 * `{"error": {"code", "message"}}`, mapped from codes to statuses in one table.
 *
 * @example
 * const app = createAgentApp({ site: () => staged, log });
 * const res = await app.handle(new Request("http://10.0.0.2:8080/boot.ipxe"));
 */
export { type AgentAppOptions, createAgentApp, STATE_EVENTS } from "./_agent.ts";
export { type AssetSources, parseRange } from "./_assets.ts";
export { MAX_BASES, plainHost, requestBase } from "./_base.ts";
export { errorResponse, STATUS } from "./_http.ts";
export { exposition, METRICS_CONTENT_TYPE, type MetricFamily } from "./_metrics.ts";
export { type StagedSite, siteViewOf, stageSite } from "./_stage.ts";
export { clientIpOf, withClientIp } from "./_trace.ts";
export {
  type Clock,
  createUpstreamCache,
  UPSTREAM_IDLE_MS,
  UPSTREAM_MAX_BYTES,
  UPSTREAM_MAX_DOWNLOADS,
  type UpstreamCache,
  type UpstreamCacheOptions,
  type UpstreamStats,
} from "./_upstream.ts";
