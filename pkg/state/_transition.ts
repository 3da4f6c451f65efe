/**
 * What one event does to a machine (API.md "Events a booting OS reports"), as a pure function: the next
 * machine and what the engine must do about it. Reports of the booting OS move it between stages; the first
 * boot request of a stage means it is booting; nothing moves a skipped machine, and a provisioned or failed one
 * moves only when a rollout starts it again.
 */
import type { EventSource, HostView, Machine } from "./_types.ts";

/** What the engine must do after a transition. */
export type Effect =
  /** Power the machine into stage `stage` (set PXE, power on or cycle). */
  | { kind: "power"; stage: number }
  /** The machine finished: provisioned, or failed with a reason. */
  | { kind: "ended"; outcome: "provisioned" | "failed"; reason?: string };

/** States in which the machine is working through a stage (the stage timeout runs). */
export const ACTIVE = new Set(["powering", "booting", "installing"]);

/** Applies one event. `nowMs` and `timeoutMs` set the stage deadline when a stage starts. */
export function applyEvent(
  m: Machine,
  host: HostView,
  source: EventSource,
  type: string,
  detail: Record<string, unknown>,
  nowMs: number,
  timeoutMs: number,
): { machine: Machine; effects: Effect[] } {
  if (m.state === "skipped") return { machine: m, effects: [] };
  const next: Machine = { ...m };
  const effects: Effect[] = [];
  if (source === "state") {
    // A report naming another stage than the machine's is stale (a retry of one already applied, after which the
    // machine moved on): it stays in the trace and moves nothing.
    const named = typeof detail.boot === "string" ? detail.boot : typeof detail.stage === "string" ? detail.stage : undefined;
    if (named !== undefined && named !== m.stage && type !== "log") return { machine: next, effects };
    const settled = m.state === "provisioned" || m.state === "failed";
    if (type === "booted" && !settled) {
      next.state = "installing";
      next.deadline ??= nowMs + timeoutMs;
    } else if ((type === "stage-done" || type === "installed") && !settled) {
      if (m.stageIndex + 1 < host.stages.length) {
        next.stageIndex = m.stageIndex + 1;
        next.stage = host.stages[next.stageIndex] ?? m.stage;
        next.state = "powering";
        next.deadline = nowMs + timeoutMs;
        delete next.reason;
        effects.push({ kind: "power", stage: next.stageIndex });
      } else {
        next.state = "provisioned";
        delete next.deadline;
        delete next.power;
        delete next.reason;
        effects.push({ kind: "ended", outcome: "provisioned" });
      }
    } else if (type === "failed" && m.state !== "provisioned") {
      next.state = "failed";
      const why = detail.reason ?? detail.message ?? detail.detail;
      next.reason = typeof why === "string" ? why.slice(0, 500) : "the OS reported a failure";
      delete next.deadline;
      delete next.power;
      if (m.state !== "failed") effects.push({ kind: "ended", outcome: "failed", reason: next.reason });
    }
    return { machine: next, effects };
  }
  // Fetching its boot program or script: the machine is booting its stage.
  if ((source === "http" || source === "tftp") && (m.state === "unknown" || m.state === "pending" || m.state === "powering")) {
    next.state = "booting";
    next.deadline ??= nowMs + timeoutMs;
    if (m.power?.phase === "waiting-person" || m.power?.phase === "cycle-sent") delete next.power;
    delete next.reason;
  }
  return { machine: next, effects };
}

/** The machine after its stage deadline passed. */
export function timedOut(m: Machine, timeoutSeconds: number): Machine {
  const next: Machine = { ...m, state: "failed", reason: `stage ${m.stage} not done within ${timeoutSeconds} s (stage_timeout)` };
  delete next.deadline;
  delete next.power;
  return next;
}
