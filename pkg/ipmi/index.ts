/**
 * pkg/ipmi — an IPMI v2.0 / RMCP+ client of Vaquero's own (no ipmitool on the agent host): a pure codec (RMCP,
 * the v1.5 and v2.0 session wrappers with AES-CBC-128 and HMAC integrity, IPMI messages, RAKP), cipher suites
 * 3 (HMAC-SHA1) and 17 (HMAC-SHA256), and a client that keeps one session per BMC and runs its operations one
 * at a time: power status and control, boot device, device ID.
 *
 * Every failure is an {@link IpmiError} with a stable code: IPMI_UNREACHABLE, IPMI_AUTH_FAILED,
 * IPMI_CIPHER_UNSUPPORTED, IPMI_INSECURE, IPMI_COMMAND_REFUSED (with the completion code), IPMI_SESSION_FAILED,
 * IPMI_DECODE. No message holds a password or key material.
 *
 * @example
 * const bmc = createBmcClient({ host: "10.0.0.101", user: "admin", password });
 * if ((await bmc.powerStatus()) === "off") {
 *   await bmc.setBootDevice("pxe", { efi: true });
 *   await bmc.power("on");
 * }
 * await bmc.close();
 */
export { type BmcClient, type BmcClientOptions, createBmcClient, type PowerState } from "./_client.ts";
export {
  type BootDeviceName,
  type BootFlags,
  type ChassisActionName,
  type ChassisStatus,
  type Command,
  type DeviceId,
  parseCipherSuiteRecords,
} from "./_commands.ts";
export { CIPHER_SUITES, type CipherSuite } from "./_crypto.ts";
export { describeCompletion, IpmiError, type IpmiErrorCode } from "./_errors.ts";
export { checksum, decodeRequest, decodeResponse, encodeRequest, encodeResponse, type IpmiRequest, type IpmiResponse } from "./_message.ts";
export { decodePacket, encodeV2, encodeV15, type IpmiPacket, Payload, type SessionCrypto } from "./_rmcp.ts";
export { type IpmiTransport, udpTransport } from "./_transport.ts";
