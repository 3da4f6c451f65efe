/**
 * `vaquero bmc --address HOST[:PORT] --user USER --password-ref env:NAME|file:PATH [--cipher 3|17]
 * power status|on|off|cycle|reset|soft` and `… bootdev pxe|disk|bios [--persistent] [--efi]`: one operation on
 * one BMC with the agent's own IPMI client, for operators debugging a BMC. One line on stdout (`power: on`), or
 * `--json`; exit 1 with the typed error when the BMC fails, 2 for usage and unresolvable secrets.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { VaqueroError } from "../../internal/errors/index.ts";
import { type BootDeviceName, type ChassisActionName, createBmcClient } from "../../pkg/ipmi/index.ts";
import { resolvePasswordRef } from "../../pkg/lifecycle/index.ts";

/** Flags of `bmc`. */
export const BMC_FLAGS: FlagSpec[] = [
  { name: "address", kind: "string", arg: "HOST[:PORT]", help: "BMC address (port 623 unless given)" },
  { name: "user", kind: "string", arg: "USER", help: "BMC user" },
  { name: "password-ref", kind: "string", arg: "env:NAME|file:PATH", help: "where the password is read from" },
  { name: "cipher", kind: "string", arg: "3|17", choices: ["3", "17"], help: "cipher suite (default 17 when offered, else 3)" },
  { name: "persistent", kind: "bool", help: "bootdev: every boot, not just the next" },
  { name: "efi", kind: "bool", help: "bootdev: UEFI boot (default: legacy BIOS)" },
  { name: "timeout", kind: "number", arg: "SECONDS", default: 1, help: "first attempt's timeout per request (4 attempts)" },
  { name: "json", kind: "bool", help: "print JSON" },
];

const Schema = v.object({
  address: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  user: v.pipe(v.string("is required"), v.minLength(1, "must not be empty (anonymous users are refused)")),
  "password-ref": v.pipe(
    v.string("is required"),
    v.regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.*)$/, "want env:NAME or file:/absolute/path"),
  ),
  cipher: v.optional(v.picklist(["3", "17"])),
  persistent: v.optional(v.boolean()),
  efi: v.optional(v.boolean()),
  timeout: v.pipe(v.number(), v.minValue(0.05, "must be at least 0.05"), v.maxValue(60, "must be at most 60")),
  json: v.optional(v.boolean()),
});

const SYNOPSIS =
  "--address HOST[:PORT] --user USER --password-ref env:NAME|file:PATH [--cipher 3|17] power status|on|off|cycle|reset|soft | bootdev pxe|disk|bios [--persistent] [--efi]";
const DESCRIPTION = `One IPMI operation on one BMC, with the agent's own RMCP+ client (no ipmitool needed). Prints one
line (power: on) or --json. Exit 1 when the BMC is unreachable, refuses the credentials, lacks the cipher suite
or refuses the command; 2 for usage errors and a password_ref that cannot be resolved.`;

const POWER = ["status", "on", "off", "cycle", "reset", "soft"] as const;
const BOOTDEV = ["pxe", "disk", "bios"] as const;

/** Runs `bmc`; returns the exit code. */
export async function runBmc(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseConfig("bmc", argv, BMC_FLAGS, { env: io.env });
  if (parsed.help) {
    io.out(helpText("bmc", SYNOPSIS, DESCRIPTION, BMC_FLAGS));
    return 0;
  }
  const cfg = validateConfig("bmc", Schema, parsed);
  const [what, arg, extra] = parsed.positionals;
  if (extra !== undefined) throw usage(`unexpected argument "${extra}"`);
  if (what === "power") {
    if (!POWER.includes(arg as (typeof POWER)[number])) throw usage(`power wants one of ${POWER.join(", ")}`);
  } else if (what === "bootdev") {
    if (!BOOTDEV.includes(arg as (typeof BOOTDEV)[number])) throw usage(`bootdev wants one of ${BOOTDEV.join(", ")}`);
  } else {
    throw usage(what === undefined ? "say what to do: power … or bootdev …" : `unknown operation "${what}" (power or bootdev)`);
  }
  if (what === "power" && (cfg.persistent || cfg.efi)) throw usage("--persistent and --efi go with bootdev");
  const { host, port } = splitAddress(cfg.address);
  const password = resolvePasswordRef(cfg["password-ref"], { env: io.env, readFile: (p) => readFileSync(p, "utf8") });
  const bmc = createBmcClient({
    host,
    port,
    user: cfg.user,
    password,
    timeoutMs: Math.round(cfg.timeout * 1000),
    ...(cfg.cipher ? { cipher: Number(cfg.cipher) as 3 | 17 } : {}),
  });
  try {
    let result: Record<string, unknown>;
    let line: string;
    if (what === "power") {
      if (arg === "status") {
        const power = await bmc.powerStatus();
        result = { power };
        line = `power: ${power}`;
      } else {
        await bmc.power(arg as ChassisActionName);
        result = { power: arg, sent: true };
        line = `power: ${arg} sent`;
      }
    } else {
      const device = arg as BootDeviceName;
      const o = { persistent: cfg.persistent === true, efi: cfg.efi === true };
      await bmc.setBootDevice(device, o);
      result = { bootdev: device, ...o };
      line = `bootdev: ${device} (${o.persistent ? "persistent" : "next boot"}, ${o.efi ? "efi" : "legacy"})`;
    }
    result.cipher = await bmc.cipherSuite();
    io.out(cfg.json ? `${JSON.stringify(result)}\n` : `${line}\n`);
    return 0;
  } finally {
    await bmc.close();
  }
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero bmc: ${msg} (see vaquero bmc --help)`, { exitCode: 2 });
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
function splitAddress(a: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(a) ?? /^([^:[\]\s]+)(?::(\d{1,5}))?$/.exec(a);
  const port = Number(m?.[2] ?? 623);
  if (!m?.[1] || port < 1 || port > 65535)
    throw usage(`--address "${a.slice(0, 100)}": want HOST[:PORT], e.g. 10.0.0.101 or 10.0.0.101:623`);
  return { host: m[1], port };
}
