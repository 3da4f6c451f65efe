/**
 * What the end-to-end network-boot tests share: a shell runner, the packages they need, namespace clean-up, the
 * SoT they serve (a Debian kernel and an initramfs that reports `booted`), and reading a machine's boot trace.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pxeImageToolsMissing } from "./pxe-image.ts";
import { qemuMissing } from "./qemu.ts";

/** Where Debian's ipxe package puts the boot programs. */
export const IPXE_DIR = "/usr/lib/ipxe";

/** Runs a command to completion (bounded); never throws. */
export function sh(cmd: string[], timeoutMs = 20_000): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  return { code: r.exitCode ?? 1, out: r.stdout.toString(), err: r.stderr.toString().trim() };
}

/** Everything the e2e tests need that is not installed, with the Debian package to install. */
export function missingPackages(): string[] {
  const out = [...qemuMissing(), ...pxeImageToolsMissing()];
  for (const f of ["ipxe.efi", "undionly.kpxe"]) if (!Bun.file(join(IPXE_DIR, f)).size) out.push(`${IPXE_DIR}/${f} (Debian package ipxe)`);
  if (Bun.which("curl") === null) out.push("curl (Debian package curl)");
  return out;
}

/** Kills whatever still runs in the namespaces (by PID, from `ip netns pids`), then deletes them with their links. */
export function removeNamespaces(names: string[]): void {
  for (const ns of names) {
    const pids = sh(["ip", "netns", "pids", ns]).out.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    sh(["ip", "netns", "del", ns]);
  }
}

/** The lab network of {@link createBridgeLab}. */
export interface BridgeLabOptions {
  /** The agent's namespace, holding the bridge. */
  ns: string;
  bridge: string;
  /** The agent's address on the bridge (/24). */
  agentIp: string;
  /** A second namespace at the far end of a veth port of the bridge. */
  peerNs: string;
  /** Name stem of that veth pair: `<veth>a` is the bridge port, `<veth>b` sits in `peerNs`. */
  veth: string;
  /** An address (/24) for `<veth>b`, for a server there (dnsmasq); none keeps it a mere carrier. */
  peerIp?: string;
  /** One tap per VM, ports of the bridge. */
  taps: string[];
}

/**
 * A bridge in a namespace with the agent's address, one tap per VM, and a veth port into a second namespace: no
 * uplink, no NAT. The veth also keeps the bridge's carrier up (a bridge has carrier only while a port has, and
 * Node's networkInterfaces(), which `--dhcp-iface` reads, omits an interface without it; the taps get carrier
 * only once QEMU opens them). Its peer is not in the agent's namespace, where the DHCP socket bound to 0.0.0.0
 * would see each packet twice. Removes leftovers of an earlier run first; throws with `ip`'s message.
 */
export function createBridgeLab(o: BridgeLabOptions): void {
  removeNamespaces([o.ns, o.peerNs]);
  const { ns, bridge, peerNs, veth } = o;
  const steps: string[][] = [
    ["netns", "add", ns],
    ["netns", "add", peerNs],
    ["-n", ns, "link", "set", "lo", "up"],
    ["-n", peerNs, "link", "set", "lo", "up"],
    ["-n", ns, "link", "add", bridge, "type", "bridge"],
    ["-n", ns, "addr", "add", `${o.agentIp}/24`, "dev", bridge],
    ["-n", ns, "link", "add", `${veth}a`, "type", "veth", "peer", "name", `${veth}b`],
    ["-n", ns, "link", "set", `${veth}b`, "netns", peerNs],
    ...(o.peerIp ? [["-n", peerNs, "addr", "add", `${o.peerIp}/24`, "dev", `${veth}b`]] : []),
    ["-n", peerNs, "link", "set", `${veth}b`, "up"],
    ["-n", ns, "link", "set", `${veth}a`, "master", bridge],
    ["-n", ns, "link", "set", `${veth}a`, "up"],
    ["-n", ns, "link", "set", bridge, "up"],
  ];
  for (const tap of o.taps) {
    steps.push(
      ["-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"],
      ["-n", ns, "link", "set", tap, "master", bridge],
      ["-n", ns, "link", "set", tap, "up"],
    );
  }
  for (const st of steps) {
    const r = sh(["ip", ...st]);
    if (r.code !== 0) throw new Error(`ip ${st.join(" ")}: ${r.err}`);
  }
}

/** A VM of the test as a host of the SoT. */
export interface LabMachine {
  host: string;
  mac: string;
  ipv4: string;
}

/** Options of {@link writeReportSot}. */
export interface ReportSotOptions {
  /** The agent's URL as the SoT gives it. */
  agentUrl: string;
  /** The site's DHCP mode. */
  dhcp: "server" | "proxy";
  /** Folder holding vmlinuz and initrd.img (the site's asset directory). */
  assets: string;
  /** Extra lines of the `prov` subnet (gateway, dns, pool …), each indented by four spaces. */
  subnet: string[];
  machines: LabMachine[];
}

