/**
 * pkg/api — the HTTP faces of Vaquero on Elysia. Today: the agent API that booting machines and the site's
 * operators use (boot scripts, unattended configs, assets, reports, status). Errors are
 * `{"error": {"code", "message"}}`, mapped from codes to statuses in one table.
 *
 * @example
 * const app = createAgentApp({ site: () => staged, log });
 * const res = await app.handle(new Request("http://10.0.0.2:8080/boot.ipxe"));
 */
export { type AgentAppOptions, createAgentApp, STATE_EVENTS, type StagedSite } from "./_agent.ts";
export { parseRange } from "./_assets.ts";
export { errorResponse, STATUS } from "./_http.ts";
export { siteViewOf, stageSite } from "./_stage.ts";
