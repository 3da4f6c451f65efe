/** The state engine's records: machines, their events, the site as the engine sees it, rollouts. */

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

/** Where a machine's power sequence for a stage stands; persisted, so a restart never repeats a cycle. */
export interface PowerStep {
  /** Stage index the sequence boots into. */
  stage: number;
  /**
   * `start`: nothing irreversible sent yet (boot device and power-on may be sent again); `cycle-sent`: a cycle
   * or reset may have reached the BMC, it is never sent again for this step; `waiting-person`: a person acts.
   */
  phase: "start" | "cycle-sent" | "waiting-person";
  /** Failed attempts so far, and when to try again (ms since the epoch). */
  attempts: number;
  retryAt?: number;
}

/** A machine as `/status` shows it and the store keeps it. */
export interface Machine {
  mac: string;
  host: string;
  state: MachineState;
  /** Boot id of the stage the machine is in. */
  stage: string;
  /** Index of `stage` in the workflow. */
  stageIndex: number;
  updated_at: string;
  reason?: string;
  /** The rollout driving it, while one does. */
  rollout?: string;
  /** When the current stage times out (ms since the epoch). */
  deadline?: number;
  power?: PowerStep;
}

/** A workflow's policy (SOT.md), defaults filled in; `stage_timeout` in seconds. */
export interface Policy {
  max_concurrent: number;
  max_fail: number;
  after: string[];
  /** `null`: all of its hosts in the rollout. */
  min_standing: number | null;
  stage_timeout: number;
}

/** The policy of a workflow without one. */
export const DEFAULT_POLICY: Policy = { max_concurrent: 0, max_fail: 0, after: [], min_standing: null, stage_timeout: 1800 };

/** A host as the engine needs it. */
export interface HostView {
  name: string;
  stages: string[];
  neverProvision: boolean;
  /** Workflow id (for policies); empty when unknown. */
  workflow?: string;
  /** Boot-interface MACs; the first is the one the engine tracks. */
  macs?: string[];
  /** Shut down through ACPI before powering on, instead of a hard cycle (the BMC entry's `soft`). */
  soft?: boolean;
}

/** What the engine needs to know of the site: declared here, where it is used. */
export interface SiteView {
  /** The host owning a MAC. */
  host(mac: string): HostView | undefined;
  /** Every host MAC of the site (its boot interfaces). */
  macs(): string[];
  /** A host by name (rollouts name hosts). */
  byName?(name: string): HostView | undefined;
  /** A workflow's policy. */
  policy?(workflow: string): Policy | undefined;
}

/** Where a host of a rollout stands. */
export type RolloutHostState = "waiting" | "running" | "provisioned" | "failed" | "skipped" | "cancelled";

/** A rollout: hosts to provision under their workflows' policies. */
export interface Rollout {
  id: string;
  release: string;
  created_at: string;
  state: "running" | "paused" | "halted" | "cancelled" | "done";
  reason?: string;
  /** Overrides of every workflow's policy for this rollout. */
  policy: Partial<Policy>;
  /** By host name, in the order given. */
  hosts: Record<string, { state: RolloutHostState; mac: string; workflow: string; reason?: string }>;
}

/** The result of a power operation: done, or an instruction for a person (the manual driver). */
export type PowerResult = { done: true } | { done: false; instruction: string };

/**
 * A machine's power and boot device, as the engine drives it (pkg/lifecycle's drivers fit it). Methods reject
 * with typed errors (`IPMI_UNREACHABLE`, …).
 */
export interface PowerControl {
  powerStatus(): Promise<"on" | "off" | "unknown">;
  power(action: "on" | "off" | "cycle" | "reset" | "soft"): Promise<PowerResult>;
  setBootDevice(device: "pxe" | "disk" | "bios", o?: { persistent?: boolean; efi?: boolean }): Promise<PowerResult>;
}
