/**
 * A fleet of simulated machines for tests and benchmarks of the state engine through `vaquero standalone`. Each
 * machine has a fake BMC on its own loopback address (127.1.x.y: the SoT wants every interface's IPv4 unique in a
 * site) and UDP port, speaking real IPMI v2.0 / RMCP+ (pkg/ipmi's test BMC behind {@link serveBmcUdp}; user
 * `admin`), and a simulated PXE client: when its BMC powers it on, or cycles or
 * resets it, it boots over HTTP — `GET /boot.ipxe`, the chained `/boot.ipxe?mac=…` script of its stage,
 * optionally `GET /config/<mac>` — then reports `booted` and, a moment later, `stage-done` to `POST /state`. A
 * power-up while it boots restarts the boot; powering off stops it. DHCP and TFTP are skipped: the HTTP path is
 * what moves the engine.
 *
 * Every BMC command executed and every report answered is logged with the machine's step: how many stages it has
 * started to report done. The engine powers a machine into step k only after the `stage-done` of stage k − 1 was
 * sent, so a second cycle or reset logged under the same step is a second cycle for that step.
 */
// pkg/ipmi's fake BMC is a test kit (test/architecture.test.ts lets tests import test kits directly).
import { Cmd, FakeBmc } from "../../pkg/ipmi/_fakebmc.ts";
import { serveBmcUdp, type UdpBmc } from "./fleet-udp.ts";

/** A machine to simulate: its host name and boot MAC (lower-case, colons). */
export interface FleetMachine {
  name: string;
  mac: string;
}

/** One line of the fleet's log. */
export interface FleetLogEntry {
  /** ms since the epoch. */
  at: number;
  name: string;
  mac: string;
  /** `bmc`: a command the BMC executed; `boot`: what the PXE client fetched; `report`: a /state answer; `os`: the OS acted. */
  kind: "bmc" | "boot" | "report" | "os";
  /** `stage-done` reports started (the step the engine may be powering the machine into). */
  step: number;
  /** `stage-done` reports answered 204. */
  acked: number;
  /** BMC command name (`chassis-control`, `chassis-status`, `set-boot-options`, …) or what happened. */
  what: string;
  /** Chassis control: `off`, `on`, `cycle`, `reset`, `soft`; with the power state before it. */
  action?: string;
  wasOn?: boolean;
  /** Reports: event, boot id and HTTP status. */
  event?: string;
  boot?: string;
  status?: number;
}

/** A report the agent answered with 204: it must be in the machine's trace from then on. */
export interface AckedReport {
  mac: string;
  event: string;
  boot: string;
  at: number;
}

/** What the fleet simulates. */
export interface FleetOptions {
  machines: FleetMachine[];
  /** The agent's base URL (`http://127.0.0.1:PORT`); read at each request, so it may change. */
  agentUrl: string | (() => string);
  /** The BMC password of user `admin`. */
  password: string;
  /** From power-up to the first boot request (default 20 ms). */
  bootDelayMs?: number;
  /** From `booted` to `stage-done` (default 100 ms). */
  stageMs?: number;
  /** Up to this much more for each boot delay and stage, at random, so machines drift apart (default 0). */
  jitterMs?: number;
  /** Fetch `/config/<mac>` before reporting `booted` (default true). */
  fetchConfig?: boolean;
  /** True when the OS powers itself off after reporting stage `index` done (default: it stays on). */
  poweroffAfter?: (m: FleetMachine, index: number) => boolean;
  /** Each log entry as it happens (the entries are also kept in `log`). */
  onLog?: (e: FleetLogEntry) => void;
  /** Keep entries in memory (default true; a large benchmark turns it off). */
  keepLog?: boolean;
  /** Pause between retries of a request to an agent that does not answer (default 100 ms). */
  retryMs?: number;
  /** How long a boot keeps retrying before giving up (default 120 s). */
  retryForMs?: number;
}

/** A running fleet. */
export interface Fleet {
  /** BMC address and UDP port by MAC. */
  bmcOf(mac: string): { address: string; port: number };
  /** Power state by MAC. */
  powerOn(mac: string): boolean;
  log: FleetLogEntry[];
  acked: AckedReport[];
  /** Machines provisioned from their own view: the agent served them `exit` after their last stage. */
  onDisk(): string[];
  /** A person presses the power button of a machine that is off: it powers on and network-boots. */
  pressPower(mac: string): void;
  /** Stops every BMC and every boot in progress. */
  stop(): Promise<void>;
}

