/**
 * The state engine of one site: every machine's state and boot trace, rollouts under their workflows'
 * policies, power sequences between stages, stage timeouts, all persisted in the store and resumed after a
 * restart. Boot services `record` what they did (synchronously; written in the background); a booting OS's
 * `report` resolves once it is durable. Time comes from an injected clock; `tick` runs timeouts, retries and
 * scheduling (every `tickMs`, or by hand in tests).
 */
import type { Logger } from "../../internal/log/index.ts";
import type { Store } from "../store/index.ts";
import { createWriter, loadRecords, type StoredEvent, type Writer } from "./_persist.ts";
import { type PowerOutcome, powerIntoStage } from "./_power.ts";
import { createRollouts, type RolloutRequest, type RolloutView } from "./_rollouts.ts";
import { ACTIVE, applyEvent, type Effect, timedOut } from "./_transition.ts";
import {
  DEFAULT_POLICY,
  type EventSource,
  type HostView,
  type Machine,
  type MachineEvent,
  type Policy,
  type PowerControl,
  type PowerStep,
  type Rollout,
  type SiteView,
} from "./_types.ts";

/** Options of {@link createEngine}. */
export interface EngineOptions {
  site: SiteView;
  /** Site id: the store prefix is `/vaquero/sites/<site>/state/`. */
  siteId: string;
  /** Durable state; without one the engine keeps everything in memory. */
  store?: Store;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** The power control of a host (an IPMI driver, or manual); undefined: nothing to drive. */
  power?: (host: HostView) => PowerControl | undefined;
  log?: Logger;
  /** Events kept per machine (default 200). */
  maxEvents?: number;
  /** Interval of `tick` in ms; `false`: only by hand (tests). Default 1000. */
  tickMs?: number | false;
  /** Sleep used between power polls (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
  /** The release rollouts are recorded against. */
  release?: string;
  /**
   * Told of every change as it happens (a trace event, a machine's new record, a rollout's new record), e.g. to
   * forward them to the control plane. Called synchronously; must not throw.
   */
  observe?: (change: EngineChange) => void;
}

/** A change the engine made, for {@link EngineOptions.observe}. */
export type EngineChange =
  | { kind: "event"; mac: string; event: MachineEvent }
  | { kind: "machine"; machine: Machine }
  | { kind: "rollout"; rollout: Rollout };

/** Machines, traces, rollouts. */
export interface Engine {
  /** Records an event (boot services); returns the machine, or undefined for a MAC not in the site. */
  record(mac: string, source: EventSource, type: string, detail?: Record<string, unknown>): Machine | undefined;
  /** A booting OS's report: resolves once the event and the state it caused are durable. */
  report(mac: string, type: string, detail?: Record<string, unknown>): Promise<Machine | undefined>;
  machine(mac: string): Machine | undefined;
  /** Its events, oldest first. */
  events(mac: string): MachineEvent[];
  /** All machines of the site, sorted by MAC. */
  machines(): Machine[];
  /** What `/boot.ipxe` serves the machine: a boot id, or `exit` (boot from disk). */
  bootFor(mac: string): { boot: string } | { exit: string } | undefined;
  /** Starts a rollout; throws `ROLLOUT_*` errors for hosts not in the site or nothing to do. */
  startRollout(r: RolloutRequest): Promise<RolloutView>;
  rollout(id: string): RolloutView | undefined;
  rollouts(): RolloutView[];
  pauseRollout(id: string): Promise<RolloutView>;
  resumeRollout(id: string): Promise<RolloutView>;
  cancelRollout(id: string): Promise<RolloutView>;
  /** Timeouts, power retries and rollout scheduling, now. */
  tick(): Promise<void>;
  /**
   * Serves a new release: the site as its bundle describes it. Nothing stops: machines keep their states and
   * traces, rollouts and power sequences in flight go on (a host no longer in the site is left alone).
   */
  restage(site: SiteView, release: string, power?: (host: HostView) => PowerControl | undefined): void;
  /** Loads the stored state and resumes in-flight work; starts the ticker. */
  start(): Promise<void>;
  /** Stops the ticker and waits for running power sequences and writes. */
  stop(): Promise<void>;
  flush(): Promise<void>;
}

