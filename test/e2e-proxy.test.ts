/**
 * End to end in proxy mode, with real firmware beside another DHCP server: dnsmasq hands out addresses only (a
 * range, no boot options, no DNS, not authoritative) and `vaquero standalone` with the site's `agent.dhcp: proxy`
 * answers PXE clients with a boot program and no address (ports 67 and 4011). QEMU VMs on taps of a bridge in a
 * network namespace then network-boot:
 *
 * - SeaBIOS + the iPXE ROM: iPXE takes dnsmasq's address and Vaquero's proxy offer (`http://10.0.0.2:8080/boot.ipxe`);
 * - OVMF: its own PXE takes dnsmasq's address and `ipxe.efi` from Vaquero's proxy offer, fetches it over TFTP,
 *   and that iPXE comes back for the HTTP script.
 *
 * Neither needs the port-4011 exchange when the proxy offer is complete: iPXE uses a proxy offer as it is when it
 * holds a next-server (siaddr) and a file (or a PXE menu), and otherwise sends a ProxyDHCP REQUEST to port 4011 and
 * takes only an answer that has them (`dhcp_has_pxeopts` in iPXE's src/net/udp/dhcp.c); OVMF uses the offer's file
 * with PXE discovery control 8 (option 43). So the test asserts the offers and not how many ACKs came.
 *
 * Each boots Debian's cloud kernel and a busybox initramfs (test/_helpers/pxe-image.ts) whose udhcpc takes a
 * lease (from dnsmasq: Vaquero ignores a client that is not PXE) and posts `mac=<mac>&event=booted&ip=<lease>`.
 *
 * The address is dnsmasq's: the hosts of the SoT still name one (10.0.0.11/12, outside dnsmasq's range), and the
 * test asserts that the firmware and the initramfs got an address of dnsmasq's range, the one dnsmasq's log
 * shows it acknowledged for that MAC, never the reservation, and that no DHCP event of Vaquero carries an address.
 *
 * dnsmasq sits in a namespace of its own, joined to the bridge by a veth pair (a second box on the segment): on
 * the bridge itself, beside the agent's 10.0.0.2, dnsmasq takes the interface's primary address as its server
 * identifier (measured: with 10.0.0.2 then 10.0.0.1 on one bridge, udhcpc saw `serverid=10.0.0.2` from dnsmasq),
 * and two servers with one identifier make the proxy offer indistinguishable from the address offer. The veth
 * port also keeps the bridge's carrier up (see test/e2e-pxe.test.ts).
 *
 * Needs root (skipped otherwise), the packages of scripts/pxe-deps.sh and dnsmasq (Debian `dnsmasq-base`: the
 * `dnsmasq` package also starts a system service); fails, naming them, when one is missing. With
 * VAQUERO_E2E_PCAP=1 it also runs tcpdump on the bridge; the capture is kept with the logs of a failed boot.
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
  type NsProc,
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
const DNSMASQ_IP = "10.0.0.1";
/** dnsmasq's range: the reservations of the SoT lie outside it. */
const RANGE = { start: 100, end: 150 };
/** Bound on one VM's life: firmware, iPXE, kernel, initramfs and its report. */
const VM_TIMEOUT_MS = 120_000;

/** One VM per firmware, each a host of the site with a fixed MAC and an address the SoT names (unused in proxy mode). */
const MACHINES: Record<Firmware, { host: string; mac: string; ipv4: string }> = {
  bios: { host: "proxy-bios", mac: "52:54:00:9f:00:01", ipv4: "10.0.0.11" },
  uefi: { host: "proxy-uefi", mac: "52:54:00:9f:00:02", ipv4: "10.0.0.12" },
};

const id = String(process.pid).slice(-7);
const NS = `vq-prx-${id}`;
/** dnsmasq's namespace. */
const DNS_NS = `${NS}-d`;
const BRIDGE = `vqxbr${id}`;
/** The veth pair to dnsmasq: `${DVETH}a` is a port of the bridge, `${DVETH}b` holds 10.0.0.1 in DNS_NS. */
const DVETH = `vqxd${id}`;
const tapOf = (fw: Firmware): string => `vqxt${id}${fw === "bios" ? "b" : "u"}`;

let lab: Promise<PxeImage> | undefined;
let agentProc: NsProc | undefined;
let dnsmasqProc: NsProc | undefined;
/** tcpdump on the bridge, when VAQUERO_E2E_PCAP is set (the capture is kept with the logs of a failed boot). */
let captureProc: NsProc | undefined;
let workDir: string | undefined;
const vms: Vm[] = [];
let passed = 0;
let agentLog = "";
let dnsmasqLog = "";

