import { describe, expect, test } from "bun:test";
import {
  chassisControl,
  decodeBootFlags,
  decodeChannelAuthCaps,
  decodeChassisStatus,
  decodeDeviceId,
  parseCipherSuiteRecords,
  setBootDevice,
} from "./_commands.ts";
import { CIPHER_SUITES, decryptPayload, encryptPayload } from "./_crypto.ts";
import { checksum, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "./_message.ts";

describe("commands", () => {
  test("boot device: parameter 5 with valid, persistent and EFI bits and the device selector (table 28-14)", () => {
    expect(setBootDevice("pxe").data).toEqual(Uint8Array.of(0x05, 0x80, 0x04, 0, 0, 0));
    expect(setBootDevice("disk", { persistent: true }).data).toEqual(Uint8Array.of(0x05, 0xc0, 0x08, 0, 0, 0));
    expect(setBootDevice("bios", { efi: true }).data).toEqual(Uint8Array.of(0x05, 0xa0, 0x18, 0, 0, 0));
    expect(decodeBootFlags(Uint8Array.of(0x01, 0x05, 0xe0, 0x04, 0, 0, 0))).toEqual({
      valid: true,
      persistent: true,
      efi: true,
      device: "pxe",
    });
    expect(decodeBootFlags(Uint8Array.of(0x01, 0x05, 0x00, 0x3c, 0, 0, 0)).device).toBe("0xf");
  });
  test("chassis control bytes (table 28-4)", () => {
    expect(["off", "on", "cycle", "reset", "soft"].map((a) => chassisControl(a as "on").data[0])).toEqual([0, 1, 2, 3, 5]);
  });
  test("chassis status, device ID, channel capabilities", () => {
    expect(decodeChassisStatus(Uint8Array.of(0x01, 0x00, 0x40))).toEqual({ powerOn: true, overload: false, powerFault: false });
    expect(decodeDeviceId(Uint8Array.of(0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f))).toEqual({
      deviceId: 0,
      deviceRevision: 3,
      firmware: "9.08",
      ipmiVersion: "2.0",
      manufacturerId: 4753,
      productId: 3842,
    });
    expect(decodeChannelAuthCaps(Uint8Array.of(0x01, 0x97, 0x06, 0x03, 0, 0, 0, 0))).toEqual({
      channel: 1,
      ipmi20: true,
      anonymousLogin: false,
      nullUsernames: true,
    });
    expect(() => decodeDeviceId(new Uint8Array(3))).toThrow("device ID of 3 bytes");
  });
  test("cipher suite records: standard and OEM, algorithms skipped", () => {
    const records = Uint8Array.of(
      0xc0,
      0x00,
      0x00,
      0x40,
      0x80,
      0xc0,
      0x03,
      0x01,
      0x41,
      0x81,
      0xc1,
      0x50,
      1,
      2,
      3,
      0x01,
      0xc0,
      0x11,
      0x03,
      0x44,
      0x81,
    );
    expect(parseCipherSuiteRecords(records)).toEqual([0, 3, 0x50, 17]);
    expect(parseCipherSuiteRecords(new Uint8Array(0))).toEqual([]);
  });
});

describe("messages and crypto", () => {
  test("checksums: a frame plus its checksum sums to zero", () => {
    const req = encodeRequest({ netFn: 0, cmd: 1, rqSeq: 5, data: Uint8Array.of(1, 2, 3) });
    expect(checksum(req, 0, 3)).toBe(0);
    expect(checksum(req, 3, req.length)).toBe(0);
    expect(decodeRequest(req)).toEqual({ netFn: 0, cmd: 1, rqSeq: 5, data: Uint8Array.of(1, 2, 3) });
    const res = { netFn: 1, cmd: 1, rqSeq: 5, completionCode: 0xc1, data: new Uint8Array(0) };
    expect(decodeResponse(encodeResponse(res))).toEqual(res);
  });
  test("AES-CBC-128 with the IPMI pad, for every payload length up to 40", () => {
    const k2 = new Uint8Array(20).fill(7);
    const iv = new Uint8Array(16).fill(9);
    for (let n = 0; n <= 40; n++) {
      const plain = Uint8Array.from({ length: n }, (_, i) => i);
      const enc = encryptPayload(k2, iv, plain);
      expect(enc.length % 16).toBe(0);
      expect(decryptPayload(k2, enc)).toEqual(plain);
    }
  });
  test("suite 17 keys are HMAC-SHA256 with 16-byte integrity codes", () => {
    expect(CIPHER_SUITES[17]).toMatchObject({ auth: 3, integrity: 4, confidentiality: 1, hash: "sha256", icvLength: 16 });
  });
});

describe("the BMC's session sequence numbers", () => {
  test("0, a number seen before, and one more than 16 behind are refused; the rest accepted once", async () => {
    const { replayWindow } = await import("./_session.ts");
    const w = replayWindow();
    expect([w.fresh(0), w.fresh(1), w.fresh(1), w.fresh(3), w.fresh(2)]).toEqual([false, true, false, true, true]);
    expect(w.fresh(40)).toBe(true);
    expect([w.fresh(23), w.fresh(24), w.fresh(41)]).toEqual([false, true, true]);
    for (let i = 42; i < 500; i++) expect(w.fresh(i)).toBe(true);
    expect(w.fresh(100)).toBe(false);
  });
});
