/**
 * Bearer-token authorisation of the control endpoints (API.md "Auth"): `Authorization: Bearer <token>`, the
 * token's SHA-256 compared in constant time with the stored ones; `viewer` < `operator` < `admin`, and `agent`
 * for the agent link only. Missing or unknown token: 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer`; a role
 * too weak, or a token bound to another site: 403 `FORBIDDEN` naming what is needed. Tokens are never logged.
 */
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { errorResponse } from "./_http.ts";
import { MAX_TOKEN_LENGTH, type Role, type TokenRecord, type TokenStore } from "./_tokens.ts";

/** The roles a control endpoint may ask for, weakest first. */
export type NeededRole = "viewer" | "operator" | "admin";

const RANK: Record<Role, number> = { agent: 0, viewer: 1, operator: 2, admin: 3 };

/** Who a request acts as. */
export interface Principal {
  name: string;
  role: Role;
  site?: string;
}

/** OpenAPI: the bearer scheme, for `documentation.components.securitySchemes`. */
export const SECURITY_SCHEMES = {
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "A token of role viewer, operator or admin (the admin token is in <data-dir>/admin.token)",
  },
} as const;

/** OpenAPI: what a route protected by a token declares as `security`. */
export const BEARER: { bearer: string[] }[] = [{ bearer: [] }];

/** Checks requests against the stored tokens. */
export interface Auth {
  /**
   * The principal of `request` when its token has at least role `need` (and, when `site` is given, is not bound
   * to another site); else the 401/403/503 response to send.
   */
  check(request: Request, need: NeededRole, site?: string): Promise<Principal | Response>;
}

const BEARER_RE = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null || header.length > MAX_TOKEN_LENGTH + 16) return undefined;
  return BEARER_RE.exec(header)?.[1];
}

function unauthorized(message: string, invalid: boolean): Response {
  const challenge = invalid ? 'Bearer realm="vaquero", error="invalid_token"' : 'Bearer realm="vaquero"';
  return errorResponse("UNAUTHORIZED", message, { "www-authenticate": challenge });
}

/** Authorisation over `tokens`. */
export function createAuth(tokens: TokenStore, log?: Logger): Auth {
  return {
    async check(request, need, site) {
      const header = request.headers.get("authorization");
      if (header === null) return unauthorized(`this needs a token of role ${need} or higher: Authorization: Bearer <token>`, false);
      const token = bearerToken(header);
      if (token === undefined) return unauthorized("the Authorization header is not Bearer <token>", true);
      let rec: TokenRecord | undefined;
      try {
        rec = await tokens.verify(token);
      } catch (e) {
        log?.error({ err: describeError(e) }, "tokens could not be read");
        return errorResponse("STORE_UNAVAILABLE", "tokens could not be read from the store; try again");
      }
      if (!rec) return unauthorized("unknown token", true);
      if (rec.role === "agent" || RANK[rec.role] < RANK[need]) {
        return errorResponse("FORBIDDEN", `this needs the ${need} role (or higher); token "${rec.name}" has ${rec.role}`);
      }
      if (site !== undefined && rec.site !== undefined && rec.site !== site) {
        return errorResponse("FORBIDDEN", `token "${rec.name}" is for site "${rec.site}" only`);
      }
      return { name: rec.name, role: rec.role, ...(rec.site === undefined ? {} : { site: rec.site }) };
    },
  };
}
