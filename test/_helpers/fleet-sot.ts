/**
 * A Source of Truth for a simulated fleet: one site whose hosts each have a boot interface and a BMC entry at
 * the loopback address and port of the machine's fake BMC (`password_ref: env:BMC_PW`), and one workflow of two Flatcar
 * stages (a live stage, then the install) under a given policy.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { FleetMachine } from "./fleet.ts";

/** `count` machines named `m0000…`, with locally administered MACs `02:00:00:00:xx:xx`. */
export function fleetMachines(count: number): FleetMachine[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `m${String(i).padStart(4, "0")}`,
    mac: ["02", "00", "00", "00", (i >>> 8).toString(16).padStart(2, "0"), (i & 255).toString(16).padStart(2, "0")].join(":"),
  }));
}

/** The workflow's policy, as SOT.md writes it. */
export interface FleetPolicy {
  max_concurrent: number;
  max_fail?: number;
  /** A duration (`90s`, `5m`). */
  stage_timeout?: string;
}

const OS = `id: flatcar
family: flatcar
version: 4081.2.0
release: stable
kernel: https://stable.release.flatcar-linux.net/amd64-usr/{{ boot.os.version }}/flatcar_production_pxe.vmlinuz
initrd:
  - https://stable.release.flatcar-linux.net/amd64-usr/{{ boot.os.version }}/flatcar_production_pxe_image.cpio.gz
cmdline:
  flatcar.first_boot: "1"
  ignition.config.url: "{{ boot.config_url }}"
`;
const IGNITION = `ignition:
  version: 3.3.0
storage:
  files:
    - path: /etc/hostname
      mode: 420
      overwrite: true
      contents:
        source: "data:,{{ host.name }}"
`;

/** Writes the SoT under `dir`; `bmcOf(mac)` gives each machine's BMC address and port, `agentUrl` the site's agent URL. */
export function writeFleetSot(
  dir: string,
  machines: readonly FleetMachine[],
  bmcOf: (mac: string) => { address: string; port: number },
  policy: FleetPolicy,
  agentUrl = "http://127.0.0.1:8080",
): void {
  const files = new Map<string, string>();
  files.set("os/flatcar.yml", OS);
  files.set("assets/ignition/node.yml", IGNITION);
  for (const id of ["flatcar-live", "flatcar-install"]) {
    files.set(`boot/${id}.yml`, `id: ${id}\nos: flatcar\nunattended:\n  type: ignition\n  use: node.yml\n`);
  }
  const p = [`max_concurrent: ${policy.max_concurrent}`, `max_fail: ${policy.max_fail ?? 0}`];
  if (policy.stage_timeout) p.push(`stage_timeout: ${policy.stage_timeout}`);
  files.set("workflows/node.yml", `id: node\nstages:\n  - flatcar-live\n  - flatcar-install\npolicy: {${p.join(", ")}}\n`);
  files.set(
    "sites/sim/env.yml",
    `id: sim
agent:
  url: ${agentUrl}
  dhcp: proxy
subnets:
  - id: prov
    cidr: 10.0.0.0/8
    gateway: 10.0.0.1
    dns: [10.0.0.1]
    ntp: [10.0.0.1]
  - id: bmc
    cidr: 127.0.0.0/8
    gateway: 127.0.0.1
    dns: [127.0.0.1]
    ntp: [127.0.0.1]
`,
  );
  const hosts = machines.map(
    (m, i) => `  - name: ${m.name}
    workflow: node
    interfaces:
      - {mac: "${m.mac}", subnet: prov, ipv4: 10.${1 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}}
      - {type: bmc, subnet: bmc, ipv4: ${bmcOf(m.mac).address}, port: ${bmcOf(m.mac).port}, bmc: {protocol: ipmi, username: admin, password_ref: "env:BMC_PW"}}
`,
  );
  files.set("sites/sim/cluster-hosts.yml", `hosts:\n${hosts.join("")}`);
  for (const [rel, text] of files) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}
