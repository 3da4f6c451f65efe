/**
 * pkg/state — the state engine of a site: every machine from power-on to provisioned (`unknown → pending →
 * powering → booting(stage k) → installing(stage k) → provisioned`, or `failed(reason)`, `skipped`), its boot
 * trace, workflows of several stages with a power sequence between them, rollouts under the workflows' policies
 * (`max_concurrent`, `max_fail`, `after`/`min_standing`, `never_provision`), stage timeouts, all persisted in
 * pkg/store and resumed after a restart without repeating a power cycle.
 *
 * @example
 * const engine = createEngine({ site, siteId: "lab", store, now: Date.now, power: (h) => drivers.get(h.name) });
 * await engine.start();
 * engine.record(mac, "http", "boot.ipxe", { boot: "install" });   // boot services
 * await engine.report(mac, "stage-done");                          // POST /state: durable when it resolves
 * const r = await engine.startRollout({ hosts: ["node-1", "node-2"], policy: { max_concurrent: 1 } });
 */
export { createEngine, type Engine, type EngineChange, type EngineOptions } from "./_engine.ts";
export type { RolloutRequest, RolloutView } from "./_rollouts.ts";
export { type Plan, planRollout } from "./_schedule.ts";
export { applyEvent, type Effect } from "./_transition.ts";
export {
  DEFAULT_POLICY,
  type EventSource,
  type HostView,
  type Machine,
  type MachineEvent,
  type MachineState,
  type Policy,
  type PowerControl,
  type PowerResult,
  type PowerStep,
  type Rollout,
  type RolloutHostState,
  type SiteView,
} from "./_types.ts";

import type { Engine } from "./_engine.ts";
/** What the boot services and the status pages use of the engine. */
export type Tracker = Pick<Engine, "record" | "machine" | "events" | "machines" | "bootFor">;