/** Creates an engine; call `start()` before serving. */
export function createEngine(o: EngineOptions): Engine {
  const maxEvents = o.maxEvents ?? 200;
  const iso = (): string => new Date(o.now()).toISOString();
  const machines = new Map<string, Machine>();
  const traces = new Map<string, StoredEvent[]>();
  const seqs = new Map<string, number>();
  const inflight = new Map<string, Promise<void>>();
  const writer: Writer | undefined = o.store
    ? createWriter(o.store, `/vaquero/sites/${o.siteId}/state/`, (e) => o.log?.error({ err: String(e) }, "state not stored"))
    : undefined;
  // What is staged: replaced by `restage` when a new release arrives; machines, traces and rollouts carry on.
  let site = o.site;
  let release = o.release ?? "";
  let power = o.power;
  const policyOf = (workflow: string): Policy => site.policy?.(workflow) ?? DEFAULT_POLICY;
  /** A stage's timeout in seconds: the rollout's override when the machine is in one, else its workflow's. */
  const stageTimeout = (h: HostView, m: Machine | undefined): number =>
    (m?.rollout ? rollouts.policy(m.rollout)?.stage_timeout : undefined) ?? policyOf(h.workflow ?? "").stage_timeout;
  const timeoutMs = (h: HostView, m?: Machine): number => stageTimeout(h, m) * 1000;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  /** A host is tracked under its primary boot MAC; its other interfaces' MACs lead there. */
  const key = (mac: string): string => site.host(mac)?.macs?.[0] ?? mac;
  const fresh = (mac: string): Machine | undefined => {
    const h = site.host(mac);
    if (!h) return undefined;
    return {
      mac,
      host: h.name,
      state: h.neverProvision ? "skipped" : "unknown",
      stage: h.stages[0] ?? "",
      stageIndex: 0,
      updated_at: iso(),
    };
  };
  const machine = (anyMac: string): Machine | undefined => {
    const mac = key(anyMac);
    return machines.get(mac) ?? fresh(mac);
  };
  const save = (m: Machine): void => {
    machines.set(m.mac, m);
    writer?.machine(m);
    o.observe?.({ kind: "machine", machine: m });
  };
  const trace = (mac: string, source: EventSource, type: string, detail: Record<string, unknown>): void => {
    const seq = (seqs.get(mac) ?? 0) + 1;
    seqs.set(mac, seq);
    const e: StoredEvent = { seq, at: iso(), source, type, detail };
    const list = traces.get(mac) ?? [];
    list.push(e);
    if (list.length > maxEvents) list.splice(0, list.length - maxEvents);
    traces.set(mac, list);
    writer?.event(mac, seq % maxEvents, e);
    o.observe?.({ kind: "event", mac, event: { at: e.at, source, type, detail } });
  };

  const rollouts = createRollouts({
    site: () => site,
    policyOf,
    now: o.now,
    release: () => release,
    machine,
    persist: (r, hosts) => {
      writer?.rollout(r, hosts);
      o.observe?.({ kind: "rollout", rollout: r });
    },
    // A host the rollout starts: back to its first stage, powered into it.
    begin: (mac, rolloutId) => {
      const m = machine(mac);
      const h = site.host(mac);
      if (!m || !h) return;
      const next: Machine = { ...m, state: "pending", stage: h.stages[0] ?? "", stageIndex: 0, rollout: rolloutId, updated_at: iso() };
      delete next.reason;
      delete next.power;
      delete next.deadline;
      trace(mac, "engine", "rollout-start", { rollout: rolloutId });
      save(next);
      startStage(next, h, 0);
    },
    // A host waiting in a rollout: pending, still serving its current boot.
    enlist: (mac, rolloutId) => {
      const m = machine(mac);
      if (!m) return;
      const next: Machine = { ...m, state: "pending", rollout: rolloutId, updated_at: iso() };
      delete next.reason;
      save(next);
    },
    release_: (mac) => {
      const m = machines.get(mac);
      if (!m?.rollout) return;
      const next: Machine = { ...m, updated_at: iso() };
      delete next.rollout;
      if (next.state === "pending") next.state = "unknown";
      save(next);
    },
    log: o.log,
  });

  /** Moves a machine into stage `stage` and powers it there (if it has power control). */
  const startStage = (m: Machine, h: HostView, stage: number): void => {
    const next: Machine = {
      ...m,
      state: "powering",
      updated_at: iso(),
      deadline: o.now() + timeoutMs(h, m),
      power: { stage, phase: "start", attempts: 0 },
    };
    save(next);
    runPower(next.mac);
  };

  /** Runs the power sequence of the machine's current step, at most one at a time per machine. */
  const runPower = (mac: string): void => {
    if (inflight.has(mac) || stopped) return;
    const m = machines.get(mac);
    const h = site.host(mac);
    const step = m?.power;
    // Only a machine still waiting to be powered: one that has begun booting the stage (by itself, or a person
    // pressed the button while a retry was pending) must not be cycled in the middle of it.
    if (!m || !h || !step || step.phase !== "start" || m.state !== "powering") return;
    const control = power?.(h);
    if (!control) {
      // Nothing to drive: the machine boots when it is powered on by other means (its own reboot, a person).
      const next: Machine = { ...m, state: "powering", reason: "no BMC: waiting for the machine to network-boot", updated_at: iso() };
      delete next.power;
      save(next);
      return;
    }
    const run = powerIntoStage(control, step, h.soft === true, {
      event: (type, detail) => trace(mac, "lifecycle", type, detail),
      mark: async (s: PowerStep) => {
        const cur = machines.get(mac);
        if (!cur) return;
        save({ ...cur, power: s, updated_at: iso() });
        await writer?.flush();
      },
      sleep: o.sleep ?? ((ms) => Bun.sleep(ms)),
    }).then((outcome) => settlePower(mac, step, outcome));
    inflight.set(
      mac,
      run.finally(() => inflight.delete(mac)),
    );
  };

  const settlePower = (mac: string, step: PowerStep, outcome: PowerOutcome): void => {
    const m = machines.get(mac);
    if (!m || m.power?.stage !== step.stage || m.state !== "powering") return;
    const next: Machine = { ...m, updated_at: iso() };
    if (outcome.kind === "booting") {
      next.state = "booting";
      delete next.power;
      delete next.reason;
    } else if (outcome.kind === "waiting-person") {
      next.reason = `waiting for a person: ${outcome.instruction}`;
      next.power = { ...step, phase: "waiting-person" };
    } else if (outcome.kind === "cycle-unknown") {
      next.state = "booting";
      next.reason = outcome.reason;
      next.power = { ...step, phase: "cycle-sent" };
    } else if (outcome.retry && step.attempts + 1 < 3) {
      next.reason = `power: ${outcome.reason}; retrying`;
      next.power = { ...step, attempts: step.attempts + 1, retryAt: o.now() + 10_000 * 2 ** step.attempts };
    } else {
      fail(next, `power: ${outcome.reason}`);
      return;
    }
    save(next);
  };

  const fail = (m: Machine, reason: string): void => {
    const next: Machine = { ...m, state: "failed", reason, updated_at: iso() };
    delete next.power;
    delete next.deadline;
    trace(m.mac, "engine", "failed", { reason });
    save(next);
    rollouts.ended(next, "failed", reason);
  };

  const effects = (m: Machine, h: HostView, list: Effect[]): void => {
    for (const e of list) {
      if (e.kind === "power") startStage(m, h, e.stage);
      else rollouts.ended(m, e.outcome, e.reason);
    }
  };

  const record = (anyMac: string, source: EventSource, type: string, detail: Record<string, unknown> = {}): Machine | undefined => {
    const mac = key(anyMac);
    const m = machine(mac);
    const h = site.host(mac);
    if (!m || !h) return undefined;
    trace(mac, source, type, detail);
    const { machine: next, effects: fx } = applyEvent(m, h, source, type, detail, o.now(), timeoutMs(h, m));
    if (next !== m) {
      next.updated_at = iso();
      save(next);
      if (next.state === "booting" && m.state !== "booting") rollouts.booting(next);
      effects(next, h, fx);
    }
    return machines.get(mac) ?? next;
  };

  const tick = async (): Promise<void> => {
    const now = o.now();
    for (const m of machines.values()) {
      if (ACTIVE.has(m.state) && m.deadline !== undefined && m.deadline <= now) {
        const h = site.host(m.mac);
        const t = timedOut(m, h ? stageTimeout(h, m) : 0);
        trace(m.mac, "engine", "timeout", { stage: m.stage });
        save({ ...t, updated_at: iso() });
        rollouts.ended(t, "failed", t.reason);
      } else if (m.power?.phase === "start" && (m.power.retryAt ?? 0) <= now && !inflight.has(m.mac)) {
        runPower(m.mac);
      }
    }
    rollouts.schedule();
  };

  return {
    record,
    async report(mac, type, detail = {}) {
      const m = record(mac, "state", type, detail);
      if (m) await writer?.flush();
      return m;
    },
    machine,
    events: (mac) => (traces.get(key(mac)) ?? []).map(({ seq: _seq, ...e }) => e),
    machines: () =>
      site
        .macs()
        .sort()
        .map((mac) => machine(mac))
        .filter((m): m is Machine => m !== undefined),
    bootFor(mac) {
      const m = machine(mac);
      if (!m) return undefined;
      if (m.state === "provisioned") return { exit: `host ${m.host} is provisioned` };
      if (m.state === "skipped") return { exit: `host ${m.host} is never provisioned` };
      if (m.state === "failed") return { exit: `host ${m.host} failed in stage ${m.stage}: ${m.reason ?? "no reason given"}` };
      return { boot: m.stage };
    },
    startRollout: async (r) => {
      const view = rollouts.start(r);
      await writer?.flush();
      return view;
    },
    rollout: (id) => rollouts.view(id),
    rollouts: () => rollouts.list(),
    pauseRollout: async (id) => {
      const v = rollouts.control(id, "pause");
      await writer?.flush();
      return v;
    },
    resumeRollout: async (id) => {
      const v = rollouts.control(id, "resume");
      await writer?.flush();
      return v;
    },
    cancelRollout: async (id) => {
      const v = rollouts.control(id, "cancel");
      await writer?.flush();
      return v;
    },
    tick,
    restage(next, id, nextPower) {
      site = next;
      release = id;
      if (nextPower) power = nextPower;
    },
    async start() {
      if (o.store) {
        const stored = await loadRecords(o.store, `/vaquero/sites/${o.siteId}/state/`);
        for (const m of stored.machines) if (site.host(m.mac)) machines.set(m.mac, m);
        for (const [mac, list] of stored.events) {
          traces.set(mac, list.slice(-maxEvents));
          seqs.set(mac, list[list.length - 1]?.seq ?? 0);
        }
        rollouts.restore(stored.rollouts);
        // Resume: a step that sent nothing irreversible runs again; a cycle that may have been sent never does.
        for (const m of machines.values()) if (m.power?.phase === "start") runPower(m.mac);
      }
      if (o.tickMs !== false) {
        ticker = setInterval(() => void tick().catch((e) => o.log?.error({ err: String(e) }, "state tick failed")), o.tickMs ?? 1000);
      }
    },
    async stop() {
      stopped = true;
      if (ticker) clearInterval(ticker);
      await Promise.allSettled([...inflight.values()]);
      await writer?.flush().catch(() => {});
    },
    flush: async () => {
      await writer?.flush();
    },
  };
}
