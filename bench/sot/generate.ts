/**
 * Writes a large, valid Source of Truth for benchmarks of `vaquero validate` and the compiler.
 *
 *   npx bun bench/sot/generate.ts --hosts 10000 --sites 10 --workflows 50 --out bench/out/sot
 *
 * Deterministic: the same arguments always write the same bytes. Hosts are spread evenly over the sites (one
 * /16 subnet per site, several cluster files per site), each with a BMC; workflows have one or two stages and
 * some wait for earlier ones (`after` always names a lower-numbered workflow, so the graph is a DAG). Only the
 * os, boots and assets that some workflow uses are written, so the SoT validates with no warnings either.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

type Options = Record<"hosts" | "sites" | "workflows", number> & { out: string };

const HOSTS_PER_FILE = 250;
/** Host slots of a /16 before the BMC half (10.x.1.0 onwards for machines, 10.x.128.0 onwards for BMCs). */
const MAX_HOSTS_PER_SITE = 32_000;
const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILCVaZ5EOoInY9lc0nRoMm/G6kApnw3mf62CmQAjXA/Y bench@example.com";

/** What a workflow runs, by `index % KINDS.length`; each kind names its stages. */
const KINDS = [["debian-install"], ["flatcar-install"], ["flatcar-live", "flatcar-install"], ["flatcar-beta-install"]] as const;
const BOOTS: Record<string, { os: string; type: "ignition" | "preseed"; use: string }> = {
  "debian-install": { os: "debian-12", type: "preseed", use: "debian.cfg" },
  "flatcar-install": { os: "flatcar-stable", type: "ignition", use: "flatcar-install.yml" },
  "flatcar-live": { os: "flatcar-stable", type: "ignition", use: "flatcar-live.yml" },
  "flatcar-beta-install": { os: "flatcar-beta", type: "ignition", use: "flatcar-install.yml" },
};
const flatcarOs = (id: string, channel: string, version: string): string => `id: ${id}
family: flatcar
version: ${version}
release: ${channel}
kernel: https://{{ boot.os.release }}.release.flatcar-linux.net/amd64-usr/{{ boot.os.version }}/flatcar_production_pxe.vmlinuz
initrd: ["https://{{ boot.os.release }}.release.flatcar-linux.net/amd64-usr/{{ boot.os.version }}/flatcar_production_pxe_image.cpio.gz"]
cmdline:
  flatcar.first_boot: "1"
  ignition.config.url: "{{ boot.config_url }}"
  console: ["ttyS0,115200n8", tty0]
  flatcar.autologin: ""
`;
const DEBIAN_URL =
  "https://deb.debian.org/debian/dists/{{ boot.os.release }}/main/installer-amd64/current/images/netboot/debian-installer/amd64";
const OS: Record<string, string> = {
  "flatcar-stable": flatcarOs("flatcar-stable", "stable", "4081.2.0"),
  "flatcar-beta": flatcarOs("flatcar-beta", "beta", "4116.1.0"),
  "debian-12": `id: debian-12
family: debian
version: "12"
release: bookworm
kernel: ${DEBIAN_URL}/linux
initrd: ["${DEBIAN_URL}/initrd.gz"]
cmdline: {auto: "true", priority: critical, url: "{{ boot.config_url }}", hostname: "{{ host.name }}", console: ["ttyS0,115200n8", tty0]}
`,
};
const REPORT = (event: string): string =>
  `/usr/bin/curl -fsS --retry 10 -X POST -d mac={{ interface.mac }} -d event=${event} -d boot={{ boot.id }} {{ env.agent.url }}/state`;
