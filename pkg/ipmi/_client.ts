/**
 * A BMC client: the operations Vaquero needs, over one RMCP+ session that it opens on first use, keeps, and
 * opens again when the BMC stops knowing it (a BMC reset, a session timed out on the BMC). Operations on one BMC
 * run one at a time, in call order. A command that must not run twice (power cycle, reset) is sent once, never
 * retransmitted nor resent in a new session: when its answer is lost the caller gets IPMI_UNREACHABLE and reads
 * the power state.
 */
import { randomBytes } from "node:crypto";
import { isVaqueroError } from "../../internal/errors/index.ts";
import {
  type BootDeviceName,
  type BootFlags,
  type ChassisActionName,
  type Command,
  chassisControl,
  type DeviceId,
  decodeBootFlags,
  decodeChassisStatus,
  decodeDeviceId,
  getBootFlags,
  getChassisStatus,
  getDeviceId,
  setBootDevice,
} from "./_commands.ts";
import { IpmiError } from "./_errors.ts";
import { openSession, type Session } from "./_session.ts";
import { type IpmiTransport, udpTransport } from "./_transport.ts";

/** Options of {@link createBmcClient}. */
export interface BmcClientOptions {
  host: string;
  /** Default 623. */
  port?: number;
  user: string;
  /** The resolved secret (never logged, never in an error). */
  password: string;
  /** 3 or 17; default: 17 when the BMC lists it, else 3. Suite 0 does not exist here. */
  cipher?: 3 | 17;
  /** First attempt's timeout per request (default 1000 ms). */
  timeoutMs?: number;
  /** Attempts per request (default 4). */
  attempts?: number;
  transport?: (host: string, port: number) => Promise<IpmiTransport>;
  random?: (n: number) => Uint8Array;
  sleep?: (ms: number) => Promise<void>;
}

/** Power state. */
export type PowerState = "on" | "off";

/** What a BMC client does. Every method rejects with an {@link IpmiError}. */
export interface BmcClient {
  readonly target: string;
  deviceId(): Promise<DeviceId>;
  powerStatus(): Promise<PowerState>;
  /** Chassis Control: on, off (hard), cycle, reset (hard), soft (ACPI shutdown). */
  power(action: ChassisActionName): Promise<void>;
  /** The next boot's device, once or persistent, legacy or EFI. */
  setBootDevice(device: BootDeviceName, o?: { persistent?: boolean; efi?: boolean }): Promise<void>;
  bootFlags(): Promise<BootFlags>;
  /** The cipher suite of the current session (opening one when needed). */
  cipherSuite(): Promise<3 | 17>;
  /** Closes the session (Close Session, best effort) and the socket. */
  close(): Promise<void>;
}

/** Commands that change nothing when repeated: resent after the session is opened again. */
const REPEATABLE = new Set<ChassisActionName>(["on", "off", "soft"]);

/** Creates a client; nothing is sent before the first operation. */
export function createBmcClient(o: BmcClientOptions): BmcClient {
  const port = o.port ?? 623;
  const target = `${o.host}:${port}`;
  const open = o.transport ?? udpTransport;
  let current: { session: Session; transport: IpmiTransport } | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const connect = async (): Promise<Session> => {
    if (current) return current.session;
    const transport = await open(o.host, port);
    try {
      const session = await openSession({
        target,
        transport,
        user: o.user,
        password: o.password,
        random: o.random ?? ((n) => new Uint8Array(randomBytes(n))),
        sleep: o.sleep ?? ((ms) => Bun.sleep(ms)),
        ...(o.cipher ? { cipher: o.cipher } : {}),
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.attempts ? { attempts: o.attempts } : {}),
      });
      current = { session, transport };
      return session;
    } catch (e) {
      await transport.close();
      throw e;
    }
  };
  const drop = async (): Promise<void> => {
    const c = current;
    current = undefined;
    await c?.transport.close();
  };

  /** Runs `c` in the session; after an unanswered request in an existing session, opens a new one once. */
  const run = (c: Command, what: string, repeatable: boolean): Promise<Uint8Array> => {
    const job = queue.then(async () => {
      const had = current !== undefined;
      const session = await connect();
      try {
        return await session.command(c, what, { once: !repeatable });
      } catch (e) {
        if (!isVaqueroError(e, "IPMI_UNREACHABLE") || !had) throw e;
        await drop();
        if (!repeatable)
          throw new IpmiError(
            "IPMI_UNREACHABLE",
            `ipmi: ${target} did not answer ${what}; it may have taken effect, so it is not sent again (read the power state)`,
            { target },
          );
        return (await connect()).command(c, what, { once: !repeatable });
      }
    });
    queue = job.catch(() => {});
    return job;
  };

  return {
    target,
    deviceId: async () => decodeDeviceId(await run(getDeviceId(), "Get Device ID", true)),
    powerStatus: async () => (decodeChassisStatus(await run(getChassisStatus(), "Get Chassis Status", true)).powerOn ? "on" : "off"),
    power: async (action) => {
      await run(chassisControl(action), `Chassis Control (${action})`, REPEATABLE.has(action));
    },
    setBootDevice: async (device, opts = {}) => {
      await run(setBootDevice(device, opts), `Set System Boot Options (boot device ${device})`, true);
    },
    bootFlags: async () => decodeBootFlags(await run(getBootFlags(), "Get System Boot Options", true)),
    cipherSuite: async () => {
      const job = queue.then(() => connect());
      queue = job.catch(() => {});
      return (await job).suite.id;
    },
    close: async () => {
      await queue;
      const c = current;
      if (!c) return;
      await c.session.close();
      await drop();
    },
  };
}
