/**
 * pkg/api — the HTTP faces of Vaquero on Elysia. Today: the agent API that booting machines and the site's
 * operators use (boot scripts, unattended configs, assets and their upstream cache, reports, status, metrics),
 * and the control API (rollouts, tokens) behind bearer tokens of role viewer < operator < admin.
 * URLs handed to a machine use the address it asked on; its requests join its boot trace. Errors are
 * `{"error": {"code", "message"}}`, mapped from codes to statuses in one table.
 *
 * @example
 * const { tokens, managed } = await prepareTokens({ store, dataDir, log });   // writes <dataDir>/admin.token once
 * const app = createAgentApp({ site: () => staged, log, role: "standalone" })
 *   .use(createControlApp({ site: () => staged, tokens, tokensManaged: managed, log }));
 * const res = await app.handle(new Request("http://10.0.0.2:8080/boot.ipxe"));
 */
export { type AgentAppOptions, createAgentApp, STATE_EVENTS, STATUS_ROLLOUTS } from "./_agent.ts";
export { type AgentLinkAppOptions, createAgentLinkApp } from "./_agentlink.ts";
export { type AssetSources, parseRange } from "./_assets.ts";
export { type Auth, BEARER, bearerToken, createAuth, type NeededRole, type Principal, SECURITY_SCHEMES } from "./_auth.ts";
export { MAX_BASES, plainHost, requestBase } from "./_base.ts";
export {
  type ControlAppOptions,
  createControlApp,
  MAX_EXECUTE_HOSTS,
  MAX_ROLLOUT_LIST,
  presentRollout,
  rolloutSummary,
} from "./_control.ts";
export { errorResponse, STATUS } from "./_http.ts";
export { exposition, METRICS_CONTENT_TYPE, type MetricFamily } from "./_metrics.ts";
export { type ReleaseRoutesOptions, releaseRoutes } from "./_release_routes.ts";
export { createServerApp, type ServerAppOptions, type ServerRole } from "./_server.ts";
export { type StagedSite, siteViewOf, stageSite } from "./_stage.ts";
export {
  ADMIN_TOKEN_FILE,
  MAX_FILE_TOKENS,
  type PreparedTokens,
  type PrepareTokensOptions,
  parseTokensFile,
  prepareTokens,
  writeSecretFile,
} from "./_tokenfile.ts";
export {
  createTokenStore,
  hashToken,
  isTokenRecord,
  MAX_TOKEN_LENGTH,
  NAME_RE,
  newToken,
  ROLES,
  type Role,
  TOKEN_PREFIX,
  type TokenRecord,
  type TokenStore,
} from "./_tokens.ts";
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
