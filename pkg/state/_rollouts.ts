/**
 * Rollouts of one site: started from a list of hosts, scheduled by {@link planRollout}, paused, resumed,
 * cancelled, halted when a workflow fails more than its `max_fail`, done when every host has ended. The engine
 * tells it when machines end; it tells the engine which hosts to begin.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { planRollout } from "./_schedule.ts";
import type { Machine, Policy, Rollout, RolloutHostState, SiteView } from "./_types.ts";

/** What starts a rollout. */
export interface RolloutRequest {
  /** Host names, in the order to provision them. */
  hosts: string[];
  /** Overrides of the workflows' policies (`max_concurrent`, `max_fail`, …). */
  policy?: Partial<Policy>;
  /**
   * The rollout's id, when the caller names it (the control plane's id, on an agent). Starting a rollout whose id
   * exists already returns it unchanged, so a command applied twice starts one rollout.
   */
  id?: string;
}

/** A rollout as the API shows it. */
export interface RolloutView extends Rollout {
  counts: Record<RolloutHostState, number>;
}

interface Deps {
  /** The site as staged now (it changes when a new release is staged). */
  site: () => SiteView;
  policyOf: (workflow: string) => Policy;
  now: () => number;
  release: () => string;
  machine: (mac: string) => Machine | undefined;
  /** Stores the rollout's header and the hosts named (every host when `hosts` is left out). */
  persist: (r: Rollout, hosts?: readonly string[]) => void;
  /** Begin provisioning a host now. */
  begin: (mac: string, rollout: string) => void;
  /** Mark a host as waiting in the rollout. */
  enlist: (mac: string, rollout: string) => void;
  /** The rollout no longer drives the host. */
  release_: (mac: string) => void;
  log?: Logger | undefined;
}

const ZERO: Record<RolloutHostState, number> = { waiting: 0, running: 0, provisioned: 0, failed: 0, skipped: 0, cancelled: 0 };