/** Everything the test needs that is not here, with the Debian package to install. */
function missingForProxy(): string[] {
  const out = missingPackages();
  if (Bun.which("dnsmasq", { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }) === null) out.push("dnsmasq (Debian package dnsmasq-base)");
  return out;
}

/** The agent's namespace (bridge with 10.0.0.2, one tap per VM) and dnsmasq's (10.0.0.1 on a veth into the bridge). */
function createNetwork(): void {
  createBridgeLab({
    ns: NS,
    bridge: BRIDGE,
    agentIp: AGENT_IP,
    peerNs: DNS_NS,
    veth: DVETH,
    peerIp: DNSMASQ_IP,
    taps: [tapOf("bios"), tapOf("uefi")],
  });
}

/** Kills whatever still runs in the namespaces (by PID, from `ip netns pids`), then deletes them with their links. */
function removeNetwork(): void {
  removeNamespaces([NS, DNS_NS]);
}

/** The SoT: the shape of test/e2e-pxe.test.ts's, with `dhcp: proxy` and no pool. */
function writeSot(dir: string, assets: string): void {
  writeReportSot(dir, {
    agentUrl: AGENT,
    dhcp: "proxy",
    assets,
    subnet: [`    gateway: ${DNSMASQ_IP}`],
    machines: Object.values(MACHINES),
  });
}

async function setUp(): Promise<PxeImage> {
  const missing = missingForProxy();
  if (missing.length) {
    throw new Error(
      `e2e proxy test: missing ${missing.join(", ")}. Install them with scripts/pxe-deps.sh and \`apt-get install -y dnsmasq-base\` (as root).`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), "vq-e2e-proxy-"));
  workDir = work;
  const image = buildPxeImage();
  builtBinary();
  const bin = join(work, "vaquero");
  cpSync(join(ROOT, "dist/vaquero"), bin);
  writeSot(join(work, "sot"), image.dir);
  mkdirSync(join(work, "vms"));
  createNetwork();
  if (process.env.VAQUERO_E2E_PCAP) {
    captureProc = await startInNamespace(
      NS,
      ["tcpdump", "-i", BRIDGE, "-n", "-U", "-s", "0", "-w", join(work, "bridge.pcap"), "udp or arp"],
      work,
      () => {},
      "listening on",
      "tcpdump",
    );
  }
  dnsmasqProc = await startInNamespace(
    DNS_NS,
    [
      "dnsmasq",
      "--no-daemon",
      "--conf-file=/dev/null",
      "--pid-file=",
      "--port=0",
      `--interface=${DVETH}b`,
      "--bind-interfaces",
      `--dhcp-range=10.0.0.${RANGE.start},10.0.0.${RANGE.end},255.255.255.0,10m`,
      `--dhcp-leasefile=${join(work, "dnsmasq.leases")}`,
      "--log-dhcp",
      "--log-facility=-",
    ],
    work,
    (l) => {
      dnsmasqLog = l;
    },
    "DHCP, IP range",
    "dnsmasq",
  );
  agentProc = await startInNamespace(
    NS,
    labAgentArgs(bin, BRIDGE, AGENT_IP),
    work,
    (l) => {
      agentLog = l;
    },
    '"serving DHCP"',
    "vaquero standalone",
  );
  if (!agentLog.includes('"mode":"proxy"')) throw new Error(`vaquero standalone does not serve DHCP in proxy mode: ${agentLog}`);
  return image;
}

/** `GET /status/machines/<mac>` from inside the namespace. */
const readTrace = (mac: string): Trace | string => readTraceIn(NS, AGENT, mac);

/** True for an address of dnsmasq's range. */
function inRange(ip: unknown): boolean {
  const m = typeof ip === "string" ? /^10\.0\.0\.(\d+)$/.exec(ip) : null;
  const last = m ? Number(m[1]) : -1;
  return last >= RANGE.start && last <= RANGE.end;
}

/** The addresses dnsmasq acknowledged to `mac`, from its log (`DHCPACK(<if>) <ip> <mac>`). */
function dnsmasqAcks(mac: string): string[] {
  const re = /DHCPACK\(\S+\) (\d+\.\d+\.\d+\.\d+) ([0-9a-f:]{17})/g;
  return [...dnsmasqLog.matchAll(re)].filter((m) => m[2] === mac).map((m) => m[1] as string);
}

/** The agent's completed TFTP transfers (its `tftp: transfer done` log lines): file and peer address. */
function tftpDone(): { file: string; peer: string }[] {
  const out: { file: string; peer: string }[] = [];
  for (const line of agentLog.split("\n")) {
    if (!line.includes('"tftp: transfer done"')) continue;
    try {
      const j = JSON.parse(line) as { file?: unknown; peer?: unknown };
      if (typeof j.file === "string" && typeof j.peer === "string") out.push({ file: j.file, peer: j.peer.replace(/:\d+$/, "") });
    } catch {
      // a line cut by the 400 kB window
    }
  }
  return out;
}