const ignition = (unit: string, exec: string, after: string): string => `ignition:
  version: 3.3.0
passwd:
  users:
    - {name: core, sshAuthorizedKeys: ["{{ md.ssh_key }}"]}
storage:
  files:
    - {path: /etc/hostname, mode: 420, overwrite: true, contents: {source: "data:,{{ host.name }}"}}
systemd:
  units:
{% include "report" %}
    - name: ${unit}
      enabled: true
      contents: |
        [Unit]
        Description=${unit} on {{ host.name }} ({{ interface.ipv4 }}, gateway {{ interface.subnet.gateway }})
        ConditionKernelCommandLine=ignition.config.url
        After=network-online.target
        OnFailure=vaquero-failed.service
        [Service]
        Type=oneshot
        ExecStart=${exec}
        ExecStart=${REPORT("stage-done")}
        ExecStartPost=/usr/bin/systemctl ${after}
        [Install]
        WantedBy=multi-user.target
`;
const ASSETS: Record<string, string> = {
  "ignition/flatcar-install.yml": ignition(
    "flatcar-install.service",
    "/usr/bin/flatcar-install -d {{ md.install_disk }} -C {{ boot.os.release }} -V {{ boot.os.version }}",
    "reboot",
  ),
  "ignition/flatcar-live.yml": ignition("wipe.service", "/usr/sbin/wipefs -a {{ md.install_disk }}", "poweroff"),
  "ignition/snippets/report.yml": `    - name: vaquero-failed.service
      contents: |
        [Service]
        Type=oneshot
        ExecStart=${REPORT("failed")}
`,
  "preseed/debian.cfg": `d-i netcfg/get_ipaddress string {{ interface.ipv4 }}/16
d-i netcfg/get_gateway string {{ interface.subnet.gateway }}
d-i netcfg/get_nameservers string {{ interface.subnet.dns | join: " " }}
d-i netcfg/confirm_static boolean true
d-i netcfg/get_hostname string {{ host.name }}
d-i passwd/root-login boolean false
d-i passwd/username string ops
d-i passwd/user-password-crypted password !
d-i partman-auto/disk string {{ md.install_disk }}
d-i partman-auto/method string regular
d-i preseed/late_command string in-target install -d -o ops -g ops -m 700 /home/ops/.ssh; echo '{{ md.ssh_key }}' > /target/home/ops/.ssh/authorized_keys; in-target wget -q -O /dev/null --post-data "mac={{ interface.mac }}&event=stage-done" {{ env.agent.url }}/state
`,
};

function parseArgs(argv: string[]): Options {
  const o: Options = { hosts: 10_000, sites: 10, workflows: 50, out: "bench/out/sot" };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag}: missing value`);
    if (flag === "--out") o.out = value;
    else if (flag === "--hosts" || flag === "--sites" || flag === "--workflows") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: want a positive integer, got "${value}"`);
      o[flag.slice(2) as "hosts" | "sites" | "workflows"] = n;
    } else throw new Error(`unknown flag ${flag} (want --hosts, --sites, --workflows, --out)`);
  }
  if (o.sites > 256) throw new Error("--sites: at most 256 (one 10.x.0.0/16 per site)");
  if (Math.ceil(o.hosts / o.sites) > MAX_HOSTS_PER_SITE) throw new Error(`at most ${MAX_HOSTS_PER_SITE} hosts per site`);
  return o;
}

