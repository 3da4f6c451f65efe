/**
 * The fleet's status on the server (API.md `GET /status`, `GET /status/sites/<id>`): every site of the branch's
 * latest release and every site ever prepared, with its desired release, its agents, its machines counted by
 * state and its recent rollouts, as the agent link has recorded them. Viewer role.
 */
import { Elysia } from "elysia";
import { fleetStatus, siteStatus } from "../control/index.ts";
import type { Store } from "../store/index.ts";
import { type Auth, BEARER } from "./_auth.ts";
import { errorResponse } from "./_http.ts";
import { NAME_RE } from "./_tokens.ts";

/** A server's role: `single` on the embedded store; `leader` or `follower` among servers on etcd. */
export type ServerRole = "leader" | "follower" | "single";

/** What the fleet routes need. */
export interface FleetRoutesOptions {
  store: Store;
  auth: Auth;
  /** The branch whose latest release names the sites. */
  ref: string;
  role(): ServerRole;
  /** The leader's name, when servers run on etcd. */
  leader?: () => string | undefined;
  failed(e: unknown, what: string): Response;
}

/** `/status` and `/status/sites/:id`, as a plugin. */
export function fleetRoutes(o: FleetRoutesOptions) {
  return new Elysia()
    .get(
      "/status",
      async ({ request }) => {
        const who = await o.auth.check(request, "viewer");
        if (who instanceof Response) return who;
        try {
          const sites = await fleetStatus(o.store, o.ref);
          const leader = o.leader?.();
          return {
            role: o.role(),
            ...(leader ? { leader } : {}),
            sites: who.site === undefined ? sites : sites.filter((s) => s.id === who.site),
          };
        } catch (e) {
          return o.failed(e, "status");
        }
      },
      {
        detail: {
          tags: ["status"],
          summary:
            "The fleet (viewer): {role: leader|follower|single, leader?, sites: [{id, desired, agents, machines: {total, by_state}, rollouts}]}",
          security: BEARER,
        },
      },
    )
    .get(
      "/status/sites/:id",
      async ({ request, params }) => {
        const who = await o.auth.check(request, "viewer", params.id);
        if (who instanceof Response) return who;
        if (!NAME_RE.test(params.id)) return errorResponse("SITE_UNKNOWN", `no site ${JSON.stringify(params.id.slice(0, 63))}`);
        try {
          const { machine_list, ...site } = await siteStatus(o.store, params.id, true);
          const known = site.desired !== undefined || site.agents.length > 0 || (machine_list?.length ?? 0) > 0;
          if (!known && !(await fleetStatus(o.store, o.ref)).some((s) => s.id === params.id)) {
            return errorResponse("SITE_UNKNOWN", `no site ${JSON.stringify(params.id)}`);
          }
          return { ...site, machines: { ...site.machines, list: machine_list ?? [] } };
        } catch (e) {
          return o.failed(e, "site status");
        }
      },
      {
        detail: {
          tags: ["status"],
          summary: "One site (viewer): desired release, agents, machines (each, and by state), rollouts",
          security: BEARER,
        },
      },
    );
}
