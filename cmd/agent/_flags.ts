/** Flags and configuration schema of `vaquero agent` (ARCHITECTURE.md "Command line"). */
import * as v from "valibot";
import { type FlagSpec, LOG_LEVEL_FLAG, LogLevel } from "../../internal/config/index.ts";
import { SERVING_FLAGS, SERVING_SCHEMA } from "../common/flags.ts";

/** Flags of `agent`. */
export const AGENT_FLAGS: FlagSpec[] = [
  { name: "server", kind: "string", arg: "URL", help: "control plane URL, e.g. https://vaquero.example:8443 (required)" },
  { name: "site", kind: "string", arg: "ID", help: "site this agent serves; its token must be bound to it (required)" },
  { name: "token-file", kind: "string", arg: "FILE", help: "file holding the agent's bearer token (role agent; required)" },
  {
    name: "ca-file",
    kind: "string",
    arg: "FILE",
    help: "also trust this CA (PEM) for the server's certificate, besides the system's store",
  },
  { name: "tls-cert", kind: "string", arg: "FILE", help: "client certificate (PEM) for a server with mutual TLS; needs --tls-key" },
  { name: "tls-key", kind: "string", arg: "FILE", help: "the private key of --tls-cert, PEM" },
  { name: "data-dir", kind: "string", arg: "DIR", help: "state directory: store, staged bundles (created, mode 0700; required)" },
  { name: "name", kind: "string", arg: "NAME", help: "agent name shown in the fleet view (default: the host name)" },
  ...SERVING_FLAGS,
  { name: "poll-wait", kind: "number", arg: "SECONDS", default: 30, help: "longest wait of one desired-release poll (1–60)" },
  { ...LOG_LEVEL_FLAG, default: "info" },
];

/** The validated configuration of `agent`. */
export const AgentSchema = v.object({
  server: v.pipe(
    v.string("is required"),
    v.regex(/^https?:\/\/[^\s/]+(?:\/\S*)?$/, "want an http(s) URL, e.g. https://vaquero.example:8443"),
  ),
  site: v.pipe(v.string("is required"), v.regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "is not a site id")),
  "token-file": v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  "ca-file": v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  "tls-cert": v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  "tls-key": v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  "data-dir": v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  name: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "must match [a-z0-9][a-z0-9._-]{0,62}"))),
  ...SERVING_SCHEMA,
  "poll-wait": v.pipe(
    v.number(),
    v.integer("must be whole seconds"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(60, "must be at most 60"),
  ),
  "log-level": LogLevel,
});

/** The validated configuration. */
export type AgentConfig = v.InferOutput<typeof AgentSchema>;
