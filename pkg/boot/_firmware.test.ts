import { describe, expect, test } from "bun:test";
import { type BootProgram, chooseBootProgram, type FirmwareFacts } from "./_firmware.ts";

const agentUrl = "http://10.0.0.2:8080/";
const cases: [string, FirmwareFacts, BootProgram][] = [
  [
    "SeaBIOS with the iPXE ROM (iPXE marks)",
    { arch: [0], vendorClass: "PXEClient:Arch:00000:UNDI:002001", userClass: ["iPXE"] },
    { kind: "ipxe-script", url: "http://10.0.0.2:8080/boot.ipxe" },
  ],
  [
    "iPXE known only by option 175",
    { arch: [7], vendorClass: "PXEClient:Arch:00007:UNDI:003016", ipxeOptions: true },
    { kind: "ipxe-script", url: "http://10.0.0.2:8080/boot.ipxe" },
  ],
  ["legacy BIOS PXE ROM", { arch: [0], vendorClass: "PXEClient:Arch:00000:UNDI:002001" }, { kind: "tftp", file: "undionly.kpxe" }],
  ["PXE ROM without option 93", { vendorClass: "PXEClient" }, { kind: "tftp", file: "undionly.kpxe" }],
  ["OVMF x86-64 UEFI PXE (EFI BC)", { arch: [7], vendorClass: "PXEClient:Arch:00007:UNDI:003016" }, { kind: "tftp", file: "ipxe.efi" }],
  ["x86-64 UEFI (type 9)", { arch: [9], vendorClass: "PXEClient:Arch:00009:UNDI:003016" }, { kind: "tftp", file: "ipxe.efi" }],
  ["arm64 UEFI PXE", { arch: [11], vendorClass: "PXEClient:Arch:00011:UNDI:003000" }, { kind: "tftp", file: "arm64/ipxe.efi" }],
  [
    "x86-64 UEFI HTTP boot",
    { arch: [16], vendorClass: "HTTPClient:Arch:00016:UNDI:003001" },
    { kind: "http", url: "http://10.0.0.2:8080/ipxe/ipxe.efi", vendorClass: "HTTPClient" },
  ],
  [
    "arm64 UEFI HTTP boot",
    { arch: [19], vendorClass: "HTTPClient:Arch:00019:UNDI:003001" },
    { kind: "http", url: "http://10.0.0.2:8080/ipxe/arm64/ipxe.efi", vendorClass: "HTTPClient" },
  ],
  [
    "an ordinary DHCP client (udhcpc)",
    { vendorClass: "udhcp 1.36.1" },
    { kind: "none", reason: "not a PXE client (no PXEClient vendor class)" },
  ],
  ["no facts at all", {}, { kind: "none", reason: "not a PXE client (no PXEClient vendor class)" }],
  [
    "IA32 UEFI is not served",
    { arch: [6], vendorClass: "PXEClient:Arch:00006" },
    { kind: "none", reason: "PXE client architecture 6 is not served" },
  ],
  [
    "HTTP boot on IA32 is not served",
    { arch: [15], vendorClass: "HTTPClient:Arch:00015" },
    { kind: "none", reason: "HTTP boot client of architecture 15 is not served" },
  ],
];

describe("chooseBootProgram", () => {
  for (const [name, facts, want] of cases) test(name, () => expect(chooseBootProgram(facts, { agentUrl })).toEqual(want));
  test("snponly.efi when the site asks for it", () => {
    expect(chooseBootProgram({ arch: [7], vendorClass: "PXEClient" }, { agentUrl, uefiProgram: "snponly.efi" })).toEqual({
      kind: "tftp",
      file: "snponly.efi",
    });
  });
});
