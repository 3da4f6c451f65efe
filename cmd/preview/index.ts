/** `vaquero preview --sot DIR|GIT-URL [--ref REF] [--site ID] --mac MAC [--boot ID] [--ipxe|--config|--cmdline]`. */
import * as v from "valibot";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, LOG_LEVEL_FLAG, LogLevel, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { VaqueroError } from "../../internal/errors/index.ts";
import { normalizeMac } from "../../internal/net/index.ts";
import { bootFor } from "../../pkg/boot/index.ts";
import { createRenderer } from "../../pkg/sot/index.ts";
import { compileSource } from "../common/index.ts";

/** Flags of `preview`. */
export const PREVIEW_FLAGS: FlagSpec[] = [
  { name: "sot", kind: "string", arg: "DIR|GIT-URL", help: "the Source of Truth (required)" },
  { name: "ref", kind: "string", arg: "REF", help: "branch, tag or commit (git sources only; default HEAD)" },
  { name: "site", kind: "string", arg: "ID", help: "site to look the MAC up in (needed when it is in several)" },
  { name: "mac", kind: "string", arg: "MAC", help: "the machine's MAC address (required)" },
  { name: "boot", kind: "string", arg: "ID", help: "boot to render (default: first stage of the host's workflow)" },
  { name: "ipxe", kind: "bool", help: "print the iPXE script (the default)" },
  { name: "config", kind: "bool", help: "print the rendered unattended config" },
  { name: "cmdline", kind: "bool", help: "print the kernel command line" },
  { name: "timeout", kind: "number", arg: "SECONDS", default: 30, help: "network timeout for remote repositories" },
  LOG_LEVEL_FLAG,
];

const Schema = v.object({
  sot: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  ref: v.optional(v.string()),
  site: v.optional(v.string()),
  mac: v.pipe(
    v.string("is required"),
    v.check((m) => normalizeMac(m) !== undefined, "want a MAC like 52:54:00:ab:cd:ef"),
  ),
  boot: v.optional(v.string()),
  ipxe: v.optional(v.boolean()),
  config: v.optional(v.boolean()),
  cmdline: v.optional(v.boolean()),
  "log-level": LogLevel,
  timeout: v.pipe(v.number(), v.minValue(1, "must be at least 1")),
});

const SYNOPSIS = "--sot DIR|GIT-URL [--ref REF] [--site ID] --mac MAC [--boot ID] [--ipxe | --config | --cmdline]";
const DESCRIPTION = `Prints exactly what the agent would serve one machine: its iPXE script (default), its kernel
command line, or its rendered unattended config. A machine never provisioned gets the first stage of its
workflow; --boot names another. Only the artefact goes to stdout.`;

/** Runs `preview`; returns the exit code. */
export async function runPreview(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseConfig("preview", argv, PREVIEW_FLAGS, { env: io.env });
  if (parsed.help) {
    io.out(helpText("preview", SYNOPSIS, DESCRIPTION, PREVIEW_FLAGS));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("preview", Schema, parsed);
  const modes = (["ipxe", "config", "cmdline"] as const).filter((m) => cfg[m]);
  if (modes.length > 1) throw usage(`--${modes.join(", --")} are exclusive: pick one`);
  const mode = modes[0] ?? "ipxe";
  const mac = normalizeMac(cfg.mac) as string;
  return compileSource(cfg.sot, cfg, io, (result, tree) => {
    if (!result.valid) {
      const errors = result.findings.filter((f) => f.severity === "error");
      for (const f of errors.slice(0, 20)) io.err(`${f.file}:${f.line}:${f.column}: ${f.code} ${f.message}\n`);
      io.err(
        `vaquero preview: ${tree.location} has ${errors.length} error(s); an agent is never given an invalid release (run vaquero validate)\n`,
      );
      return 1;
    }
    const holders = [...result.sites].filter(([, s]) => s.bundle.hosts.some((h) => h.interfaces.some((i) => i.mac === mac)));
    let siteId = cfg.site;
    if (siteId !== undefined && !result.sites.has(siteId)) {
      throw usage(`site "${siteId}" is not in the SoT; sites: ${[...result.sites.keys()].join(", ")}`);
    }
    if (siteId === undefined) {
      if (holders.length === 0) throw new VaqueroError("MAC_UNKNOWN", `vaquero preview: MAC ${mac} is not a host interface in any site`);
      if (holders.length > 1) throw usage(`MAC ${mac} is in several sites (${holders.map(([id]) => id).join(", ")}); pick one with --site`);
      siteId = holders[0]?.[0] as string;
    }
    const site = result.sites.get(siteId);
    if (!site) throw usage(`site "${siteId}" is not in the SoT`);
    const served = bootFor(site.bundle, createRenderer(site.bundle), mac, cfg.boot);
    if ("code" in served) {
      if (served.code === "UNKNOWN_MAC")
        throw new VaqueroError("MAC_UNKNOWN", `vaquero preview: MAC ${mac} is not a host interface in site "${siteId}"`);
      throw usage(`boot "${cfg.boot}" is not used in site "${siteId}"; boots: ${served.boots.join(", ")}`);
    }
    if (mode === "cmdline") io.out(`${served.rendered.cmdline}\n`);
    else if (mode === "config") {
      if (!served.config)
        throw new VaqueroError(
          "NO_CONFIG",
          `vaquero preview: boot "${served.boot}" of host "${served.host.name}" has no unattended config`,
        );
      io.out(served.config.body.endsWith("\n") ? served.config.body : `${served.config.body}\n`);
    } else io.out(served.script);
    return 0;
  });
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero preview: ${msg} (see vaquero preview --help)`, { exitCode: 2 });
}
