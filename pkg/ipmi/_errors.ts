/** Typed errors of pkg/ipmi: one stable code per way a BMC conversation can fail. */
import { VaqueroError } from "../../internal/errors/index.ts";

/** The codes of {@link IpmiError}. */
export type IpmiErrorCode =
  /** A packet that is not well-formed IPMI (truncated, bad checksum, bad lengths, failed integrity check). */
  | "IPMI_DECODE"
  /** No answer within the retries: the BMC is down, filtered, or not speaking IPMI at that address. */
  | "IPMI_UNREACHABLE"
  /** The BMC refused the user or the password (RAKP status, or a key-exchange code that does not verify). */
  | "IPMI_AUTH_FAILED"
  /** The BMC does not offer the cipher suite asked for (or offers none Vaquero accepts). */
  | "IPMI_CIPHER_UNSUPPORTED"
  /** Refused by policy: cipher suite 0, an anonymous or null user, an empty password. */
  | "IPMI_INSECURE"
  /** The BMC answered a command with a completion code other than 0. */
  | "IPMI_COMMAND_REFUSED"
  /** Session set-up failed with an RMCP+ status code other than a credential problem. */
  | "IPMI_SESSION_FAILED";

/** An IPMI failure. Messages never hold a password, a key or RAKP material. */
export class IpmiError extends VaqueroError {
  declare readonly code: IpmiErrorCode;
  constructor(code: IpmiErrorCode, message: string, detail: Record<string, unknown> = {}) {
    super(code, message, { exitCode: 1, detail });
    this.name = "IpmiError";
  }
}

/** Completion codes of IPMI v2.0 table 5-2, for messages. */
export const COMPLETION_CODES: Readonly<Record<number, string>> = {
  192: "node busy",
  193: "invalid command",
  194: "invalid command for this LUN",
  195: "timeout while processing",
  196: "out of space",
  197: "reservation cancelled",
  198: "request data truncated",
  199: "request data length invalid",
  200: "request data field length limit exceeded",
  201: "parameter out of range",
  202: "cannot return the number of requested bytes",
  203: "requested sensor, data or record not present",
  204: "invalid data field in request",
  205: "command illegal for this sensor or record type",
  206: "response could not be provided",
  207: "duplicated request",
  208: "SDR repository in update mode",
  209: "device in firmware update mode",
  210: "BMC initialization in progress",
  211: "destination unavailable",
  212: "insufficient privilege level",
  213: "not supported in present state",
  214: "parameter is illegal because the sub-function is disabled",
  255: "unspecified error",
};

/** RMCP+ status codes of IPMI v2.0 table 13-15 (open session and RAKP messages). */
export const RMCP_STATUS: Readonly<Record<number, string>> = {
  1: "insufficient resources to create a session",
  2: "invalid session ID",
  3: "invalid payload type",
  4: "invalid authentication algorithm",
  5: "invalid integrity algorithm",
  6: "no matching authentication payload",
  7: "no matching integrity payload",
  8: "inactive session ID",
  9: "invalid role",
  10: "unauthorized role or privilege level requested",
  11: "insufficient resources to create a session at the requested role",
  12: "invalid name length",
  13: "unauthorized name",
  14: "unauthorized GUID",
  15: "invalid integrity check value",
  16: "invalid confidentiality algorithm",
  17: "no cipher suite match with proposed security algorithms",
  18: "illegal or unrecognized parameter",
};

/** `0xcc (invalid data field in request)`. */
export function describeCompletion(cc: number): string {
  return `0x${cc.toString(16).padStart(2, "0")} (${COMPLETION_CODES[cc] ?? (cc >= 0x01 && cc <= 0x7e ? "OEM code" : "command-specific code")})`;
}

/** `0x0d (unauthorized name)`. */
export function describeRmcpStatus(status: number): string {
  return `0x${status.toString(16).padStart(2, "0")} (${RMCP_STATUS[status] ?? "unknown status"})`;
}

/** Throws IPMI_DECODE with `what` when `ok` is false. */
export function need(ok: boolean, what: string): asserts ok {
  if (!ok) throw new IpmiError("IPMI_DECODE", `ipmi: ${what}`);
}
