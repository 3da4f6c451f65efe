/** Flags and configuration schema of `vaquero standalone` (ARCHITECTURE.md "Command line"). */
import * as v from "valibot";
import { type FlagSpec, LOG_LEVEL_FLAG, LogLevel } from "../../internal/config/index.ts";
import { Duration, SERVING_FLAGS, SERVING_SCHEMA } from "../common/flags.ts";

/** Flags of `standalone`. */
export const STANDALONE_FLAGS: FlagSpec[] = [
  { name: "sot", kind: "string", arg: "DIR|GIT-URL", help: "the Source of Truth (required)" },
  { name: "ref", kind: "string", arg: "REF", help: "branch, tag or commit (git sources only; default HEAD)" },
  { name: "site", kind: "string", arg: "ID", help: "site to serve (needed when the SoT has several)" },
  { name: "data-dir", kind: "string", arg: "DIR", help: "state directory (created, mode 0700; required)" },
  ...SERVING_FLAGS,
  {
    name: "tokens-file",
    kind: "string",
    arg: "FILE",
    help: "API tokens (YAML tokens: [{name, role, site?, sha256}]), replacing the stored ones at start",
  },
  { name: "sot-poll", kind: "string", arg: "DURATION", help: "compile, stage and serve new commits of --ref this often (e.g. 1m)" },
  {
    name: "webhook-secret-file",
    kind: "string",
    arg: "FILE",
    help: "secret that signs /postreceive deliveries (needs --ref BRANCH; without it /postreceive answers 404)",
  },
  { name: "webhook-repo", kind: "string", arg: "OWNER/NAME", help: "also accept deliveries whose repository full name is this" },
  { name: "auto-execute", kind: "bool", help: "roll out the hosts each new release changes, once it is staged" },
  { name: "timeout", kind: "number", arg: "SECONDS", default: 30, help: "network timeout for remote repositories" },
  { ...LOG_LEVEL_FLAG, default: "info" },
];

/** The validated configuration of `standalone`. */
export const StandaloneSchema = v.object({
  sot: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  ref: v.optional(v.string()),
  site: v.optional(v.string()),
  "data-dir": v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  ...SERVING_SCHEMA,
  "tokens-file": v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  "sot-poll": v.optional(Duration),
  "webhook-secret-file": v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  "webhook-repo": v.optional(v.pipe(v.string(), v.regex(/^[^/\s]+(?:\/[^/\s]+)+$/, "want OWNER/NAME"))),
  "auto-execute": v.optional(v.boolean()),
  timeout: v.pipe(v.number(), v.minValue(1, "must be at least 1")),
  "log-level": LogLevel,
});

/** The validated configuration of `standalone`, as a type. */
export type StandaloneConfig = v.InferOutput<typeof StandaloneSchema>;

/** Seconds of a duration like `1h30m` or `45s`. */
export function seconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : 0;
}

/** Splits `host:port`. */
export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
}
