/** Typed errors of the DHCPv4 codec (private; re-exported by `index.ts`). */
import { VaqueroError } from "../../internal/errors/index.ts";

/**
 * Bytes that are not a DHCPv4 message (RFC 2131 §2): too short, a bad magic cookie, an option running past the
 * end. The message is one line with got/want, e.g.
 * `malformed DHCP packet: got magic cookie 0x00000000, want 0x63825363`. Code `DHCP_DECODE`.
 */
export class DhcpDecodeError extends VaqueroError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super("DHCP_DECODE", `malformed DHCP packet: ${message}`, { detail });
    this.name = "DhcpDecodeError";
  }
}

/**
 * A {@link DhcpPacket} (or an option value) that cannot be put on the wire so that it decodes back to itself:
 * a bad dotted quad, a field too long, an option that does not fit the client's maximum size. Code `DHCP_ENCODE`.
 */
export class DhcpEncodeError extends VaqueroError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super("DHCP_ENCODE", `cannot encode DHCP packet: ${message}`, { detail });
    this.name = "DhcpEncodeError";
  }
}
