/** A flat log summary of a DHCPv4 message (private; re-exported by `index.ts`). */

import { hex } from "./_bytes.ts";
import { type DhcpPacket, macOf } from "./_codec.ts";
import { get, MessageType, Opt } from "./_options.ts";

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));

/**
 * A flat, JSON-safe summary of a message for logs and boot traces. Always: `op` ("request"/"reply"), `type`
 * (the option 53 name such as "DISCOVER", the number as text when unknown, "BOOTP" when absent; RFC 2132
 * §9.6), `xid` (8 hex digits). When present and not zero or empty: `mac`, `ciaddr`, `yiaddr`, `siaddr`,
 * `giaddr`, `requestedIp` (50), `serverId` (54), `arch` (93, RFC 4578 §2.1), `vendorClass` (60), `userClass`
 * (77, RFC 3004), `uuid` (97, RFC 4578 §2.3), `file`, `sname`, `broadcast` (flags bit 15). Never throws.
 */
export function describeDhcp(p: DhcpPacket): Record<string, unknown> {
  const t = get.messageType(p);
  const out: Record<string, unknown> = {
    op: p.op === 1 ? "request" : "reply",
    type: t === undefined ? "BOOTP" : (TYPE_NAMES.get(t) ?? String(t)),
    xid: hex(p.xid >>> 0, 8),
  };
  const add = (key: string, v: unknown) => {
    if (v === undefined || v === "" || v === "0.0.0.0") return;
    if (Array.isArray(v) && v.length === 0) return;
    out[key] = v;
  };
  add("mac", macOf(p));
  add("ciaddr", p.ciaddr);
  add("yiaddr", p.yiaddr);
  add("siaddr", p.siaddr);
  add("giaddr", p.giaddr);
  add("requestedIp", get.ip(p, Opt.REQUESTED_IP));
  add("serverId", get.ip(p, Opt.SERVER_ID));
  add("arch", get.clientArch(p));
  add("vendorClass", get.str(p, Opt.VENDOR_CLASS));
  add("userClass", get.userClass(p));
  add("uuid", get.uuid(p));
  add("file", p.file);
  add("sname", p.sname);
  if ((p.flags & 0x8000) !== 0) out.broadcast = true;
  return out;
}
