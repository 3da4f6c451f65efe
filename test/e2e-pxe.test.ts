/**
 * End to end with real firmware nobody on the project wrote: `vaquero standalone` (the compiled binary) serves a
 * bridge in a network namespace, and QEMU VMs on taps of that bridge network-boot from it (TCG, no KVM):
 *
 * - SeaBIOS + the iPXE ROM: iPXE's DHCP (user class `iPXE`) gets `http://10.0.0.2:8080/boot.ipxe` directly;
 * - OVMF: its own PXE gets `ipxe.efi` over TFTP, and that iPXE comes back for the HTTP script.
 *
 * Each then boots Debian's cloud kernel and a busybox initramfs (test/_helpers/pxe-image.ts) whose udhcpc must get
 * the host's reserved address from Vaquero, and which posts `mac=<mac>&event=booted&ip=<lease>` to `/state`.
 * The test reads the machine's boot trace from `/status/machines/<mac>`.
 *
 * Needs root (skipped otherwise) and the packages of scripts/pxe-deps.sh (fails, naming them, when one is missing).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { netnsUnavailable } from "./_helpers/netns.ts";
import { buildPxeImage, type PxeImage } from "./_helpers/pxe-image.ts";
import {
  any,
  createBridgeLab,
  inOrder,
  kind,
  labAgentArgs,
  missingPackages,
  readTrace as readTraceIn,
  removeNamespaces,
  startInNamespace,
  type Trace,
  type TraceEvent,
  writeReportSot,
} from "./_helpers/pxe-lab.ts";
import { type Firmware, startVm, type Vm, type VmExit } from "./_helpers/qemu.ts";

const ROOT = resolve(import.meta.dir, "..");
const AGENT_IP = "10.0.0.2";
const AGENT = `http://${AGENT_IP}:8080`;
/** Bound on one VM's life: firmware, iPXE, kernel, initramfs and its report (23–36 s measured under TCG). */
const VM_TIMEOUT_MS = 120_000;

/** One VM per firmware, each a host of the site with a fixed MAC and a reserved address. */
const MACHINES: Record<Firmware, { host: string; mac: string; ipv4: string }> = {
  bios: { host: "pxe-bios", mac: "52:54:00:9e:00:01", ipv4: "10.0.0.11" },
  uefi: { host: "pxe-uefi", mac: "52:54:00:9e:00:02", ipv4: "10.0.0.12" },
};

const id = String(process.pid).slice(-7);
const NS = `vq-pxe-${id}`;
const BRIDGE = `vqpbr${id}`;
const KEEP = `vqpk${id}`;
const SINK = `${NS}-k`;
const tapOf = (fw: Firmware): string => `vqpt${id}${fw === "bios" ? "b" : "u"}`;

interface Lab {
  work: string;
  image: PxeImage;
  agent: Bun.Subprocess<"ignore", "pipe", "pipe">;
}

let lab: Promise<Lab> | undefined;
let agentProc: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
let workDir: string | undefined;
const vms: Vm[] = [];
let passed = 0;
/** The agent's log so far (JSON lines, the last 400 kB). */
let agentLog = (): string => "";

/** The namespace: a bridge holding the agent's address, one tap per VM, no uplink, no NAT. */
function createNetwork(): void {
  createBridgeLab({ ns: NS, bridge: BRIDGE, agentIp: AGENT_IP, peerNs: SINK, veth: KEEP, taps: [tapOf("bios"), tapOf("uefi")] });
}

/** Kills whatever still runs in the namespaces (by PID, from `ip netns pids`), then deletes them with the bridge and taps. */
function removeNetwork(): void {
  removeNamespaces([NS, SINK]);
}

/** The SoT of the test: the shape of test/fixtures/_valid-base, with an os served from the agent's asset dir. */
function writeSot(dir: string, assets: string): void {
  const subnet = ["    gateway: 10.0.0.1", "    dns: [10.0.0.1]", "    pool: {start: 10.0.0.200, end: 10.0.0.250}"];
  writeReportSot(dir, { agentUrl: AGENT, dhcp: "server", assets, subnet, machines: Object.values(MACHINES) });
}

/** Starts `vaquero standalone` in the namespace and waits for its "serving DHCP" line. */
async function startAgent(work: string, bin: string): Promise<Pick<Lab, "agent">> {
  let log = "";
  const agent = await startInNamespace(
    NS,
    labAgentArgs(bin, BRIDGE, AGENT_IP),
    work,
    (l) => (log = l),
    '"serving DHCP"',
    "vaquero standalone",
  );
  agentProc = agent;
  agentLog = () => log;
  return { agent };
}

