/**
 * pkg/dhcp — DHCPv4 for network boot: a pure codec, the answering policy (`handleDhcp`: reservations of the SoT,
 * a pool for unknown machines, proxyDHCP, relays, PXE/iPXE/HTTP-boot fields) and a socket server around it.
 *
 * The codec: `decodeDhcp(bytes)` and `encodeDhcp(packet)` over the BOOTP header and raw
 * options (RFC 2131, RFC 2132), long options (RFC 3396), option overload (RFC 2132 §9.3), typed option readers
 * and writers, PXE vendor options (PXE 2.1), the domain search list (RFC 3397) and a log summary. It imports no
 * socket module, keeps no state and never blocks: the server loop lives elsewhere and hands decoded packets to
 * its handler. Unknown options are kept raw, so they survive decode → encode unchanged; output bytes depend on
 * the packet alone.
 *
 * Decoding throws only {@link DhcpDecodeError} (code `DHCP_DECODE`); encoding throws {@link DhcpEncodeError}
 * (code `DHCP_ENCODE`) for a packet it cannot write so that it decodes back to itself.
 *
 * @example
 * const req = decodeDhcp(bytes);
 * if (get.messageType(req) === MessageType.DISCOVER && get.clientArch(req)?.includes(7)) {
 *   const offer: DhcpPacket = {
 *     ...req, op: 2, secs: 0, yiaddr: "192.0.2.10", siaddr: "192.0.2.1", file: "ipxe.efi",
 *     options: new Map([
 *       put.u8(Opt.MESSAGE_TYPE, MessageType.OFFER),
 *       put.ip(Opt.SERVER_ID, "192.0.2.1"),
 *       put.u32(Opt.LEASE_TIME, 3600),
 *       put.str(Opt.VENDOR_CLASS, "PXEClient"),
 *     ]),
 *   };
 *   log.debug(describeDhcp(offer), "offer");
 *   send(encodeDhcp(offer, { maxSize: get.u16(req, Opt.MAX_SIZE) }));
 * }
 */
export { type DhcpPacket, decodeDhcp, type EncodeOptions, encodeDhcp, MAGIC_COOKIE, macOf } from "./_codec.ts";
export { describeDhcp } from "./_describe.ts";
export { bindToDevice, type DeviceSocket, type DeviceSocketOptions, type Peer } from "./_devsock.ts";
export { decodePxeVendorOptions, encodeDomainSearch, encodePxeVendorOptions } from "./_encapsulated.ts";
export { DhcpDecodeError, DhcpEncodeError } from "./_errors.ts";
export {
  type BootProgram,
  type DhcpContext,
  type DhcpEvent,
  type DhcpLookup,
  type DhcpOutcome,
  type DhcpSubnet,
  extraOption,
  type FirmwareFacts,
  firmwareOf,
  handleDhcp,
  type Reservation,
  type SubnetPool,
} from "./_handler.ts";
export { get, MessageType, Opt, put } from "./_options.ts";
export { createLeasePool, type LeasePool, type PoolChange, type PoolLease, type PoolOptions } from "./_pool.ts";
export { type ProbeOptions, type ProbeResult, probeDhcpServers } from "./_probe.ts";
export { createDhcpServer, type DhcpServer, type DhcpServerOptions, destination } from "./_server.ts";
