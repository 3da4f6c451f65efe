/**
 * Power control of the site's hosts for the state engine: an IPMI driver for a host with a BMC entry (its
 * `password_ref` resolved on first use, on this machine), the manual driver (instructions for a person) for
 * one without. One driver per host, kept for the life of the process, closed on stop.
 */
import { ipmiDriver, manualDriver, type PowerDriver, resolvePasswordRef, type SecretSources } from "../../pkg/lifecycle/index.ts";
import type { Bundle } from "../../pkg/sot/index.ts";
import type { HostView, PowerControl } from "../../pkg/state/index.ts";

/** The engine's `power` option for a bundle, and a way to close every session opened. */
export function powerControls(
  bundle: Bundle,
  secrets?: SecretSources,
): { power: (h: HostView) => PowerControl; close: () => Promise<void> } {
  const drivers = new Map<string, PowerDriver>();
  const byName = new Map(bundle.hosts.map((h) => [h.name, h]));
  const driverOf = (name: string): PowerDriver => {
    const known = drivers.get(name);
    if (known) return known;
    const bmc = byName.get(name)?.bmc;
    let d: PowerDriver;
    if (!bmc) d = manualDriver(name);
    else {
      // The secret is read when the BMC is first used: a missing one fails that host with the reason, not start-up.
      let inner: PowerDriver | undefined;
      const get = (): PowerDriver => {
        inner ??= ipmiDriver({
          host: bmc.ipv4,
          port: bmc.port ?? 623,
          user: bmc.bmc.username,
          password: resolvePasswordRef(bmc.bmc.password_ref, secrets),
          ...(bmc.bmc.cipher_suite ? { cipher: bmc.bmc.cipher_suite } : {}),
        });
        return inner;
      };
      d = {
        kind: "ipmi",
        powerStatus: () => get().powerStatus(),
        power: (a) => get().power(a),
        setBootDevice: (dev, o) => get().setBootDevice(dev, o),
        close: async () => inner?.close(),
      };
    }
    drivers.set(name, d);
    return d;
  };
  return {
    power: (h) => {
      const d = driverOf(h.name);
      return {
        powerStatus: () => d.powerStatus(),
        power: async (a) => {
          const r = await d.power(a);
          return r.done ? { done: true } : { done: false, instruction: r.instruction };
        },
        setBootDevice: async (dev, o) => {
          const r = await d.setBootDevice(dev, o);
          return r.done ? { done: true } : { done: false, instruction: r.instruction };
        },
      };
    },
    close: async () => {
      await Promise.allSettled([...drivers.values()].map((d) => d.close()));
    },
  };
}
