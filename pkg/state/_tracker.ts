/**
 * Machines of a site and their boot traces: every DHCP, TFTP and HTTP exchange and every report of a booting OS
 * becomes an event, and the reports move a machine through the states of API.md (`booted` → installing,
 * `stage-done` → next stage or provisioned, `failed` → failed). This is the tracker the boot services feed; the
 * rollout engine (power, batches, timeouts, persistence) builds on it.
 *
 * In memory, bounded: at most `maxEvents` events are kept per machine (the oldest are dropped first).
 */

/** Machine states of API.md. */
export type MachineState = "unknown" | "pending" | "powering" | "booting" | "installing" | "provisioned" | "failed" | "skipped";

/** Where an event came from. */
export type EventSource = "dhcp" | "tftp" | "http" | "state" | "lifecycle" | "engine";

/** One event of a machine's boot trace. */
export interface MachineEvent {
  /** ISO 8601 time. */
  at: string;
  source: EventSource;
  type: string;
  detail: Record<string, unknown>;
}

/** A machine as `/status` shows it. */
export interface Machine {
  mac: string;
  host: string;
  state: MachineState;
  /** Boot id of the stage the machine is in (its workflow's first stage until it reports). */
  stage: string;
  /** Index of `stage` in the workflow. */
  stageIndex: number;
  updated_at: string;
  reason?: string;
}

/** What the tracker needs to know of the site: declared here, where it is used. */
export interface SiteView {
  /** The host owning a MAC, with its workflow's stages (boot ids) and whether it may be provisioned. */
  host(mac: string): { name: string; stages: string[]; neverProvision: boolean } | undefined;
  /** Every host MAC of the site (its boot interfaces). */
  macs(): string[];
}

/** Options of {@link createTracker}. */
export interface TrackerOptions {
  site: SiteView;
  now: () => Date;
  /** Events kept per machine (default 500). */
  maxEvents?: number;
}

/** Machines, their states and traces. */
export interface Tracker {
  /** Records an event for a machine of the site; returns the machine, or undefined for a MAC not in the site. */
  record(mac: string, source: EventSource, type: string, detail?: Record<string, unknown>): Machine | undefined;
  /** A machine of the site (an unseen one is `unknown` in its first stage). */
  machine(mac: string): Machine | undefined;
  /** Its events, oldest first. */
  events(mac: string): MachineEvent[];
  /** All machines of the site, sorted by MAC. */
  machines(): Machine[];
  /** What `/boot.ipxe` serves the machine: a boot id, or `exit` (boot from disk). */
  bootFor(mac: string): { boot: string } | { exit: string } | undefined;
}

/** Creates a tracker over a site. */
export function createTracker(o: TrackerOptions): Tracker {
  const max = o.maxEvents ?? 500;
  const state = new Map<string, Machine>();
  const traces = new Map<string, MachineEvent[]>();

  const fresh = (mac: string): Machine | undefined => {
    const h = o.site.host(mac);
    if (!h) return undefined;
    return {
      mac,
      host: h.name,
      state: h.neverProvision ? "skipped" : "unknown",
      stage: h.stages[0] ?? "",
      stageIndex: 0,
      updated_at: o.now().toISOString(),
    };
  };
  const machine = (mac: string): Machine | undefined => state.get(mac) ?? fresh(mac);

  return {
    record(mac, source, type, detail = {}) {
      const m = machine(mac);
      const h = o.site.host(mac);
      if (!m || !h) return undefined;
      const at = o.now().toISOString();
      const list = traces.get(mac) ?? [];
      list.push({ at, source, type, detail });
      if (list.length > max) list.splice(0, list.length - max);
      traces.set(mac, list);
      const next = { ...m, updated_at: at };
      if (m.state !== "skipped") transition(next, h.stages, source, type, detail);
      state.set(mac, next);
      return next;
    },
    machine,
    events: (mac) => [...(traces.get(mac) ?? [])],
    machines: () =>
      o.site
        .macs()
        .sort()
        .map((m) => machine(m))
        .filter((m): m is Machine => m !== undefined),
    bootFor(mac) {
      const m = machine(mac);
      if (!m) return undefined;
      if (m.state === "provisioned") return { exit: `host ${m.host} is provisioned` };
      if (m.state === "skipped") return { exit: `host ${m.host} is never provisioned` };
      if (m.state === "failed") return { exit: `host ${m.host} failed in stage ${m.stage}: ${m.reason ?? "no reason given"}` };
      return { boot: m.stage };
    },
  };
}

/** Applies one event to a machine (API.md "Events a booting OS reports"). */
function transition(m: Machine, stages: string[], source: EventSource, type: string, detail: Record<string, unknown>): void {
  if (source === "state") {
    if (type === "booted") m.state = "installing";
    else if (type === "stage-done" || type === "installed") {
      if (m.stageIndex + 1 < stages.length) {
        m.stageIndex++;
        m.stage = stages[m.stageIndex] ?? m.stage;
        m.state = "booting";
      } else m.state = "provisioned";
    } else if (type === "failed") {
      m.state = "failed";
      const why = detail.reason ?? detail.message ?? detail.detail;
      m.reason = typeof why === "string" ? why : "the OS reported a failure";
    }
    return;
  }
  // The machine is fetching its boot program or script: it is booting (a provisioned one only boots its disk).
  if ((source === "http" || source === "tftp") && (m.state === "unknown" || m.state === "pending" || m.state === "powering"))
    m.state = "booting";
}
