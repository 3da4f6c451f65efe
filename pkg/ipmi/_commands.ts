/**
 * The IPMI commands Vaquero sends, as pure encoders of request data and decoders of response data (IPMI v2.0
 * chapters 22 and 28): Get Device ID, Get Channel Authentication Capabilities, Get Channel Cipher Suites,
 * Set Session Privilege Level, Close Session, Get Chassis Status, Chassis Control and the boot-flags parameter
 * of Set System Boot Options.
 */
import { need } from "./_errors.ts";
import { NetFn } from "./_message.ts";

/** A command: network function, command number, request data. */
export interface Command {
  netFn: number;
  cmd: number;
  data: Uint8Array;
}

/** This channel (the one the request came in on). */
const THIS_CHANNEL = 0x0e;

/** Get Channel Authentication Capabilities with IPMI v2.0 extended data, for `privilege`. */
export function getChannelAuthCaps(privilege: number): Command {
  return { netFn: NetFn.APP, cmd: 0x38, data: Uint8Array.of(0x80 | THIS_CHANNEL, privilege) };
}

/** What a channel says about its authentication. */
export interface ChannelAuthCaps {
  channel: number;
  ipmi20: boolean;
  /** Anonymous login (null user, null password) is enabled: Vaquero refuses to use it. */
  anonymousLogin: boolean;
  nullUsernames: boolean;
}

/** Decodes Get Channel Authentication Capabilities. */
export function decodeChannelAuthCaps(d: Uint8Array): ChannelAuthCaps {
  need(d.length >= 8, `channel authentication capabilities of ${d.length} bytes`);
  const status = d[2] ?? 0;
  return {
    channel: d[0] ?? 0,
    ipmi20: ((d[1] ?? 0) & 0x80) !== 0 && ((d[3] ?? 0) & 0x02) !== 0,
    anonymousLogin: (status & 0x01) !== 0,
    nullUsernames: (status & 0x02) !== 0,
  };
}

/** Get Channel Cipher Suites, IPMI payload, algorithms by suite, list index `index` (0–63). */
export function getChannelCipherSuites(index: number): Command {
  return { netFn: NetFn.APP, cmd: 0x54, data: Uint8Array.of(THIS_CHANNEL, 0x00, 0x80 | (index & 0x3f)) };
}

/**
 * Parses the cipher suite records of Get Channel Cipher Suites (the data of all pages joined, channel byte
 * removed): standard records `C0h id auth integrity… confidentiality…` and OEM records `C1h id iana(3) …`.
 */
export function parseCipherSuiteRecords(records: Uint8Array): number[] {
  const ids: number[] = [];
  let i = 0;
  for (let guard = 0; i < records.length && guard < 256; guard++) {
    const tag = records[i] ?? 0;
    if (tag !== 0xc0 && tag !== 0xc1) {
      i++;
      continue;
    }
    const id = records[i + 1];
    if (id === undefined) break;
    ids.push(id);
    i += tag === 0xc0 ? 2 : 5;
    // The algorithm bytes that follow have the top bits 00, 01 or 10 (never 11), so they never look like a tag.
    while (i < records.length && ((records[i] ?? 0) & 0xc0) !== 0xc0) i++;
  }
  return ids;
}

/** Set Session Privilege Level. */
export function setSessionPrivilege(privilege: number): Command {
  return { netFn: NetFn.APP, cmd: 0x3b, data: Uint8Array.of(privilege) };
}

/** Close Session for the BMC's session ID. */
export function closeSession(bmcSessionId: number): Command {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, bmcSessionId >>> 0, true);
  return { netFn: NetFn.APP, cmd: 0x3c, data };
}

/** Get Device ID. */
export function getDeviceId(): Command {
  return { netFn: NetFn.APP, cmd: 0x01, data: new Uint8Array(0) };
}

/** What a BMC says it is. */
export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  firmware: string;
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
}

