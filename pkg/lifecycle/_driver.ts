/**
 * Power and boot-device drivers behind one small interface, so the state engine drives every machine the same
 * way: `ipmi` (our RMCP+ client) and `manual` (a person acts; the driver says what and the engine waits).
 */
import type { BootDeviceName, ChassisActionName } from "../ipmi/index.ts";
import { type BmcClient, type BmcClientOptions, createBmcClient } from "../ipmi/index.ts";

/** A power operation. */
export type PowerAction = ChassisActionName;
/** What a driver knows of the power state. */
export type PowerReading = "on" | "off" | "unknown";

/** The result of an operation: done, or waiting for a person with the instruction to show them. */
export type LifecycleResult = { done: true } | { done: false; waitingFor: "person"; instruction: string };

/** Boot-device options. */
export interface BootOptions {
  persistent?: boolean;
  efi?: boolean;
}

/** One machine's power and boot device. Methods reject with typed errors (IPMI_* for the ipmi driver). */
export interface PowerDriver {
  readonly kind: "ipmi" | "manual";
  powerStatus(): Promise<PowerReading>;
  power(action: PowerAction): Promise<LifecycleResult>;
  setBootDevice(device: BootDeviceName, o?: BootOptions): Promise<LifecycleResult>;
  close(): Promise<void>;
}

/** The ipmi driver over a {@link BmcClient} (made from options, or passed in). */
export function ipmiDriver(client: BmcClient | BmcClientOptions): PowerDriver {
  const bmc = "powerStatus" in client ? client : createBmcClient(client);
  const done: LifecycleResult = { done: true };
  return {
    kind: "ipmi",
    powerStatus: () => bmc.powerStatus(),
    power: async (action) => {
      await bmc.power(action);
      return done;
    },
    setBootDevice: async (device, o = {}) => {
      await bmc.setBootDevice(device, o);
      return done;
    },
    close: () => bmc.close(),
  };
}

const WORDS: Record<PowerAction, string> = {
  on: "power on",
  off: "power off",
  cycle: "power-cycle",
  reset: "reset",
  soft: "shut down (ACPI)",
};

/** The manual driver: every operation is an instruction for a person about `host`. */
export function manualDriver(host: string): PowerDriver {
  return {
    kind: "manual",
    powerStatus: async () => "unknown",
    power: async (action) => ({ done: false, waitingFor: "person", instruction: `${WORDS[action]} ${host}` }),
    setBootDevice: async (device, o = {}) => ({
      done: false,
      waitingFor: "person",
      instruction: `set ${host} to boot from ${device}${o.efi ? " (UEFI)" : ""}${o.persistent ? " on every boot" : " once"}`,
    }),
    close: async () => {},
  };
}
