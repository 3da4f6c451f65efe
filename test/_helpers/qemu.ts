/**
 * Virtual machines for the end-to-end PXE test: QEMU (TCG, no KVM) network-booting from a tap inside a network
 * namespace, with SeaBIOS + the iPXE ROM (`bios`) or OVMF and its own PXE (`uefi`). Every VM runs under
 * coreutils `timeout` (so an orphan dies even when the test process does), is killed by PID when its bound
 * passes, and writes its serial console and firmware debug port to files that failures quote.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Which firmware boots the VM. */
export type Firmware = "bios" | "uefi";

/** Firmware files and programs the VMs need, each with the Debian package that provides it. */
export const QEMU_FILES = {
  qemu: "qemu-system-x86_64",
  /** The iPXE ROM SeaBIOS runs for a virtio NIC (found by QEMU through its data directories, `-L`). */
  ipxeRom: "/usr/lib/ipxe/qemu/efi-virtio.rom",
  ovmfCode: "/usr/share/OVMF/OVMF_CODE_4M.fd",
  ovmfVars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
} as const;

/** Programs and files that are missing for {@link startVm}, as `what (Debian package pkg)`; empty when all are there. */
export function qemuMissing(): string[] {
  const out: string[] = [];
  if (Bun.which(QEMU_FILES.qemu) === null) out.push(`${QEMU_FILES.qemu} (Debian package qemu-system-x86)`);
  if (Bun.which("timeout") === null) out.push("timeout (Debian package coreutils)");
  if (!existsSync(QEMU_FILES.ipxeRom)) out.push(`${QEMU_FILES.ipxeRom} (Debian package ipxe-qemu)`);
  for (const f of [QEMU_FILES.ovmfCode, QEMU_FILES.ovmfVars]) if (!existsSync(f)) out.push(`${f} (Debian package ovmf)`);
  return out;
}

/** Options of {@link startVm}. */
export interface VmOptions {
  /** Network namespace the VM runs in (its tap must be there). */
  ns: string;
  /** A name unique to this run (QEMU `-name`, file names). */
  name: string;
  /** Tap interface in `ns`, created beforehand (`ip tuntap add … mode tap`). */
  tap: string;
  /** MAC address of the VM's virtio NIC. */
  mac: string;
  firmware: Firmware;
  /** Folder for the serial log, debug log, pidfile and (UEFI) the writable variable store. */
  dir: string;
  /** Hard bound on the VM's life (default 120 s); it is killed when it passes. */
  timeoutMs?: number;
  /** Guest memory in MiB (default 512). */
  memoryMb?: number;
}

/** How a VM ended. */
export interface VmExit {
  /** QEMU's exit code (0 after the guest powered off), or null when killed by a signal. */
  code: number | null;
  /** True when the VM was killed because its bound passed. */
  timedOut: boolean;
  /** Wall time from start to exit. */
  ms: number;
  /** What QEMU (or the namespace and timeout wrappers) wrote on stderr. */
  stderr: string;
}

/** A running VM. */
export interface Vm {
  /** PID of the process started (coreutils `timeout`, QEMU's parent). */
  pid: number;
  /** Serial console (ttyS0) of the guest. */
  serialLog: string;
  /** Firmware debug port 0x402 (SeaBIOS and OVMF write there). */
  debugLog: string;
  /** Settles when the VM has exited, for whatever reason. */
  exited: Promise<VmExit>;
  /** The last `lines` lines of the serial console (escape codes removed). */
  serialTail(lines?: number): string;
  /** The last `lines` lines of the firmware debug log. */
  debugTail(lines?: number): string;
  /** Stops the VM (SIGTERM to the wrapper, then SIGKILL to QEMU by its pidfile and the wrapper by PID) and waits for it; safe to call twice. */
  stop(): Promise<VmExit>;
}