const NAMES: Record<string, string> = {
  [Cmd.authCaps]: "auth-caps",
  [Cmd.cipherSuites]: "cipher-suites",
  [Cmd.deviceId]: "device-id",
  [Cmd.setPrivilege]: "set-privilege",
  [Cmd.closeSession]: "close-session",
  [Cmd.chassisStatus]: "chassis-status",
  [Cmd.chassisControl]: "chassis-control",
  [Cmd.setBootOptions]: "set-boot-options",
  [Cmd.getBootOptions]: "get-boot-options",
};
const ACTIONS: Record<number, string> = { 0: "off", 1: "on", 2: "cycle", 3: "reset", 5: "soft" };

/** A newer power event ended this boot. */
class Superseded extends Error {}

interface Sim {
  m: FleetMachine;
  bmc: InstanceType<typeof FakeBmc>;
  udp?: UdpBmc;
  /** Power state as the machine knows it. */
  on: boolean;
  /** Bumped by every power event: a boot of an older generation stops. */
  gen: number;
  seen: number;
  step: number;
  acked: number;
  disk: boolean;
}

/** Starts the BMCs of every machine (all powered off) and returns the fleet. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const log: FleetLogEntry[] = [];
  const acked: AckedReport[] = [];
  const keep = o.keepLog ?? true;
  const bootDelay = o.bootDelayMs ?? 20;
  const stageMs = o.stageMs ?? 100;
  const retryMs = o.retryMs ?? 100;
  const jitter = (): number => Math.floor(Math.random() * (o.jitterMs ?? 0));
  const retryFor = o.retryForMs ?? 120_000;
  const agent = (): string => (typeof o.agentUrl === "string" ? o.agentUrl : o.agentUrl());
  const sims = new Map<string, Sim>();
  let stopped = false;

  const emit = (s: Sim, e: Omit<FleetLogEntry, "at" | "name" | "mac" | "step" | "acked">): void => {
    const entry: FleetLogEntry = { at: Date.now(), name: s.m.name, mac: s.m.mac, step: s.step, acked: s.acked, ...e };
    if (keep) log.push(entry);
    o.onLog?.(entry);
  };

  /** Reads the commands the BMC executed since last time; a power-up starts a boot. */
  const afterAnswer = (s: Sim): void => {
    for (; s.seen < s.bmc.log.length; s.seen++) {
      const c = s.bmc.log[s.seen];
      if (!c) continue;
      const what = NAMES[c.key] ?? c.key;
      if (c.key !== Cmd.chassisControl) {
        emit(s, { kind: "bmc", what });
        continue;
      }
      const action = ACTIONS[c.data[0] ?? 0xff] ?? `0x${(c.data[0] ?? 0).toString(16)}`;
      emit(s, { kind: "bmc", what, action, wasOn: s.on });
      if (action === "off" || action === "soft") {
        s.on = false;
        s.gen++;
      } else if (action === "cycle" || action === "reset" || (action === "on" && !s.on)) {
        s.on = true;
        s.gen++;
        void boot(s, s.gen);
      }
    }
  };

  /** One HTTP request, retried while the agent is down or busy; throws {@link Superseded} when a power event ends the boot. */
  const request = async (s: Sim, gen: number, path: string, init?: RequestInit): Promise<Response> => {
    const until = Date.now() + retryFor;
    for (let i = 0; i < 100_000 && Date.now() < until; i++) {
      if (stopped || s.gen !== gen) throw new Superseded();
      try {
        const r = await fetch(`${agent()}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
        if (r.status < 500 && r.status !== 429) return r;
        await r.body?.cancel();
      } catch {
        // Connection refused or reset: the agent is restarting.
      }
      await Bun.sleep(retryMs);
    }
    throw new Error(`${s.m.name}: ${path} not answered within ${retryFor} ms`);
  };

  const report = async (s: Sim, gen: number, event: string, boot: string): Promise<boolean> => {
    const body = new URLSearchParams({ mac: s.m.mac, event, boot }).toString();
    const r = await request(s, gen, "/state", { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    await r.body?.cancel();
    emit(s, { kind: "report", what: "state", event, boot, status: r.status });
    if (r.status === 204) acked.push({ mac: s.m.mac, event, boot, at: Date.now() });
    return r.status === 204;
  };

  /** The PXE client and the OS of one boot; ends quietly when superseded. */
  const boot = async (s: Sim, gen: number): Promise<void> => {
    try {
      await Bun.sleep(bootDelay + jitter());
      const first = await (await request(s, gen, "/boot.ipxe")).text();
      const chain = /chain (\S+)/.exec(first)?.[1];
      if (!chain) throw new Error(`${s.m.name}: first contact without a chain: ${first.slice(0, 200)}`);
      const url = new URL(
        chain.replace("${mac:hexhyp}", s.m.mac.replaceAll(":", "-")).replace("${uuid}", s.m.name).replace("${buildarch}", "x86_64"),
      );
      const script = await (await request(s, gen, `${url.pathname}${url.search}`)).text();
      const bootId = /[?&]boot=([\w.-]+)/.exec(script)?.[1] ?? "";
      emit(s, { kind: "boot", what: /\nexit\b/.test(script) ? "exit" : "script", boot: bootId });
      if (/\nexit\b/.test(script)) {
        s.disk = true;
        return;
      }
      s.disk = false;
      if (o.fetchConfig ?? true) await (await request(s, gen, `/config/${s.m.mac}`)).body?.cancel();
      if (!(await report(s, gen, "booted", bootId))) return;
      await Bun.sleep(stageMs + jitter());
      if (s.gen !== gen || stopped) return;
      s.step++;
      const index = s.step - 1;
      if (!(await report(s, gen, "stage-done", bootId))) return;
      s.acked++;
      if (o.poweroffAfter?.(s.m, index) && s.gen === gen) {
        await Bun.sleep(20);
        if (s.gen !== gen) return;
        s.bmc.powerOn = false;
        s.on = false;
        s.gen++;
        emit(s, { kind: "os", what: "poweroff" });
      }
    } catch (e) {
      if (!(e instanceof Superseded)) emit(s, { kind: "os", what: `boot failed: ${(e as Error).message}` });
    }
  };

  let seed = 1;
  for (const m of o.machines) {
    const s: Sim = {
      m,
      bmc: new FakeBmc({ users: { admin: o.password }, powerOn: false, seed: seed++ }),
      on: false,
      gen: 0,
      seen: 0,
      step: 0,
      acked: 0,
      disk: false,
    };
    sims.set(m.mac, s);
  }
  try {
    let n = 0;
    for (const s of sims.values()) {
      n++;
      s.udp = await serveBmcUdp(s.bmc, bmcAddress(n), 0, () => afterAnswer(s));
    }
  } catch (e) {
    await Promise.allSettled([...sims.values()].map((s) => s.udp?.close()));
    throw e;
  }

  const sim = (mac: string): Sim => {
    const s = sims.get(mac);
    if (!s) throw new Error(`no simulated machine ${mac}`);
    return s;
  };
  return {
    bmcOf: (mac) => ({ address: sim(mac).udp?.address ?? "", port: sim(mac).udp?.port ?? 0 }),
    powerOn: (mac) => sim(mac).on,
    log,
    acked,
    onDisk: () => [...sims.values()].filter((s) => s.disk).map((s) => s.m.mac),
    pressPower(mac) {
      const s = sim(mac);
      if (s.on) return;
      s.bmc.powerOn = true;
      s.on = true;
      s.gen++;
      emit(s, { kind: "os", what: "power button" });
      void boot(s, s.gen);
    },
    async stop() {
      stopped = true;
      for (const s of sims.values()) s.gen++;
      await Promise.allSettled([...sims.values()].map((s) => s.udp?.close()));
    },
  };
}

/** The loopback address of the n-th BMC (n ≥ 1): 127.1.0.1, 127.1.0.2, … */
export function bmcAddress(n: number): string {
  return `127.${1 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Cycles and resets per machine and step, where there is more than one: empty when no step was cycled twice. */
export function doubleCycles(log: readonly FleetLogEntry[]): { name: string; step: number; count: number }[] {
  const counts = new Map<string, { name: string; step: number; count: number }>();
  for (const e of log) {
    if (e.kind !== "bmc" || (e.action !== "cycle" && e.action !== "reset")) continue;
    const k = `${e.name}/${e.step}`;
    const c = counts.get(k) ?? { name: e.name, step: e.step, count: 0 };
    c.count++;
    counts.set(k, c);
  }
  return [...counts.values()].filter((c) => c.count > 1);
}