/** Decodes Get Device ID. */
export function decodeDeviceId(d: Uint8Array): DeviceId {
  need(d.length >= 11, `device ID of ${d.length} bytes`);
  const bcd = (b: number): string => `${b >> 4}${b & 0x0f}`;
  return {
    deviceId: d[0] ?? 0,
    deviceRevision: (d[1] ?? 0) & 0x0f,
    firmware: `${(d[2] ?? 0) & 0x7f}.${bcd(d[3] ?? 0)}`,
    ipmiVersion: `${(d[4] ?? 0) & 0x0f}.${(d[4] ?? 0) >> 4}`,
    manufacturerId: (d[6] ?? 0) | ((d[7] ?? 0) << 8) | (((d[8] ?? 0) & 0x0f) << 16),
    productId: (d[9] ?? 0) | ((d[10] ?? 0) << 8),
  };
}

/** Get Chassis Status. */
export function getChassisStatus(): Command {
  return { netFn: NetFn.CHASSIS, cmd: 0x01, data: new Uint8Array(0) };
}

/** The chassis's power and fault state. */
export interface ChassisStatus {
  powerOn: boolean;
  overload: boolean;
  powerFault: boolean;
}

/** Decodes Get Chassis Status. */
export function decodeChassisStatus(d: Uint8Array): ChassisStatus {
  need(d.length >= 3, `chassis status of ${d.length} bytes`);
  const p = d[0] ?? 0;
  return { powerOn: (p & 0x01) !== 0, overload: (p & 0x02) !== 0, powerFault: (p & 0x08) !== 0 };
}

/** Chassis Control actions (table 28-4). */
export const ChassisAction = { off: 0, on: 1, cycle: 2, reset: 3, soft: 5 } as const;
/** A Chassis Control action name. */
export type ChassisActionName = keyof typeof ChassisAction;

/** Chassis Control. */
export function chassisControl(action: ChassisActionName): Command {
  return { netFn: NetFn.CHASSIS, cmd: 0x02, data: Uint8Array.of(ChassisAction[action]) };
}

/** Boot devices of the boot-flags parameter (table 28-14, byte 2 bits 5:2). */
export const BootDevice = { none: 0x0, pxe: 0x1, disk: 0x2, bios: 0x6 } as const;
/** A boot device name. */
export type BootDeviceName = Exclude<keyof typeof BootDevice, "none">;

/**
 * Set System Boot Options, parameter 5 (boot flags): valid; next boot only or persistent; legacy or EFI; the
 * device.
 */
export function setBootDevice(device: BootDeviceName, o: { persistent?: boolean; efi?: boolean } = {}): Command {
  const flags = 0x80 | (o.persistent ? 0x40 : 0) | (o.efi ? 0x20 : 0);
  return { netFn: NetFn.CHASSIS, cmd: 0x08, data: Uint8Array.of(0x05, flags, BootDevice[device] << 2, 0, 0, 0) };
}

/** Get System Boot Options, parameter 5. */
export function getBootFlags(): Command {
  return { netFn: NetFn.CHASSIS, cmd: 0x09, data: Uint8Array.of(0x05, 0, 0) };
}

/** The boot flags as the BMC holds them. */
export interface BootFlags {
  valid: boolean;
  persistent: boolean;
  efi: boolean;
  device: BootDeviceName | "none" | `0x${string}`;
}

/** Decodes Get System Boot Options for parameter 5. */
export function decodeBootFlags(d: Uint8Array): BootFlags {
  need(d.length >= 4 && ((d[1] ?? 0) & 0x7f) === 5, "boot options response is not parameter 5");
  const flags = d[2] ?? 0;
  const sel = ((d[3] ?? 0) >> 2) & 0x0f;
  const name = (Object.keys(BootDevice) as (keyof typeof BootDevice)[]).find((k) => BootDevice[k] === sel);
  return {
    valid: (flags & 0x80) !== 0,
    persistent: (flags & 0x40) !== 0,
    efi: (flags & 0x20) !== 0,
    device: name ?? `0x${sel.toString(16)}`,
  };
}
