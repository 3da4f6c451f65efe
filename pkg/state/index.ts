/**
 * pkg/state — machines of a site, their states and boot traces. Boot services record what they did; booting
 * OSes report `booted`, `stage-done` and `failed`; `/status` reads it back.
 *
 * @example
 * const tracker = createTracker({ site, now: () => new Date() });
 * tracker.record("52:54:00:00:00:01", "http", "boot.ipxe", { boot: "install" });
 * tracker.machine("52:54:00:00:00:01")?.state; // "booting"
 */
export {
  createTracker,
  type EventSource,
  type Machine,
  type MachineEvent,
  type MachineState,
  type SiteView,
  type Tracker,
  type TrackerOptions,
} from "./_tracker.ts";