async function setUp(): Promise<Lab> {
  const missing = missingPackages();
  if (missing.length) {
    throw new Error(`e2e PXE test: missing ${missing.join(", ")}. Install them with scripts/pxe-deps.sh (as root).`);
  }
  const work = mkdtempSync(join(tmpdir(), "vq-e2e-pxe-"));
  workDir = work;
  const image = buildPxeImage();
  builtBinary();
  const bin = join(work, "vaquero");
  cpSync(join(ROOT, "dist/vaquero"), bin);
  writeSot(join(work, "sot"), image.dir);
  mkdirSync(join(work, "vms"));
  createNetwork();
  return { work, image, ...(await startAgent(work, bin)) };
}

/** `GET /status/machines/<mac>` from inside the namespace. */
const readTrace = (mac: string): Trace | string => readTraceIn(NS, AGENT, mac);

/** Serial-console lines after which the boot cannot succeed any more (nothing else ends a VM early). */
const FIRMWARE_GAVE_UP = [
  // OVMF: PXE over IPv4 failed (it goes on with IPv6 and HTTP boot, which this test does not serve).
  /BdsDxe: failed to load Boot\d+ "UEFI PXEv4[^\n]*/,
  // iPXE (on the serial console through SeaBIOS's sercon, or ipxe.efi's own console): autoboot gave up.
  /No more network devices[^\n]*/,
  /Kernel panic - not syncing[^\n]*/,
];

/** Boots one VM, waits for it to report (or for its bound), and returns its trace with everything a failure needs. */
async function boot(fw: Firmware): Promise<{ trace: Trace | string; exit: VmExit; diagnostics: string }> {
  const l = await lab;
  if (!l) throw new Error("no lab");
  const m = MACHINES[fw];
  const vm = startVm({
    ns: NS,
    name: `vq-pxe-${id}-${fw}`,
    tap: tapOf(fw),
    mac: m.mac,
    firmware: fw,
    dir: join(l.work, "vms"),
    timeoutMs: VM_TIMEOUT_MS,
  });
  vms.push(vm);
  let done: VmExit | undefined;
  void vm.exited.then((e) => {
    done = e;
  });
  let gaveUp: string | undefined;
  // Until the VM powers off (the initramfs does so right after its report) or reaches its bound: once the report
  // is in, the VM gets a little longer to power off; once the firmware has given up, waiting longer proves nothing.
  while (!done) {
    await Promise.race([vm.exited, Bun.sleep(1000)]);
    if (done) break;
    const t = readTrace(m.mac);
    if (typeof t !== "string" && t.events.some((e) => kind(e) === "state:booted")) {
      await Promise.race([vm.exited, Bun.sleep(15_000)]);
      break;
    }
    const serial = vm.serialTail(300);
    gaveUp = FIRMWARE_GAVE_UP.map((re) => re.exec(serial)?.[0]).find(Boolean);
    if (gaveUp) break;
  }
  const exit = await vm.stop();
  const trace = readTrace(m.mac);
  const agentTail = agentLog().trim().split("\n").slice(-25).join("\n");
  const diagnostics = [
    `VM ${fw} (${m.mac}): exit code ${exit.code}${exit.timedOut ? `, killed after ${VM_TIMEOUT_MS / 1000} s` : ""}, ${Math.round(exit.ms / 1000)} s`,
    gaveUp ? `stopped early: the firmware gave up ("${gaveUp.trim()}")` : "",
    exit.stderr ? `qemu stderr: ${exit.stderr}` : "",
    `trace: ${typeof trace === "string" ? trace : trace.events.map((e) => `${kind(e)} ${JSON.stringify(e.detail)}`).join("\n  ")}`,
    `--- serial console (${vm.serialLog}), last lines:\n${vm.serialTail(40)}`,
    `--- firmware debug port (${vm.debugLog}), last lines:\n${vm.debugTail(15)}`,
    `--- vaquero standalone log, last lines:\n${agentTail}`,
  ]
    .filter(Boolean)
    .join("\n");
  return { trace, exit, diagnostics };
}

/** Fails with the whole story of the boot when a check does not hold. */
function check(ok: boolean, what: string, diagnostics: string): void {
  if (!ok) throw new Error(`${what}\n${diagnostics}`);
}