/** The QEMU command line of a VM (without the namespace and timeout wrappers). */
export function qemuArgs(
  o: VmOptions,
  files: { serialLog: string; debugLog: string; pidFile: string; varsFile: string; serconFile: string },
): string[] {
  const nic = [`virtio-net-pci,netdev=n0,mac=${o.mac},bootindex=1`];
  // With an empty romfile OVMF drives the NIC itself (VirtioNetDxe) and runs its own PXE, which fetches ipxe.efi over TFTP.
  if (o.firmware === "uefi") nic.push("romfile=");
  const args = [
    QEMU_FILES.qemu,
    "-name",
    o.name,
    "-machine",
    "q35,accel=tcg",
    "-cpu",
    "max",
    "-smp",
    "1",
    "-m",
    String(o.memoryMb ?? 512),
    "-nodefaults",
    "-display",
    "none",
    "-no-reboot",
    "-L",
    "/usr/lib/ipxe/qemu",
    "-serial",
    `file:${files.serialLog}`,
    "-chardev",
    `file,id=dbg,path=${files.debugLog}`,
    "-device",
    "isa-debugcon,iobase=0x402,chardev=dbg",
    "-pidfile",
    files.pidFile,
    "-netdev",
    `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
    "-device",
    nic.join(","),
    "-boot",
    "n",
  ];
  if (o.firmware === "bios") {
    // SeaBIOS's serial console (the port, as a little-endian integer): the iPXE ROM's output reaches the serial log.
    args.push("-fw_cfg", `name=etc/sercon-port,file=${files.serconFile}`);
  }
  if (o.firmware === "uefi") {
    args.push(
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${QEMU_FILES.ovmfCode}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${files.varsFile}`,
    );
  }
  return args;
}

function tail(file: string, lines: number): string {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return `(no ${file})`;
  }
  const clean = text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r/g, "");
  return clean.split("\n").slice(-lines).join("\n");
}

function killPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function pidFromFile(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a VM in `o.ns` (`ip netns exec NS timeout … qemu-system-x86_64 …`). QEMU exits by itself when the guest
 * powers off; otherwise it is killed after `o.timeoutMs`.
 */
export function startVm(o: VmOptions): Vm {
  const timeoutMs = o.timeoutMs ?? 120_000;
  const files = {
    serialLog: join(o.dir, `${o.name}.serial.log`),
    debugLog: join(o.dir, `${o.name}.debug.log`),
    pidFile: join(o.dir, `${o.name}.pid`),
    varsFile: join(o.dir, `${o.name}.vars.fd`),
    serconFile: join(o.dir, `${o.name}.sercon`),
  };
  if (o.firmware === "uefi") copyFileSync(QEMU_FILES.ovmfVars, files.varsFile);
  else writeFileSync(files.serconFile, Uint8Array.of(0xf8, 0x03)); // 0x3f8, COM1
  // coreutils timeout is the outer bound (a little later than ours) for when this process dies before the VM.
  const outer = String(Math.ceil(timeoutMs / 1000) + 15);
  const started = Date.now();
  const proc = Bun.spawn(["ip", "netns", "exec", o.ns, "timeout", "-k", "5", outer, ...qemuArgs(o, files)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderr = new Response(proc.stderr).text();
  let timedOut = false;
  let over = false;
  let hard: ReturnType<typeof setTimeout> | undefined;
  /** QEMU's PID from its pidfile, only while that process is still this VM (never a reused PID). */
  const qemuPid = (): number | undefined => {
    const pid = pidFromFile(files.pidFile);
    try {
      return pid && readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(`\0-name\0${o.name}\0`) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  // SIGTERM to the wrapper: timeout forwards it to QEMU and reaps it. SIGKILL to both if that has not worked in 5 s.
  const kill = (): void => {
    if (over) return;
    killPid(proc.pid, "SIGTERM");
    hard ??= setTimeout(() => {
      killPid(qemuPid(), "SIGKILL");
      killPid(proc.pid, "SIGKILL");
    }, 5000);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  const exited = proc.exited.then(async (code) => {
    over = true;
    clearTimeout(timer);
    clearTimeout(hard);
    // The wrapper reaps QEMU before it exits; should it have died first, QEMU goes now.
    killPid(qemuPid(), "SIGKILL");
    return { code: proc.signalCode ? null : code, timedOut, ms: Date.now() - started, stderr: (await stderr).trim() };
  });
  return {
    pid: proc.pid,
    serialLog: files.serialLog,
    debugLog: files.debugLog,
    exited,
    serialTail: (lines = 40) => tail(files.serialLog, lines),
    debugTail: (lines = 40) => tail(files.debugLog, lines),
    async stop() {
      kill();
      return exited;
    },
  };
}
