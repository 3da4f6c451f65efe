/**
 * IPMI messages on LAN (IPMI v2.0 §13.8): the request and response frames with their two checksums. Pure:
 * bytes in, records out. The remote console is software ID 0x81; the BMC is slave address 0x20; LUN 0.
 */
import { need } from "./_errors.ts";

/** The BMC's slave address. */
export const BMC_ADDR = 0x20;
/** The remote console's software ID. */
export const CONSOLE_ADDR = 0x81;

/** Network functions used here (requests; a response's is the request's + 1). */
export const NetFn = { CHASSIS: 0x00, APP: 0x06 } as const;

/** A request to the BMC. */
export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** Request sequence, 0–63: ties a response to its request. */
  rqSeq: number;
  data: Uint8Array;
}

/** A response from the BMC. */
export interface IpmiResponse {
  /** The response's network function (the request's + 1). */
  netFn: number;
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Uint8Array;
}

/** Two's-complement checksum: the byte that makes `bytes[from..to)` plus itself sum to 0 mod 256. */
export function checksum(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum = (sum + (bytes[i] ?? 0)) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Encodes a request: rsAddr, netFn/LUN, chk1, rqAddr, rqSeq/LUN, cmd, data, chk2. */
export function encodeRequest(r: IpmiRequest): Uint8Array {
  need(r.netFn >= 0 && r.netFn < 64 && r.rqSeq >= 0 && r.rqSeq < 64 && r.cmd >= 0 && r.cmd < 256, "request fields out of range");
  const out = new Uint8Array(7 + r.data.length);
  out[0] = BMC_ADDR;
  out[1] = r.netFn << 2;
  out[2] = checksum(out, 0, 2);
  out[3] = CONSOLE_ADDR;
  out[4] = r.rqSeq << 2;
  out[5] = r.cmd;
  out.set(r.data, 6);
  out[out.length - 1] = checksum(out, 3, out.length - 1);
  return out;
}

/** Decodes a response, checking both checksums and the addresses. Throws IPMI_DECODE. */
export function decodeResponse(b: Uint8Array): IpmiResponse {
  need(b.length >= 8, `response message of ${b.length} bytes is shorter than 8`);
  need(checksum(b, 0, 2) === b[2], "response header checksum does not match");
  need(checksum(b, 3, b.length - 1) === b[b.length - 1], "response data checksum does not match");
  need(b[0] === CONSOLE_ADDR, `response addressed to 0x${(b[0] ?? 0).toString(16)}, not to the console`);
  return {
    netFn: (b[1] ?? 0) >> 2,
    cmd: b[5] ?? 0,
    rqSeq: (b[4] ?? 0) >> 2,
    completionCode: b[6] ?? 0,
    data: b.slice(7, b.length - 1),
  };
}

/** Encodes a response (the BMC's side; for tests and simulators). */
export function encodeResponse(r: IpmiResponse): Uint8Array {
  const out = new Uint8Array(8 + r.data.length);
  out[0] = CONSOLE_ADDR;
  out[1] = r.netFn << 2;
  out[2] = checksum(out, 0, 2);
  out[3] = BMC_ADDR;
  out[4] = r.rqSeq << 2;
  out[5] = r.cmd;
  out[6] = r.completionCode;
  out.set(r.data, 7);
  out[out.length - 1] = checksum(out, 3, out.length - 1);
  return out;
}

/** Decodes a request (the BMC's side; for tests and simulators). Throws IPMI_DECODE. */
export function decodeRequest(b: Uint8Array): IpmiRequest {
  need(b.length >= 7, `request message of ${b.length} bytes is shorter than 7`);
  need(checksum(b, 0, 2) === b[2], "request header checksum does not match");
  need(checksum(b, 3, b.length - 1) === b[b.length - 1], "request data checksum does not match");
  return { netFn: (b[1] ?? 0) >> 2, cmd: b[5] ?? 0, rqSeq: (b[4] ?? 0) >> 2, data: b.slice(6, b.length - 1) };
}
