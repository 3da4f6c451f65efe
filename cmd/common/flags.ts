/**
 * Flags and checks the verbs share: `HOST:PORT`, durations, and the flags of a verb that serves a site
 * (`vaquero standalone`, `vaquero agent`: listen addresses, DHCP interfaces, the iPXE builds, the boot endpoints'
 * rate limit) — one definition, so the verbs keep the same names, defaults, help and checks.
 */
import * as v from "valibot";
import type { FlagSpec } from "../../internal/config/index.ts";

/** `HOST:PORT` with a port of at most 65535. */
export const HostPort = v.pipe(
  v.string(),
  v.regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-f:]+\]):\d{1,5}$/i, "want HOST:PORT, e.g. 0.0.0.0:8080"),
  v.check((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be at most 65535"),
);

/** A duration like `30s`, `5m`, `1h30m`. */
export const Duration = v.pipe(
  v.string(),
  v.regex(/^(?:\d+h)?(?:\d+m)?(?:\d+s)?$/, "want a duration like 30s, 5m or 1h"),
  v.minLength(2, "want a duration like 30s"),
);

/** The serving flags. */
export const SERVING_FLAGS: FlagSpec[] = [
  { name: "http-addr", kind: "string", arg: "H:P", default: "0.0.0.0:8080", help: "HTTP listen address" },
  { name: "dhcp-iface", kind: "list", arg: "IF,…", help: "interface to serve DHCP on (overrides the site's agent.interfaces)" },
  { name: "tftp-addr", kind: "string", arg: "H:P", default: "0.0.0.0:69", help: "TFTP listen address" },
  { name: "ipxe-dir", kind: "string", arg: "DIR", default: "/usr/lib/ipxe", help: "where iPXE builds are read from" },
  {
    name: "boot-rate",
    kind: "number",
    arg: "N",
    default: 20,
    help: "requests/s per client on the boot endpoints, burst 5×N (0: no limit)",
  },
];

/** The serving flags' checks, to spread into a verb's schema. */
export const SERVING_SCHEMA = {
  "http-addr": HostPort,
  "dhcp-iface": v.optional(v.array(v.string())),
  "tftp-addr": HostPort,
  "ipxe-dir": v.string(),
  "boot-rate": v.pipe(v.number(), v.minValue(0, "must be 0 (no limit) or more")),
};