/** Serial-console lines after which the boot cannot succeed any more. */
const FIRMWARE_GAVE_UP = [
  /BdsDxe: failed to load Boot\d+ "UEFI PXEv4[^\n]*/,
  /No more network devices[^\n]*/,
  /Kernel panic - not syncing[^\n]*/,
  /vaquero-pxe: FAILED[^\n]*/,
];

/** Boots one VM, waits for it to report (or for its bound), and returns its trace with everything a failure needs. */
async function boot(fw: Firmware): Promise<{ trace: Trace | string; exit: VmExit; serial: string; diagnostics: string }> {
  const image = await lab;
  if (!image || !workDir) throw new Error("no lab");
  const m = MACHINES[fw];
  const vm = startVm({
    ns: NS,
    name: `vq-prx-${id}-${fw}`,
    tap: tapOf(fw),
    mac: m.mac,
    firmware: fw,
    dir: join(workDir, "vms"),
    timeoutMs: VM_TIMEOUT_MS,
  });
  vms.push(vm);
  let done: VmExit | undefined;
  void vm.exited.then((e) => {
    done = e;
  });
  let gaveUp: string | undefined;
  // Bounded by the VM's own timeout: `done` is set at the latest VM_TIMEOUT_MS (+5 s to kill) after the start.
  while (!done) {
    await Promise.race([vm.exited, Bun.sleep(1000)]);
    if (done) break;
    const t = readTrace(m.mac);
    if (typeof t !== "string" && t.events.some((e) => kind(e) === "state:booted")) {
      await Promise.race([vm.exited, Bun.sleep(15_000)]);
      break;
    }
    gaveUp = FIRMWARE_GAVE_UP.map((re) => re.exec(vm.serialTail(300))?.[0]).find(Boolean);
    if (gaveUp) break;
  }
  const exit = await vm.stop();
  const trace = readTrace(m.mac);
  const serial = vm.serialTail(400);
  const diagnostics = [
    `VM ${fw} (${m.mac}): exit code ${exit.code}${exit.timedOut ? `, killed after ${VM_TIMEOUT_MS / 1000} s` : ""}, ${Math.round(exit.ms / 1000)} s`,
    gaveUp ? `stopped early: the boot gave up ("${gaveUp.trim()}")` : "",
    exit.stderr ? `qemu stderr: ${exit.stderr}` : "",
    `trace: ${typeof trace === "string" ? trace : trace.events.map((e) => `${kind(e)} ${JSON.stringify(e.detail)}`).join("\n  ")}`,
    `dnsmasq acknowledged to ${m.mac}: ${dnsmasqAcks(m.mac).join(", ") || "nothing"}`,
    `--- serial console (${vm.serialLog}), last lines:\n${vm.serialTail(40)}`,
    `--- firmware debug port (${vm.debugLog}), last lines:\n${vm.debugTail(15)}`,
    `--- dnsmasq log, last lines:\n${dnsmasqLog.trim().split("\n").slice(-25).join("\n")}`,
    `--- vaquero standalone log, last lines:\n${agentLog.trim().split("\n").slice(-25).join("\n")}`,
  ]
    .filter(Boolean)
    .join("\n");
  return { trace, exit, serial, diagnostics };
}

/** Fails with the whole story of the boot when a check does not hold. */
function check(ok: boolean, what: string, diagnostics: string): void {
  if (!ok) throw new Error(`${what}\n${diagnostics}`);
}

/** What both firmware paths end with: Vaquero gave no address, the initramfs booted on dnsmasq's lease. */
function checkAddresses(fw: Firmware, t: Trace, booted: TraceEvent, serial: string, diagnostics: string): void {
  const m = MACHINES[fw];
  const withIp = t.events.filter((e) => e.source === "dhcp" && e.detail.ip !== undefined);
  check(withIp.length === 0, `Vaquero handed out an address in proxy mode: ${JSON.stringify(withIp)}`, diagnostics);
  const proxyDhcp = t.events.filter((e) => e.source === "dhcp");
  check(
    proxyDhcp.every((e) => e.detail.reason === "proxy"),
    `a DHCP event of Vaquero is not a proxy answer: ${JSON.stringify(proxyDhcp)}`,
    diagnostics,
  );
  const ip = booted.detail.ip;
  check(ip !== m.ipv4, `the initramfs got the SoT's address ${m.ipv4}, which only Vaquero knows: not dnsmasq's`, diagnostics);
  check(inRange(ip), `the initramfs's lease ${String(ip)} is not in dnsmasq's range`, diagnostics);
  const acks = dnsmasqAcks(m.mac);
  check(acks.includes(ip as string), `dnsmasq never acknowledged ${String(ip)} to ${m.mac} (it did: ${acks.join(", ")})`, diagnostics);
  // The firmware's own address (iPXE prints `net0: <ip>/<mask> gw <gw>`) is dnsmasq's too.
  const firmwareIps = [...serial.matchAll(/net\d: (\d+\.\d+\.\d+\.\d+)\/[\d.]+ gw/g)].map((x) => x[1]);
  check(firmwareIps.length > 0, "iPXE printed no address (`net0: <ip>/<mask> gw …`) on the serial console", diagnostics);
  check(
    firmwareIps.every((a) => inRange(a) && acks.includes(a as string)),
    `iPXE configured ${firmwareIps.join(", ")}, not (all) acknowledged by dnsmasq (${acks.join(", ")})`,
    diagnostics,
  );
  expect(booted.detail).toMatchObject({ iface: "eth0" });
  expect(t.state).toBe("installing");
}

