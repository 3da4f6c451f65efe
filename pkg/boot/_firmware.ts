/**
 * Which boot program a network-booting machine gets, from what its DHCP request says about its firmware: client
 * system architecture (option 93, RFC 4578 and the IANA registry), vendor class (option 60: `PXEClient…` or
 * `HTTPClient…`) and iPXE's own marks (user class 77 = `iPXE`, or option 175). A machine already running iPXE
 * is sent to the agent's HTTP script, never handed iPXE again: no chain-load loop. The types are pkg/dhcp's: the
 * DHCP handler declares what it needs, this module provides it.
 */
import type { BootProgram, FirmwareFacts } from "../dhcp/index.ts";

export type { BootProgram, FirmwareFacts };

/** Client architecture types of option 93 that Vaquero serves. */
export const ARCH = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

/** Agent settings the choice depends on. */
export interface BootProgramOptions {
  /** Base URL of the agent's HTTP service, e.g. `http://10.0.0.2:8080`. */
  agentUrl: string;
  /** x86-64 UEFI program over TFTP: `ipxe.efi` (its own drivers) or `snponly.efi` (the firmware's). */
  uefiProgram?: "ipxe.efi" | "snponly.efi";
}

/** Boot program names as the TFTP service offers them (read from the iPXE directory). */
export const PROGRAMS = { bios: "undionly.kpxe", efiX64: "ipxe.efi", snpX64: "snponly.efi", efiArm64: "arm64/ipxe.efi" } as const;

/** True when the request comes from iPXE itself. */
export function isIpxe(f: FirmwareFacts): boolean {
  return f.ipxeOptions === true || (f.userClass ?? []).includes("iPXE");
}

/** Chooses the boot program for a firmware; `none` when it is not a network-boot client Vaquero can serve. */
export function chooseBootProgram(f: FirmwareFacts, o: BootProgramOptions): BootProgram {
  const base = o.agentUrl.replace(/\/+$/, "");
  if (isIpxe(f)) return { kind: "ipxe-script", url: `${base}/boot.ipxe` };
  const vc = f.vendorClass ?? "";
  const arch = f.arch?.[0];
  if (vc.startsWith("HTTPClient")) {
    if (arch === ARCH.EFI_X64_HTTP) return { kind: "http", url: `${base}/ipxe/${PROGRAMS.efiX64}`, vendorClass: "HTTPClient" };
    if (arch === ARCH.EFI_ARM64_HTTP) return { kind: "http", url: `${base}/ipxe/${PROGRAMS.efiArm64}`, vendorClass: "HTTPClient" };
    return { kind: "none", reason: `HTTP boot client of architecture ${arch ?? "unknown"} is not served` };
  }
  if (!vc.startsWith("PXEClient")) return { kind: "none", reason: "not a PXE client (no PXEClient vendor class)" };
  switch (arch) {
    case undefined:
    case ARCH.BIOS:
      return { kind: "tftp", file: PROGRAMS.bios };
    case ARCH.EFI_BC:
    case ARCH.EFI_X64:
      return { kind: "tftp", file: o.uefiProgram ?? PROGRAMS.efiX64 };
    case ARCH.EFI_ARM64:
      return { kind: "tftp", file: PROGRAMS.efiArm64 };
    default:
      return { kind: "none", reason: `PXE client architecture ${arch} is not served` };
  }
}
