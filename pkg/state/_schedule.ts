/**
 * Which hosts of a rollout start now (SOT.md workflow policy), as a pure function: `max_concurrent` hosts of a
 * workflow at once (0: no limit); a workflow whose failures exceed `max_fail` halts the rollout with the reason;
 * a workflow naming others in `after` waits until each has `min_standing` hosts provisioned (default: all of
 * its hosts in the rollout). Hosts start in the order the rollout lists them.
 */
import type { Policy, Rollout } from "./_types.ts";

/** The plan for a rollout now. */
export interface Plan {
  start: string[];
  /** Set when the rollout must halt now. */
  halt?: string;
  /** Every host has ended (provisioned, failed, skipped or cancelled). */
  done: boolean;
}

/** Plans `r` with the policy of each workflow (the rollout's overrides applied on top). */
export function planRollout(r: Rollout, policyOf: (workflow: string) => Policy): Plan {
  const hosts = Object.entries(r.hosts);
  const done = hosts.every(([, h]) => h.state !== "waiting" && h.state !== "running");
  const policy = (w: string): Policy => ({ ...policyOf(w), ...r.policy });
  const byWorkflow = new Map<string, { running: number; failed: number; provisioned: number; total: number; lastFailure?: string }>();
  for (const [name, h] of hosts) {
    const c = byWorkflow.get(h.workflow) ?? { running: 0, failed: 0, provisioned: 0, total: 0 };
    if (h.state === "skipped" || h.state === "cancelled") {
      byWorkflow.set(h.workflow, c);
      continue;
    }
    c.total++;
    if (h.state === "running") c.running++;
    if (h.state === "provisioned") c.provisioned++;
    if (h.state === "failed") {
      c.failed++;
      c.lastFailure = `${name}: ${h.reason ?? "failed"}`;
    }
    byWorkflow.set(h.workflow, c);
  }
  for (const [w, c] of byWorkflow) {
    const p = policy(w);
    if (c.failed > p.max_fail)
      return {
        start: [],
        done,
        halt: `workflow ${w}: ${c.failed} host(s) failed, more than max_fail ${p.max_fail} (last: ${c.lastFailure})`,
      };
  }
  if (r.state !== "running") return { start: [], done };
  const start: string[] = [];
  for (const [name, h] of hosts) {
    if (h.state !== "waiting") continue;
    const p = policy(h.workflow);
    const c = byWorkflow.get(h.workflow);
    if (!c) continue;
    if (p.max_concurrent > 0 && c.running >= p.max_concurrent) continue;
    const blocked = p.after.some((a) => {
      const dep = byWorkflow.get(a);
      if (!dep) return false;
      const need = policy(a).min_standing ?? dep.total;
      return dep.provisioned < need;
    });
    if (blocked) continue;
    c.running++;
    start.push(name);
  }
  return { start, done };
}