/** Writes the SoT of the e2e tests: one site `s1`, subnet 10.0.0.0/24, one host per VM booting the report image. */
export function writeReportSot(dir: string, o: ReportSotOptions): void {
  const files: Record<string, string> = {
    "os/pxe-report.yml": [
      "id: pxe-report",
      "name: Debian cloud kernel and a busybox initramfs that reports booted",
      "family: debian",
      'version: "12"',
      "kernel: vmlinuz",
      "initrd:",
      "  - initrd.img",
      "cmdline:",
      "  console: ttyS0",
      '  vaquero.report: "{{ env.agent.url }}/state"',
      "",
    ].join("\n"),
    "boot/pxe-report.yml": "id: pxe-report\nos: pxe-report\n",
    "workflows/report.yml": "id: report\nstages:\n  - pxe-report\n",
    "sites/s1/env.yml": [
      "id: s1",
      "agent:",
      `  url: ${o.agentUrl}`,
      `  dhcp: ${o.dhcp}`,
      `  assets: {dir: ${JSON.stringify(o.assets)}}`,
      "subnets:",
      "  - id: prov",
      "    cidr: 10.0.0.0/24",
      ...o.subnet,
      "",
    ].join("\n"),
    "sites/s1/cluster-vms.yml": [
      "hosts:",
      ...o.machines.flatMap((m) => [
        `  - name: ${m.host}`,
        "    workflow: report",
        "    interfaces:",
        `      - mac: "${m.mac}"`,
        "        subnet: prov",
        `        ipv4: ${m.ipv4}`,
      ]),
      "",
    ].join("\n"),
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** One event of a machine's boot trace, as `/status/machines/<mac>` returns it. */
export interface TraceEvent {
  at: string;
  source: string;
  type: string;
  detail: Record<string, unknown>;
}

/** A machine's state and boot trace. */
export interface Trace {
  state: string;
  events: TraceEvent[];
}

/** `GET <agent>/status/machines/<mac>` from inside a namespace; a string says what went wrong. */
export function readTrace(ns: string, agentUrl: string, mac: string): Trace | string {
  const r = sh(["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "5", `${agentUrl}/status/machines/${mac}`]);
  if (r.code !== 0) return `curl exit ${r.code}: ${r.err}`;
  try {
    return JSON.parse(r.out) as Trace;
  } catch {
    return `not JSON: ${r.out.slice(0, 500)}`;
  }
}

/** `source:type` of an event. */
export const kind = (e: TraceEvent): string => `${e.source}:${e.type}`;

/** Any event matches. */
export const any = (): boolean => true;

/**
 * Finds `want` in order (not necessarily adjacent) in the trace; each step may also test the event. Returns the
 * matched events, or the first step not found.
 */
export function inOrder(events: TraceEvent[], want: [string, (e: TraceEvent) => boolean][]): TraceEvent[] | string {
  const found: TraceEvent[] = [];
  let i = 0;
  for (const [k, ok] of want) {
    while (i < events.length && !(kind(events[i] as TraceEvent) === k && ok(events[i] as TraceEvent))) i++;
    if (i === events.length) return `no ${k} matching ${ok.toString()} after ${found.map(kind).join(", ") || "the start"}`;
    found.push(events[i] as TraceEvent);
    i++;
  }
  return found;
}

/** A process started in a namespace by {@link startInNamespace}. */
export type NsProc = Bun.Subprocess<"ignore", "pipe", "pipe">;

/** Starts `cmd` in `ns`, keeps the last 400 kB of its stderr (and stdout) in `sink`, and waits for `ready` there. */
export async function startInNamespace(
  ns: string,
  cmd: string[],
  cwd: string,
  sink: (log: string) => void,
  ready: string,
  what: string,
): Promise<NsProc> {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  let log = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>): Promise<void> => {
    for await (const chunk of s) {
      log = (log + decoder.decode(chunk, { stream: true })).slice(-400_000);
      sink(log);
    }
  };
  void pump(proc.stderr);
  void pump(proc.stdout);
  const deadline = Date.now() + 20_000;
  while (!log.includes(ready)) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}): ${log}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${what} did not log ${ready} within 20 s: ${log}`);
    }
    await Bun.sleep(100);
  }
  return proc;
}

/** The command line of the lab's agent: the compiled standalone serving DHCP on `bridge`, HTTP and TFTP on `agentIp`. */
export function labAgentArgs(bin: string, bridge: string, agentIp: string): string[] {
  return [bin, "standalone", "--sot", "sot", "--data-dir", "data", "--dhcp-iface", bridge, "--http-addr", `${agentIp}:8080`].concat([
    "--tftp-addr",
    `${agentIp}:69`,
    "--ipxe-dir",
    IPXE_DIR,
    "--log-level",
    "debug",
  ]);
}
