/**
 * pkg/lifecycle — a machine's power and boot device behind one interface ({@link PowerDriver}), with the
 * drivers `ipmi` (pkg/ipmi's client) and `manual` (instructions for a person, the state engine waits), and the
 * resolution of the SoT's `password_ref` on the agent.
 *
 * @example
 * const driver = ipmiDriver({ host: bmc.ipv4, user: bmc.username, password: resolvePasswordRef(bmc.password_ref) });
 * await driver.setBootDevice("pxe");
 * await driver.power((await driver.powerStatus()) === "on" ? "cycle" : "on");
 */
export {
  type BootOptions,
  ipmiDriver,
  type LifecycleResult,
  manualDriver,
  type PowerAction,
  type PowerDriver,
  type PowerReading,
} from "./_driver.ts";
export { resolvePasswordRef, type SecretSources } from "./_secret.ts";