const why = netnsUnavailable();
describe.skipIf(why !== undefined)(`real PXE firmware network-boots from vaquero standalone${why ? ` (skipped: ${why})` : ""}`, () => {
  afterAll(async () => {
    for (const vm of vms) await vm.stop();
    if (agentProc) {
      agentProc.kill("SIGTERM");
      const timer = setTimeout(() => agentProc?.kill("SIGKILL"), 5000);
      await agentProc.exited;
      clearTimeout(timer);
    }
    removeNetwork();
    if (!workDir) return;
    if (passed === vms.length) rmSync(workDir, { recursive: true, force: true });
    else {
      // Keep the serial, firmware and agent logs of a failed boot for a closer look; drop the rest (the binary is ~110 MB).
      for (const f of ["vaquero", "sot", "data"]) rmSync(join(workDir, f), { recursive: true, force: true });
      writeFileSync(join(workDir, "vaquero.log"), agentLog());
      console.error(`e2e PXE: a boot failed; VM serial and firmware logs and the agent's log are kept in ${workDir}`);
    }
  }, 30_000);

  test(
    "SeaBIOS + the iPXE ROM: DHCP straight to the HTTP script, kernel and initramfs from /assets, the initramfs's lease is the reservation, it reports booted",
    async () => {
      lab ??= setUp();
      const { trace, diagnostics } = await boot("bios");
      const m = MACHINES.bios;
      check(typeof trace !== "string", "the agent did not answer /status/machines", diagnostics);
      const t = trace as Trace;
      const steps = inOrder(t.events, [
        ["dhcp:offer", (e) => e.detail.ip === m.ipv4 && e.detail.file === `${AGENT}/boot.ipxe`],
        ["dhcp:ack", (e) => e.detail.ip === m.ipv4 && e.detail.file === `${AGENT}/boot.ipxe`],
        ["http:boot.ipxe", (e) => e.detail.boot === "pxe-report"],
        ["dhcp:ack", (e) => e.detail.ip === m.ipv4],
        ["state:booted", any],
      ]);
      check(typeof steps !== "string", `boot trace incomplete: ${steps}`, diagnostics);
      const booted = (steps as TraceEvent[])[4] as TraceEvent;
      check(booted.detail.ip === m.ipv4, `the initramfs's udhcpc got ${booted.detail.ip}, not the reservation ${m.ipv4}`, diagnostics);
      expect(booted.detail).toMatchObject({ ip: m.ipv4, iface: "eth0" });
      expect(t.state).toBe("installing");
      passed++;
    },
    VM_TIMEOUT_MS + 120_000,
  );

  test(
    "OVMF: its own PXE fetches ipxe.efi over TFTP, iPXE comes back for the HTTP script, the initramfs's lease is the reservation, it reports booted",
    async () => {
      lab ??= setUp();
      const { trace, diagnostics } = await boot("uefi");
      const m = MACHINES.uefi;
      check(typeof trace !== "string", "the agent did not answer /status/machines", diagnostics);
      const t = trace as Trace;
      const steps = inOrder(t.events, [
        ["dhcp:offer", (e) => e.detail.ip === m.ipv4 && e.detail.file === "ipxe.efi"],
        ["dhcp:ack", (e) => e.detail.ip === m.ipv4 && e.detail.file === "ipxe.efi"],
        ["tftp:transfer-done", (e) => e.detail.file === "ipxe.efi"],
        ["dhcp:ack", (e) => e.detail.ip === m.ipv4 && e.detail.file === `${AGENT}/boot.ipxe`],
        ["http:boot.ipxe", (e) => e.detail.boot === "pxe-report"],
        ["dhcp:ack", (e) => e.detail.ip === m.ipv4],
        ["state:booted", any],
      ]);
      check(typeof steps !== "string", `boot trace incomplete: ${steps}`, diagnostics);
      const booted = (steps as TraceEvent[])[6] as TraceEvent;
      check(booted.detail.ip === m.ipv4, `the initramfs's udhcpc got ${booted.detail.ip}, not the reservation ${m.ipv4}`, diagnostics);
      expect(booted.detail).toMatchObject({ ip: m.ipv4, iface: "eth0" });
      expect(t.state).toBe("installing");
      passed++;
    },
    VM_TIMEOUT_MS + 120_000,
  );
});
