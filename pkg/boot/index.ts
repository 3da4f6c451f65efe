/**
 * pkg/boot — what a booting machine is served: which boot program its firmware gets, iPXE scripts (first
 * contact, per host, unknown machine, local disk) and unattended configs, as pure functions of (bundle, host,
 * boot).
 *
 * @example
 * const renderer = createRenderer(bundle);
 * const served = bootFor(bundle, renderer, "52:54:00:12:34:56");
 * if (!("code" in served)) console.log(served.script);
 */

export {
  ARCH,
  type BootProgram,
  type BootProgramOptions,
  chooseBootProgram,
  type FirmwareFacts,
  isIpxe,
  PROGRAMS,
} from "./_firmware.ts";
export {
  type BootLookupError,
  bootFor,
  exitScript,
  firstContactScript,
  type HostBoot,
  hostScript,
  UNKNOWN_RETRY_SECONDS,
  unknownMachineScript,
} from "./_ipxe.ts";
