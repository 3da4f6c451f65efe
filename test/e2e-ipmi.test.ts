/**
 * A machine provisioned from power-off, end to end, by the compiled `vaquero standalone`: OpenIPMI's ipmi_sim is
 * the machine's BMC, and its chassis control starts and kills a QEMU VM (SeaBIOS + the iPXE ROM) on a tap of the
 * agent's bridge. An operator starts a rollout (`POST /execute`); the state engine's IPMI client sets the boot
 * device to PXE and powers the machine on; the VM network-boots stage 1 (`wipe`), whose initramfs reports
 * `booted` and `stage-done` and powers off; the engine sets PXE, reads the power state and powers it on (or, if
 * the VM has not finished powering off yet, cycles it); the VM boots stage 2 (`install`), which reports `booted`
 * and `installed`. `/status` then shows the host
 * `provisioned`, the rollout done, and the whole trace: DHCP, HTTP, the OS's reports and every BMC operation.
 *
 * Needs root (skipped otherwise), ipmi_sim and the packages of scripts/pxe-deps.sh (fails, naming them).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { type IpmiSim, ipmiSimUnavailable, startIpmiSim } from "./_helpers/ipmi-sim.ts";
import { netnsUnavailable } from "./_helpers/netns.ts";
import { buildPxeImage } from "./_helpers/pxe-image.ts";
import {
  createBridgeLab,
  IPXE_DIR,
  inOrder,
  kind,
  missingPackages,
  readTrace,
  removeNamespaces,
  sh,
  type Trace,
} from "./_helpers/pxe-lab.ts";
import { qemuArgs } from "./_helpers/qemu.ts";

const ROOT = resolve(import.meta.dir, "..");
const AGENT_IP = "10.0.0.2";
const AGENT = `http://${AGENT_IP}:8080`;
const MAC = "52:54:00:9e:10:01";
const IP = "10.0.0.21";
const id = String(process.pid).slice(-7);
const NS = `vq-bmc-${id}`;
const SINK = `${NS}-k`;
const BRIDGE = `vqbbr${id}`;
const TAP = `vqbt${id}`;
/** Two boots under TCG (23–36 s each) plus the engine's steps. */
const DEADLINE_MS = 300_000;