const pad = (n: number, width: number): string => String(n).padStart(width, "0");
/** A locally administered MAC: `02:<kind>:` and the 32-bit host number. */
const mac = (kind: number, n: number): string =>
  [2, kind, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0")).join(":");
/** Address `offset` of the site's 10.x.0.0/16. */
const ip = (site: number, offset: number): string => `10.${site}.${offset >>> 8}.${offset & 255}`;

function generate(o: Options): Map<string, string> {
  const files = new Map<string, string>();
  const wfId = (j: number): string => `wf-${pad(j, 3)}`;
  const usedBoots = new Set<string>();
  for (let j = 0; j < o.workflows; j++) {
    const stages: readonly string[] = KINDS[j % KINDS.length] ?? [];
    for (const s of stages) usedBoots.add(s);
    const after = j >= 8 && j % 4 === 0 ? [wfId(j - 3), wfId(j - 8)] : j >= 2 && j % 5 === 2 ? [wfId(j - 2)] : [];
    const policy = [`max_concurrent: ${5 + (j % 20)}`, `max_fail: ${j % 3}`, `stage_timeout: ${stages.length > 1 ? "1h" : "45m"}`];
    if (after.length) policy.push(`after: [${after.join(", ")}]`);
    if (j % 4 === 1) policy.push("min_standing: 1");
    const list = stages.map((s) => `  - ${s}\n`).join("");
    files.set(`workflows/${wfId(j)}.yml`, `id: ${wfId(j)}\nstages:\n${list}policy: {${policy.join(", ")}}\n`);
  }
  const usedAssets = new Set<string>();
  const usedOs = new Set<string>();
  for (const id of usedBoots) {
    const b = BOOTS[id] as (typeof BOOTS)[string];
    usedOs.add(b.os);
    usedAssets.add(`${b.type}/${b.use}`);
    if (b.type === "ignition") usedAssets.add("ignition/snippets/report.yml");
    files.set(
      `boot/${id}.yml`,
      `id: ${id}\nos: ${b.os}\nunattended: {type: ${b.type}, use: ${b.use}}\nmetadata: {install_disk: /dev/sda}\n`,
    );
  }
  for (const id of usedOs) files.set(`os/${id}.yml`, OS[id] ?? "");
  for (const a of usedAssets) files.set(`assets/${a}`, ASSETS[a] ?? "");

  let first = 0;
  for (let s = 0; s < o.sites; s++) {
    const count = Math.floor(o.hosts / o.sites) + (s < o.hosts % o.sites ? 1 : 0);
    const site = `site-${pad(s, 3)}`;
    files.set(
      `sites/${site}/env.yml`,
      `id: ${site}
agent: {url: "http://${ip(s, 2)}:8080", dhcp: ${s % 2 === 0 ? "server" : "proxy"}}
subnets:
  - {id: prov, cidr: 10.${s}.0.0/16, gateway: ${ip(s, 1)}, dns: [${ip(s, 3)}], ntp: [${ip(s, 3)}], domain: ${site}.bench.example,
     pool: {start: ${ip(s, 0xff00)}, end: ${ip(s, 0xfffe)}}, options: [{code: 119, type: string, value: ${site}.bench.example}]}
metadata: {ssh_key: "${SSH_KEY}"}
`,
    );
    for (let f = 0; f * HOSTS_PER_FILE < count; f++) {
      const docs: string[] = [];
      const end = Math.min(count, (f + 1) * HOSTS_PER_FILE);
      for (let k = f * HOSTS_PER_FILE; k < end; k++) {
        const g = first + k;
        const i = k - f * HOSTS_PER_FILE;
        if (i % 100 === 0) docs.push(i === 0 ? "hosts:\n" : "---\nhosts:\n");
        docs.push(`  - name: h${pad(g, 6)}
    workflow: ${wfId(g % o.workflows)}
    metadata: {rack: r${pad(Math.floor(k / 40), 3)}}
    interfaces:
      - {mac: "${mac(0, g)}", subnet: prov, ipv4: ${ip(s, 256 + k)}}
      - {type: bmc, mac: "${mac(1, g)}", subnet: prov, ipv4: ${ip(s, 0x8000 + k)}, bmc: {protocol: ipmi, username: admin, password_ref: env:BMC_PASSWORD}}
`);
      }
      files.set(`sites/${site}/cluster-${pad(f, 3)}.yml`, docs.join(""));
    }
    first += count;
  }
  return files;
}

function main(argv: string[]): number {
  let o: Options;
  try {
    o = parseArgs(argv);
  } catch (e) {
    console.error(`generate: ${(e as Error).message}`);
    return 2;
  }
  // Only the SoT folders are replaced, so a stale tree from a bigger run never leaks into this one.
  for (const d of ["os", "boot", "workflows", "assets", "sites"]) rmSync(join(o.out, d), { recursive: true, force: true });
  const files = generate(o);
  for (const [rel, text] of files) {
    const path = join(o.out, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  console.error(`generate: ${files.size} files, ${o.hosts} hosts in ${o.sites} sites, ${o.workflows} workflows → ${o.out}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
