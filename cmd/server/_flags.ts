/** Flags and configuration schema of `vaquero server` (ARCHITECTURE.md "Command line"). */
import * as v from "valibot";
import { type FlagSpec, LOG_LEVEL_FLAG, LogLevel } from "../../internal/config/index.ts";
import { Duration, HostPort } from "../common/flags.ts";

/** Flags of `server`. */
export const SERVER_FLAGS: FlagSpec[] = [
  {
    name: "sot",
    kind: "string",
    arg: "GIT-URL|DIR",
    help: "the Source of Truth (required): an http(s) git URL, a git repository or a directory",
  },
  { name: "ref", kind: "string", arg: "BRANCH", default: "main", help: "the branch compiled; webhooks must push refs/heads/<BRANCH>" },
  { name: "data-dir", kind: "string", arg: "DIR", help: "state directory (created, mode 0700; required): the embedded store, admin.token" },
  { name: "http-addr", kind: "string", arg: "H:P", default: "0.0.0.0:8443", help: "HTTP listen address" },
  {
    name: "etcd-endpoints",
    kind: "list",
    arg: "URL,…",
    help: "keep the server's state in this etcd cluster (default: the embedded store)",
  },
  {
    name: "lease-ttl",
    kind: "string",
    arg: "DURATION",
    default: "2s",
    help: "lease TTL of the leader election on etcd (at least 1s): a dead leader is replaced within it",
  },
  {
    name: "webhook-secret-file",
    kind: "string",
    arg: "FILE",
    help: "secret that signs /postreceive deliveries (without it /postreceive answers 404)",
  },
  { name: "webhook-repo", kind: "string", arg: "OWNER/NAME", help: "also accept deliveries whose repository full name is this" },
  {
    name: "tokens-file",
    kind: "string",
    arg: "FILE",
    help: "API tokens (YAML tokens: [{name, role, site?, sha256}]), replacing the stored ones at start",
  },
  { name: "sot-poll", kind: "string", arg: "DURATION", help: "also compile new commits of the branch this often (e.g. 1m)" },
  {
    name: "auto-execute",
    kind: "bool",
    help: "stage every new valid release on all its sites and start a rollout of each site's changed hosts",
  },
  { name: "tls-cert", kind: "string", arg: "FILE", help: "serve HTTPS with this certificate (chain), PEM; needs --tls-key" },
  { name: "tls-key", kind: "string", arg: "FILE", help: "the private key of --tls-cert, PEM" },
  {
    name: "client-ca",
    kind: "string",
    arg: "FILE",
    help: "mutual TLS: every client needs a certificate signed by this CA (PEM), besides its token; needs --tls-cert",
  },
  { name: "timeout", kind: "number", arg: "SECONDS", default: 30, help: "network timeout for the git remote" },
  { ...LOG_LEVEL_FLAG, default: "info" },
];

const File = v.pipe(v.string(), v.minLength(1, "must not be empty"));

/** The validated configuration of `server`. */
export const ServerSchema = v.object({
  sot: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  ref: v.pipe(v.string(), v.regex(/^(?:refs\/heads\/)?[A-Za-z0-9._/-]{1,200}$/, "want a branch name")),
  "data-dir": v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  "http-addr": HostPort,
  "etcd-endpoints": v.optional(v.array(v.string())),
  "lease-ttl": Duration,
  "webhook-secret-file": v.optional(File),
  "webhook-repo": v.optional(v.pipe(v.string(), v.regex(/^[^/\s]+(?:\/[^/\s]+)+$/, "want OWNER/NAME"))),
  "tokens-file": v.optional(File),
  "sot-poll": v.optional(Duration),
  "auto-execute": v.optional(v.boolean()),
  "tls-cert": v.optional(File),
  "tls-key": v.optional(File),
  "client-ca": v.optional(File),
  timeout: v.pipe(v.number(), v.minValue(1, "must be at least 1")),
  "log-level": LogLevel,
});

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
