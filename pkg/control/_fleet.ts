/**
 * The fleet view (API.md `GET /status`): the sites of the ref's latest release and of every desired record, each
 * with its desired release, its agents (as the agent link records them), its machines counted by state and its
 * most recent rollouts (as agents report them). Read-only, from the keys under `/vaquero/sites/<site>/`.
 */
import { decodeJson, type KeyValue, type Store } from "../store/index.ts";
import { type DesiredRecord, getDesired, SITE_INDEX_PREFIX } from "./_desired.ts";
import { getRelease, latestOf } from "./_releases.ts";

/** An agent as the agent link records it. */
export interface AgentRecord {
  name: string;
  version?: string;
  last_seen?: string;
  staged?: string;
  active?: string;
  address?: string;
}

/** One site in `/status`. */
export interface SiteStatus {
  id: string;
  desired?: DesiredRecord;
  agents: AgentRecord[];
  machines: { total: number; by_state: Record<string, number> };
  rollouts: Record<string, unknown>[];
}

/** A machine line of `/status/sites/<id>`. */
export interface MachineLine {
  mac: string;
  host?: string;
  state?: string;
  stage?: string;
  updated_at?: string;
  reason?: string;
}

/** Most records read under one prefix (a site has at most this many machines, agents or rollouts listed). */
export const MAX_SITE_RECORDS = 100_000;
/** Rollouts shown per site in `/status`, newest first. */
export const STATUS_ROLLOUTS = 20;

const SITE_PREFIX = "/vaquero/sites/";

function decodeAll<T>(kvs: KeyValue[]): T[] {
  const out: T[] = [];
  for (const kv of kvs) {
    try {
      out.push(decodeJson<T>(kv));
    } catch {
      // A record that is not JSON is skipped, never fatal to the view.
    }
  }
  return out;
}

async function records<T>(store: Store, site: string, kind: string): Promise<T[]> {
  const r = await store.range(`${SITE_PREFIX}${site}/${kind}/`, { limit: MAX_SITE_RECORDS });
  return decodeAll<T>(r.kvs);
}

/** Every site the server knows: those of the ref's latest release and those with a desired record. */
export async function knownSites(store: Store, ref: string): Promise<string[]> {
  const ids = new Set<string>();
  const latest = await latestOf(store, ref);
  const rel = latest ? await getRelease(store, latest) : undefined;
  for (const s of Object.keys(rel?.sites ?? {})) ids.add(s);
  const staged = await store.range(SITE_INDEX_PREFIX, { limit: MAX_SITE_RECORDS });
  for (const kv of staged.kvs) ids.add(kv.key.slice(SITE_INDEX_PREFIX.length));
  return [...ids].sort();
}

/** One site's status; `machines` also lists each machine when `withMachines` is set. */
export async function siteStatus(store: Store, id: string, withMachines = false): Promise<SiteStatus & { machine_list?: MachineLine[] }> {
  const [desired, agents, machines, rollouts] = await Promise.all([
    getDesired(store, id),
    records<AgentRecord>(store, id, "agents"),
    records<MachineLine>(store, id, "machines"),
    records<Record<string, unknown>>(store, id, "rollouts"),
  ]);
  const by_state: Record<string, number> = {};
  for (const m of machines) {
    const s = typeof m.state === "string" ? m.state : "unknown";
    by_state[s] = (by_state[s] ?? 0) + 1;
  }
  const newest = rollouts
    .sort((a, b) => String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")))
    .slice(0, STATUS_ROLLOUTS)
    .map(({ hosts: _hosts, ...summary }) => summary);
  const out: SiteStatus & { machine_list?: MachineLine[] } = {
    id,
    ...(desired ? { desired } : {}),
    agents,
    machines: { total: machines.length, by_state },
    rollouts: newest,
  };
  if (withMachines) {
    out.machine_list = machines.map((m) => ({
      mac: m.mac,
      ...(m.host ? { host: m.host } : {}),
      ...(m.state ? { state: m.state } : {}),
      ...(m.stage ? { stage: m.stage } : {}),
      ...(m.updated_at ? { updated_at: m.updated_at } : {}),
      ...(m.reason ? { reason: m.reason } : {}),
    }));
  }
  return out;
}

/** The fleet: every known site's status. */
export async function fleetStatus(store: Store, ref: string): Promise<SiteStatus[]> {
  const ids = await knownSites(store, ref);
  return await Promise.all(ids.map((id) => siteStatus(store, id)));
}
