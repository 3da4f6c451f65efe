/**
 * Powering a machine into a stage (API.md): set the next boot to PXE, read the power state; a machine that is
 * off is powered on; one that is on is power-cycled (or shut down through ACPI and powered on, when its BMC
 * entry says `soft`); then the power state is read again. It never relies on a cycle or reset of a machine that
 * is off. Before a cycle is sent the step is marked `cycle-sent` and made durable, so a restart never sends it
 * again; a person's instruction (the manual driver) leaves the machine waiting for its own boot requests.
 */
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { PowerControl, PowerStep } from "./_types.ts";

/** What the sequence reports back to the engine. */
export interface PowerHooks {
  /** A lifecycle event for the trace. */
  event(type: string, detail: Record<string, unknown>): void;
  /** Persists the step (awaited before anything irreversible). */
  mark(step: PowerStep): Promise<void>;
  sleep(ms: number): Promise<void>;
}

/** How the sequence ended. */
export type PowerOutcome =
  | { kind: "booting" }
  | { kind: "waiting-person"; instruction: string }
  /** The cycle's answer was lost: it may have run; the engine waits for boot requests (and the stage timeout). */
  | { kind: "cycle-unknown"; reason: string }
  | { kind: "error"; reason: string; retry: boolean };

const SOFT_POLLS = 24;
const AFTER_POLLS = 10;
const AFTER_POLL_MS = 1000;
const SOFT_POLL_MS = 5000;

/** Runs the sequence for `step` (phase `start`). Never throws: failures are outcomes. */
export async function powerIntoStage(driver: PowerControl, step: PowerStep, soft: boolean, hooks: PowerHooks): Promise<PowerOutcome> {
  try {
    const boot = await driver.setBootDevice("pxe");
    if (!boot.done) {
      await hooks.mark({ ...step, phase: "waiting-person" });
      hooks.event("waiting", { instruction: boot.instruction });
      return { kind: "waiting-person", instruction: boot.instruction };
    }
    hooks.event("bootdev", { device: "pxe" });
    const before = await driver.powerStatus();
    hooks.event("power-status", { power: before });
    if (before === "unknown") {
      const r = await driver.power("cycle");
      const instruction = r.done ? "power-cycle the machine" : r.instruction;
      await hooks.mark({ ...step, phase: "waiting-person" });
      hooks.event("waiting", { instruction });
      return { kind: "waiting-person", instruction };
    }
    if (before === "off") {
      await driver.power("on");
      hooks.event("power", { action: "on" });
    } else if (soft) {
      await driver.power("soft");
      hooks.event("power", { action: "soft" });
      let off = false;
      for (let i = 0; i < SOFT_POLLS && !off; i++) {
        await hooks.sleep(SOFT_POLL_MS);
        off = (await driver.powerStatus()) === "off";
      }
      if (!off)
        return {
          kind: "error",
          reason: `the OS did not shut down within ${(SOFT_POLLS * SOFT_POLL_MS) / 1000} s of an ACPI request`,
          retry: false,
        };
      await driver.power("on");
      hooks.event("power", { action: "on" });
    } else {
      await hooks.mark({ ...step, phase: "cycle-sent" });
      try {
        await driver.power("cycle");
      } catch (e) {
        if (isVaqueroError(e, "IPMI_UNREACHABLE")) {
          hooks.event("error", { action: "cycle", message: describeError(e) });
          return { kind: "cycle-unknown", reason: "the power cycle's answer was lost; waiting for the machine to boot" };
        }
        throw e;
      }
      hooks.event("power", { action: "cycle" });
    }
    // A BMC may report the new state a moment late: read it a few times before calling it a failure.
    let after = await driver.powerStatus();
    for (let i = 0; i < AFTER_POLLS && after === "off"; i++) {
      await hooks.sleep(AFTER_POLL_MS);
      after = await driver.powerStatus();
    }
    hooks.event("power-status", { power: after });
    if (after === "off")
      return { kind: "error", reason: `power did not come back on within ${(AFTER_POLLS * AFTER_POLL_MS) / 1000} s`, retry: true };
    return { kind: "booting" };
  } catch (e) {
    const code = isVaqueroError(e) ? e.code : "ERROR";
    hooks.event("error", { code, message: describeError(e) });
    // Credentials and cipher problems do not heal by themselves; an unreachable BMC may.
    const retry = code === "IPMI_UNREACHABLE" || code === "IPMI_COMMAND_REFUSED" || code === "IPMI_SESSION_FAILED";
    return { kind: "error", reason: `${code}: ${describeError(e)}`, retry };
  }
}