const isBootScript = (e: TraceEvent): boolean => e.detail.file === `${AGENT}/boot.ipxe` && e.detail.reason === "proxy";

const why = netnsUnavailable();
describe.skipIf(why !== undefined)(
  `real PXE firmware boots from vaquero standalone in proxy mode beside dnsmasq${why ? ` (skipped: ${why})` : ""}`,
  () => {
    afterAll(async () => {
      for (const vm of vms) await vm.stop();
      for (const p of [agentProc, dnsmasqProc, captureProc]) {
        if (!p) continue;
        p.kill("SIGTERM");
        const timer = setTimeout(() => p.kill("SIGKILL"), 5000);
        await p.exited;
        clearTimeout(timer);
      }
      removeNetwork();
      if (!workDir) return;
      if (passed === vms.length) rmSync(workDir, { recursive: true, force: true });
      else {
        for (const f of ["vaquero", "sot", "data"]) rmSync(join(workDir, f), { recursive: true, force: true });
        writeFileSync(join(workDir, "vaquero.log"), agentLog);
        writeFileSync(join(workDir, "dnsmasq.log"), dnsmasqLog);
        console.error(`e2e proxy: a boot failed; VM serial and firmware logs, dnsmasq's and the agent's logs are kept in ${workDir}`);
      }
    }, 30_000);

    test(
      "SeaBIOS + the iPXE ROM: address from dnsmasq, the HTTP script from Vaquero's proxy offer, kernel and initramfs, it reports booted",
      async () => {
        lab ??= setUp();
        const { trace, serial, diagnostics } = await boot("bios");
        check(typeof trace !== "string", "the agent did not answer /status/machines", diagnostics);
        const t = trace as Trace;
        const steps = inOrder(t.events, [
          ["dhcp:offer", isBootScript],
          ["http:boot.ipxe", (e) => e.detail.boot === "pxe-report"],
          ["state:booted", any],
        ]);
        check(typeof steps !== "string", `boot trace incomplete: ${steps}`, diagnostics);
        checkAddresses("bios", t, (steps as TraceEvent[])[2] as TraceEvent, serial, diagnostics);
        passed++;
      },
      VM_TIMEOUT_MS + 120_000,
    );

    test(
      "OVMF: address from dnsmasq, ipxe.efi from Vaquero's proxy offer over TFTP, then iPXE and the HTTP script, it reports booted",
      async () => {
        lab ??= setUp();
        const { trace, serial, diagnostics } = await boot("uefi");
        check(typeof trace !== "string", "the agent did not answer /status/machines", diagnostics);
        const t = trace as Trace;
        const isEfi = (e: TraceEvent): boolean => e.detail.file === "ipxe.efi" && e.detail.reason === "proxy";
        const steps = inOrder(t.events, [
          ["dhcp:offer", isEfi],
          ["dhcp:offer", isBootScript],
          ["http:boot.ipxe", (e) => e.detail.boot === "pxe-report"],
          ["state:booted", any],
        ]);
        check(typeof steps !== "string", `boot trace incomplete: ${steps}`, diagnostics);
        // The trace attributes a TFTP transfer to a machine by the SoT's address of its peer, which a machine in
        // proxy mode does not have: the transfer is read from the agent's log, by dnsmasq's address for the MAC.
        const acks = dnsmasqAcks(MACHINES.uefi.mac);
        const tftp = tftpDone().filter((x) => x.file === "ipxe.efi" && acks.includes(x.peer));
        check(
          tftp.length > 0,
          `no "tftp: transfer done" of ipxe.efi to ${acks.join(" or ") || "dnsmasq's address"} in the agent's log`,
          diagnostics,
        );
        checkAddresses("uefi", t, (steps as TraceEvent[])[3] as TraceEvent, serial, diagnostics);
        passed++;
      },
      VM_TIMEOUT_MS + 120_000,
    );
  },
);
