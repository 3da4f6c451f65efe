/** Builds in-memory SoT trees for tests: a map of path → text becomes a SourceTree. */
import type { SourceTree } from "../../pkg/sot/index.ts";

/** A plain-directory tree from `files` (path → text), sorted like the loaders sort. */
export function memTree(files: Record<string, string>, extra: Partial<SourceTree> = {}): SourceTree {
  const enc = new TextEncoder();
  return {
    kind: "dir",
    location: "mem",
    ...extra,
    files: Object.keys(files)
      .sort()
      .map((path) => {
        const data = enc.encode(files[path] ?? "");
        return { path, size: data.length, data };
      }),
  };
}

/** A minimal valid SoT: one site, one Flatcar os, one Ignition boot, one workflow, one host with a BMC. */
export function baseSot(): Record<string, string> {
  return {
    "os/flatcar.yml": [
      "id: flatcar",
      "family: flatcar",
      "version: 4081.2.0",
      "kernel: https://stable.release.flatcar-linux.net/amd64-usr/{{ boot.os.version }}/flatcar_production_pxe.vmlinuz",
      "initrd:",
      "  - flatcar/{{ boot.os.version }}/flatcar_production_pxe_image.cpio.gz",
      "cmdline:",
      '  flatcar.first_boot: "1"',
      '  ignition.config.url: "{{ boot.config_url }}"',
      '  console: ["ttyS0,115200n8", tty0]',
      '  flatcar.autologin: ""',
      "",
    ].join("\n"),
    "boot/install.yml": "id: install\nos: flatcar\nunattended: {type: ignition, use: node.yml}\ncmdline: {vaquero.stage: install}\n",
    "workflows/node.yml": "id: node\nstages: [install]\n",
    "assets/ignition/node.yml": [
      "ignition:",
      "  version: 3.3.0",
      "passwd:",
      "  users:",
      "    - name: core",
      '      sshAuthorizedKeys: ["{{ md.ssh_key }}"]',
      "storage:",
      "  files:",
      "    - path: /etc/hostname",
      "      mode: 420",
      '      contents: {source: "data:,{{ host.name }}"}',
      "",
    ].join("\n"),
    "sites/s1/env.yml": [
      "id: s1",
      "agent: {url: http://10.0.0.2:8080}",
      "subnets:",
      "  - {id: prov, cidr: 10.0.0.0/24, gateway: 10.0.0.1, dns: [10.0.0.1]}",
      'metadata: {ssh_key: "ssh-ed25519 AAAA ops@example.com"}',
      "",
    ].join("\n"),
    "sites/s1/cluster-a.yml": [
      "hosts:",
      "  - name: node-1",
      "    workflow: node",
      "    interfaces:",
      '      - {mac: "52-54-00-00-00-01", subnet: prov, ipv4: 10.0.0.11}',
      "      - {type: bmc, ipv4: 10.0.0.101, bmc: {protocol: ipmi, username: admin, password_ref: env:BMC_PW}}",
      "",
    ].join("\n"),
  };
}