/** The SoT: one host with a BMC, a two-stage workflow whose stages report different events. */
function writeSot(dir: string, assets: string, bmcPort: number): void {
  const files: Record<string, string> = {
    "os/pxe-report.yml": [
      "id: pxe-report",
      "family: debian",
      'version: "12"',
      "kernel: vmlinuz",
      "initrd: [initrd.img]",
      "cmdline:",
      "  console: ttyS0",
      '  vaquero.report: "{{ env.agent.url }}/state"',
      "",
    ].join("\n"),
    "boot/wipe.yml": 'id: wipe\nos: pxe-report\ncmdline:\n  vaquero.events: "booted,stage-done"\n',
    "boot/install.yml": 'id: install\nos: pxe-report\ncmdline:\n  vaquero.events: "booted,installed"\n',
    "workflows/two.yml": "id: two\nstages: [wipe, install]\npolicy: {stage_timeout: 10m}\n",
    "sites/s1/env.yml": [
      "id: s1",
      "agent:",
      `  url: ${AGENT}`,
      "  dhcp: server",
      `  assets: {dir: ${JSON.stringify(assets)}}`,
      "subnets:",
      "  - {id: prov, cidr: 10.0.0.0/24, gateway: 10.0.0.1}",
      "",
    ].join("\n"),
    "sites/s1/cluster-vm.yml": [
      "hosts:",
      "  - name: vm1",
      "    workflow: two",
      "    interfaces:",
      `      - {mac: "${MAC}", subnet: prov, ipv4: ${IP}}`,
      `      - {type: bmc, ipv4: 127.0.0.1, port: ${bmcPort}, bmc: {protocol: ipmi, username: admin, password_ref: env:BMC_PW}}`,
      "",
    ].join("\n"),
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

let work: string | undefined;
let sim: IpmiSim | undefined;
let agent: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
let agentLog = "";
let ok = false;

const why = netnsUnavailable() ?? ipmiSimUnavailable();
describe.skipIf(why !== undefined)(
  `a rollout powers a machine through its BMC and provisions it in two stages${why ? ` (skipped: ${why})` : ""}`,
  () => {
    afterAll(async () => {
      agent?.kill("SIGKILL");
      await agent?.exited;
      await sim?.stop();
      removeNamespaces([NS, SINK]);
      if (!work) return;
      if (ok) rmSync(work, { recursive: true, force: true });
      else {
        for (const f of ["vaquero", "sot"]) rmSync(join(work, f), { recursive: true, force: true });
        writeFileSync(join(work, "vaquero.log"), agentLog);
        console.error(`e2e IPMI: failed; the VM's serial log, the BMC's calls and the agent's log are kept in ${work}`);
      }
    }, 30_000);

    test(
      "POST /execute → PXE + power on over IPMI → stage 1 → power on again → stage 2 → provisioned, with the whole trace",
      async () => {
        const missing = missingPackages();
        if (missing.length)
          throw new Error(`e2e IPMI test: missing ${missing.join(", ")}. Install them with scripts/pxe-deps.sh (as root).`);
        work = mkdtempSync(join(tmpdir(), "vq-e2e-ipmi-"));
        const w = work;
        const image = buildPxeImage();
        builtBinary();
        cpSync(join(ROOT, "dist/vaquero"), join(w, "vaquero"));
        createBridgeLab({ ns: NS, bridge: BRIDGE, agentIp: AGENT_IP, peerNs: SINK, veth: `vqbk${id}`, taps: [TAP] });

        // The BMC, in the agent's namespace: power on starts the VM (bounded by coreutils timeout), off kills it.
        const vmDir = join(w, "vm");
        mkdirSync(vmDir);
        const files = {
          serialLog: join(vmDir, "serial.log"),
          debugLog: join(vmDir, "debug.log"),
          pidFile: join(vmDir, "qemu.pid"),
          varsFile: join(vmDir, "vars.fd"),
          serconFile: join(vmDir, "sercon"),
        };
        writeFileSync(files.serconFile, Uint8Array.of(0xf8, 0x03));
        const qemu = qemuArgs({ ns: NS, name: `vq-bmc-${id}`, tap: TAP, mac: MAC, firmware: "bios", dir: vmDir }, files);
        // Each boot appends to the serial log, so a failure shows both stages.
        const start = `timeout 200 ${qemu.map((a) => (a.startsWith("file:") ? `file:${files.serialLog}.$(date +%s)` : a)).join(" ")}`;
        sim = await startIpmiSim(join(w, "bmc"), {
          wrap: ["ip", "netns", "exec", NS],
          ready: async (port) =>
            sh(
              [
                "ip",
                "netns",
                "exec",
                NS,
                "ipmitool",
                "-I",
                "lanplus",
                "-C",
                "3",
                "-H",
                "127.0.0.1",
                "-p",
                String(port),
                "-U",
                "admin",
                "-P",
                "password",
                "mc",
                "info",
              ],
              10_000,
            ).code === 0,
          vm: { start, pidFile: files.pidFile },
        });
        writeSot(join(w, "sot"), image.dir, sim.port);

        agent = Bun.spawn(
          [
            "ip",
            "netns",
            "exec",
            NS,
            join(w, "vaquero"),
            "standalone",
            "--sot",
            "sot",
            "--data-dir",
            "data",
            "--dhcp-iface",
            BRIDGE,
          ].concat(["--http-addr", `${AGENT_IP}:8080`, "--tftp-addr", `${AGENT_IP}:69`, "--ipxe-dir", IPXE_DIR]),
          { cwd: w, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", BMC_PW: "password" } },
        );
        const a = agent;
        void (async () => {
          const d = new TextDecoder();
          for await (const chunk of a.stderr) agentLog = (agentLog + d.decode(chunk)).slice(-400_000);
        })();
        for (let i = 0; i < 200 && !agentLog.includes('"serving DHCP"'); i++) {
          if (a.exitCode !== null) throw new Error(`standalone exited: ${agentLog}`);
          await Bun.sleep(100);
        }
        expect(agentLog).toContain('"serving DHCP"');

        const token = readFileSync(join(w, "data", "admin.token"), "utf8").trim();
        const exec = sh(
          [
            "ip",
            "netns",
            "exec",
            NS,
            "curl",
            "-s",
            "-X",
            "POST",
            "-H",
            `authorization: Bearer ${token}`,
            "-H",
            "content-type: application/json",
          ].concat(["--data", JSON.stringify({ site: "s1", hosts: ["vm1"] }), `${AGENT}/execute`]),
        );
        const rollout = (JSON.parse(exec.out) as { rollout?: { id: string } }).rollout ?? (JSON.parse(exec.out) as { id: string });
        expect(rollout.id).toBeString();

        const deadline = Date.now() + DEADLINE_MS;
        let t: Trace | string = "";
        while (Date.now() < deadline) {
          t = readTrace(NS, AGENT, MAC);
          if (typeof t !== "string" && (t.state === "provisioned" || t.state === "failed")) break;
          await Bun.sleep(2000);
        }
        const serial = sh(["sh", "-c", `tail -n 30 ${files.serialLog}.*`]).out;
        const story = `trace: ${typeof t === "string" ? t : t.events.map((e) => `${kind(e)} ${JSON.stringify(e.detail)}`).join("\n  ")}\nBMC calls:\n${sim.calls().join("\n")}\nserial:\n${serial}\nagent:\n${agentLog.split("\n").slice(-20).join("\n")}`;
        if (typeof t === "string" || t.state !== "provisioned") throw new Error(`not provisioned\n${story}`);
        const steps = inOrder(t.events, [
          ["engine:rollout-start", () => true],
          ["lifecycle:bootdev", (e) => e.detail.device === "pxe"],
          ["lifecycle:power", (e) => e.detail.action === "on"],
          ["dhcp:ack", (e) => e.detail.ip === IP],
          ["http:boot.ipxe", (e) => e.detail.boot === "wipe"],
          ["state:booted", () => true],
          ["state:stage-done", () => true],
          ["lifecycle:bootdev", (e) => e.detail.device === "pxe"],
          // The initramfs powers off right after its report: the engine finds the VM off (power on) or still on
          // (cycle); either way the VM is powered into stage 2 exactly once.
          ["lifecycle:power", (e) => e.detail.action === "on" || e.detail.action === "cycle"],
          ["http:boot.ipxe", (e) => e.detail.boot === "install"],
          ["state:booted", () => true],
          ["state:installed", () => true],
        ]);
        if (typeof steps === "string") throw new Error(`trace incomplete: ${steps}\n${story}`);
        // The BMC powered the VM on exactly twice: once per stage.
        const calls = sim.calls();
        expect(calls.filter((c) => c === "set power 1").length).toBe(2);
        expect(calls.some((c) => c.startsWith("set boot pxe"))).toBe(true);
        const status = JSON.parse(sh(["ip", "netns", "exec", NS, "curl", "-s", `${AGENT}/status`]).out) as {
          machines: { by_state: Record<string, number> };
        };
        expect(status.machines.by_state.provisioned).toBe(1);
        ok = true;
      },
      DEADLINE_MS + 180_000,
    );
  },
);