/** Creates the rollouts of a site. */
export function createRollouts(d: Deps) {
  const all = new Map<string, Rollout>();
  let counter = 0;
  const view = (r: Rollout): RolloutView => {
    const counts = { ...ZERO };
    for (const h of Object.values(r.hosts)) counts[h.state]++;
    return { ...r, counts };
  };
  const err = (code: string, message: string, status = 1 as const) => new VaqueroError(code, `rollout: ${message}`, { exitCode: status });
  const find = (id: string): Rollout => {
    const r = all.get(id);
    if (!r) throw err("ROLLOUT_UNKNOWN", `no rollout ${id.slice(0, 80)}`);
    return r;
  };
  /** The active rollout a host belongs to, if any. */
  const owner = (name: string): Rollout | undefined =>
    [...all.values()].find((r) => (r.state === "running" || r.state === "paused") && r.hosts[name]?.state === "waiting") ??
    [...all.values()].find((r) => r.state !== "cancelled" && r.hosts[name]?.state === "running");

  const schedule = (): void => {
    for (const r of all.values()) {
      if (r.state !== "running" && r.state !== "paused") continue;
      const plan = planRollout(r, d.policyOf);
      if (plan.halt && r.state === "running") {
        r.state = "halted";
        r.reason = plan.halt;
        d.log?.warn({ rollout: r.id, reason: plan.halt }, "rollout halted");
        d.persist(r, []);
        continue;
      }
      for (const name of plan.start) {
        const h = r.hosts[name];
        if (!h) continue;
        h.state = "running";
        d.begin(h.mac, r.id);
      }
      if (plan.start.length) d.persist(r, plan.start);
      if (plan.done && r.state === "running") {
        r.state = "done";
        d.persist(r, []);
      }
    }
  };

  return {
    start(req: RolloutRequest): RolloutView {
      if (req.id !== undefined) {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(req.id))
          throw err("ROLLOUT_ID_INVALID", `"${req.id.slice(0, 40)}" is not a rollout id`);
        const known = all.get(req.id);
        if (known) return view(known);
      }
      const names = [...new Set(req.hosts)];
      if (names.length === 0) throw err("ROLLOUT_EMPTY", "no hosts to provision");
      const hosts: Rollout["hosts"] = {};
      const unknown: string[] = [];
      for (const name of names) {
        const h = d.site().byName?.(name);
        const mac = h?.macs?.[0];
        if (!h || !mac) {
          unknown.push(name);
          continue;
        }
        const busy = owner(name);
        if (busy) throw err("ROLLOUT_BUSY", `host ${name} is already in rollout ${busy.id}`);
        hosts[name] = {
          state: h.neverProvision ? "skipped" : "waiting",
          mac,
          workflow: h.workflow ?? "",
          ...(h.neverProvision ? { reason: "never_provision" } : {}),
        };
      }
      if (unknown.length) throw err("ROLLOUT_HOST_UNKNOWN", `not hosts of this site: ${unknown.slice(0, 20).join(", ")}`);
      const now = d.now();
      const r: Rollout = {
        id: req.id ?? `r-${now.toString(36)}-${(++counter).toString(36)}`,
        release: d.release(),
        created_at: new Date(now).toISOString(),
        state: "running",
        policy: req.policy ?? {},
        hosts,
      };
      all.set(r.id, r);
      for (const h of Object.values(hosts)) if (h.state === "waiting") d.enlist(h.mac, r.id);
      d.persist(r);
      schedule();
      return view(r);
    },
    control(id: string, action: "pause" | "resume" | "cancel"): RolloutView {
      const r = find(id);
      const changed: string[] = [];
      if (action === "pause" && r.state === "running") r.state = "paused";
      else if (action === "resume" && (r.state === "paused" || r.state === "halted")) {
        r.state = "running";
        delete r.reason;
      } else if (action === "cancel" && r.state !== "done" && r.state !== "cancelled") {
        r.state = "cancelled";
        r.reason = "cancelled by an operator";
        // Hosts not started go back to what they were; running ones finish their install.
        for (const [name, h] of Object.entries(r.hosts)) {
          if (h.state !== "waiting") continue;
          h.state = "cancelled";
          changed.push(name);
          d.release_(h.mac);
        }
      } else if (!(action === "pause" && r.state === "paused") && !(action === "resume" && r.state === "running")) {
        throw err("ROLLOUT_STATE", `rollout ${id} is ${r.state}; cannot ${action} it`);
      }
      d.persist(r, changed);
      schedule();
      return view(r);
    },
    /** A machine of a rollout has ended. */
    ended(m: Machine, outcome: "provisioned" | "failed", reason?: string): void {
      if (!m.rollout) return;
      const r = all.get(m.rollout);
      const h = r?.hosts[m.host];
      if (!r || !h || (h.state !== "running" && h.state !== "waiting")) return;
      h.state = outcome;
      if (reason) h.reason = reason;
      d.release_(m.mac);
      d.persist(r, [m.host]);
      schedule();
    },
    /** A machine of a rollout began booting by itself before its turn: it now counts as running. */
    booting(m: Machine): void {
      const r = m.rollout ? all.get(m.rollout) : undefined;
      const h = r?.hosts[m.host];
      if (r && h?.state === "waiting") {
        h.state = "running";
        d.persist(r, [m.host]);
      }
    },
    schedule,
    restore(list: Rollout[]): void {
      for (const r of list) all.set(r.id, r);
      counter = list.length;
    },
    /** A rollout's policy overrides, without building its view (read on every event). */
    policy: (id: string): Partial<Policy> | undefined => all.get(id)?.policy,
    view: (id: string): RolloutView | undefined => {
      const r = all.get(id);
      return r ? view(r) : undefined;
    },
    list: (): RolloutView[] => [...all.values()].sort((a, b) => a.created_at.localeCompare(b.created_at)).map(view),
  };
}
