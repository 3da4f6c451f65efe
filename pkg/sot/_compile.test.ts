import { describe, expect, test } from "bun:test";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "./index.ts";

type Files = Record<string, string>;
const edit = (patch: (f: Files) => void): Files => {
  const f = baseSot();
  patch(f);
  return f;
};
const codesOf = async (files: Files) => (await compileTree(memTree(files))).findings.map((f) => `${f.code} ${f.file}:${f.line}`);

describe("compile", () => {
  test("the base compiles clean into one bundle with a dir- release id", async () => {
    const r = await compileTree(memTree(baseSot()));
    expect(r.findings).toEqual([]);
    expect(r.valid).toBe(true);
    expect([...r.sites.keys()]).toEqual(["s1"]);
    expect(r.release?.id).toMatch(/^dir-[0-9a-f]{12}$/);
    expect(r.release?.sites.s1?.hosts).toBe(1);
    const b = r.sites.get("s1")?.bundle;
    expect(b?.hosts[0]?.interfaces[0]?.mac).toBe("52:54:00:00:00:01");
    expect(b?.workflows.node?.policy).toEqual({ max_concurrent: 0, max_fail: 0, after: [], min_standing: null, stage_timeout: 1800 });
    expect(b?.os.flatcar?.cmdline).toEqual([
      ["flatcar.first_boot", "1"],
      ["ignition.config.url", "{{ boot.config_url }}"],
      ["console", "ttyS0,115200n8"],
      ["console", "tty0"],
      ["flatcar.autologin", null],
    ]);
  });

  test("the same content gives the same bytes and hash; a change elsewhere leaves a site's hash alone", async () => {
    const a = await compileTree(memTree(baseSot()));
    const b = await compileTree(memTree(baseSot()));
    expect(b.sites.get("s1")?.canonical).toBe(a.sites.get("s1")?.canonical as string);
    const other = edit((f) => {
      f["sites/s2/env.yml"] = "id: s2\nagent: {url: http://10.1.0.2:8080}\nsubnets: [{id: p, cidr: 10.1.0.0/24}]\nmetadata: {ssh_key: k}\n";
      f["sites/s2/cluster-a.yml"] =
        "hosts:\n  - name: n\n    workflow: node\n    interfaces:\n      - {mac: '52:54:00:00:01:01', subnet: p, ipv4: 10.1.0.5}\n" +
        "      - {type: bmc, ipv4: 10.1.0.6, bmc: {protocol: ipmi, username: u, password_ref: 'file:/etc/pw'}}\n";
    });
    const c = await compileTree(memTree(other));
    expect(c.findings).toEqual([]);
    expect(c.sites.get("s1")?.hash).toBe(a.sites.get("s1")?.hash as string);
    expect(c.release?.id).not.toBe(a.release?.id as string);
    const changed = await compileTree(
      memTree(edit((f) => (f["boot/install.yml"] = (f["boot/install.yml"] ?? "").replace("install}", "again}")))),
    );
    expect(changed.sites.get("s1")?.hash).not.toBe(a.sites.get("s1")?.hash as string);
  });

  test("an undefined variable is reported once, at the template line, naming every host affected", async () => {
    const files = edit((f) => {
      f["assets/ignition/node.yml"] = (f["assets/ignition/node.yml"] ?? "").replace("{{ host.name }}", "{{ host.nmae }}");
      const hosts = Array.from({ length: 7 }, (_, i) => {
        const n = i + 2;
        return `  - name: node-${n}\n    workflow: node\n    interfaces:\n      - {mac: "52:54:00:00:00:${10 + n}", subnet: prov, ipv4: 10.0.0.${10 + n}}\n      - {type: bmc, ipv4: 10.0.0.${110 + n}, bmc: {protocol: ipmi, username: a, password_ref: env:P}}\n`;
      });
      f["sites/s1/cluster-b.yml"] = `hosts:\n${hosts.join("")}`;
    });
    const r = await compileTree(memTree(files));
    expect(r.findings.map((f) => `${f.code} ${f.file}:${f.line}:${f.column}`)).toEqual([
      "TEMPLATE_UNDEFINED assets/ignition/node.yml:11:36",
    ]);
    expect(r.findings[0]?.message).toBe(
      'assets/ignition/node.yml: undefined variable: host.nmae; hosts affected: "node-1", "node-2", "node-3", "node-4", "node-5" and 3 more (site "s1")',
    );
    expect(r.valid).toBe(false);
    expect(r.release).toBeUndefined();
  });

  const cases: [string, (f: Files) => void, string[]][] = [
    [
      "unknown field with a suggestion",
      (f) => (f["workflows/node.yml"] = "id: node\nstages: [install]\npolcy: {max_fail: 1}\n"),
      ["SCHEMA_UNKNOWN_FIELD workflows/node.yml:3"],
    ],
    [
      "a cmdline template error points into the os file",
      (f) => (f["os/flatcar.yml"] = (f["os/flatcar.yml"] ?? "").replace("{{ boot.config_url }}", "{{ boot.config_ur }}")),
      ["TEMPLATE_UNDEFINED os/flatcar.yml:9"],
    ],
    [
      "a command line over 4096 bytes",
      (f) =>
        (f["boot/install.yml"] =
          `id: install\nos: flatcar\nunattended: {type: ignition, use: node.yml}\ncmdline: {x: ${"a".repeat(4100)}}\n`),
      ["CMDLINE_TOO_LONG boot/install.yml:4"],
    ],
    [
      "a literal cloud-config password, and a templated one that is fine",
      (f) => {
        f["boot/cc.yml"] = "id: cc\nos: debian\nunattended: {type: cloud-config, use: user-data}\n";
        f["os/debian.yml"] = "id: debian\nfamily: debian\nversion: 12\nkernel: linux\ninitrd: [initrd.gz]\n";
        f["workflows/node.yml"] = "id: node\nstages: [install, cc]\n";
        f["assets/cloud-config/user-data"] =
          "#cloud-config\nchpasswd:\n  users:\n    - {name: a, password: '{{ md.pw }}'}\npassword: hunter2\n";
        f["sites/s1/env.yml"] = (f["sites/s1/env.yml"] ?? "").replace("metadata: {", "metadata: {pw: x, ");
      },
      ["SECRET_LITERAL assets/cloud-config/user-data:5"],
    ],
    [
      "a BMC password in the inventory",
      (f) =>
        (f["sites/s1/cluster-a.yml"] = (f["sites/s1/cluster-a.yml"] ?? "").replace(
          "password_ref: env:BMC_PW",
          "password_ref: env:BMC_PW, password: calvin",
        )),
      ["SECRET_LITERAL sites/s1/cluster-a.yml:6"],
    ],
    [
      "a cmdline written as a list of maps keeps its order",
      (f) =>
        (f["boot/install.yml"] = "id: install\nos: flatcar\nunattended: {type: ignition, use: node.yml}\ncmdline: [{a: 1}, {b: [x, y]}]\n"),
      [],
    ],
    [
      "metadata that is a list, not a map",
      (f) => (f["boot/install.yml"] = `${f["boot/install.yml"]}metadata: [a, b]\n`),
      ["SCHEMA_TYPE boot/install.yml:5"],
    ],
    [
      "an include in an os field cannot be served: a finding, not a broken preview",
      (f) => (f["os/flatcar.yml"] = (f["os/flatcar.yml"] ?? "").replace(/kernel: (.*)/, `kernel: '{% include "k" %}$1'`)),
      ["TEMPLATE_RENDER os/flatcar.yml:4"],
    ],
    [
      "two BMCs on one host",
      (f) =>
        (f["sites/s1/cluster-a.yml"] =
          `${f["sites/s1/cluster-a.yml"]}`.trimEnd() +
          "\n      - {type: bmc, ipv4: 10.0.0.102, bmc: {protocol: ipmi, username: a, password_ref: env:P}}\n"),
      ["SCHEMA_TYPE sites/s1/cluster-a.yml:7"],
    ],
    [
      "plaintext passwords in preseed (both types) and kickstart; hashed ones are fine",
      (f) => {
        f["os/debian.yml"] = "id: debian\nfamily: debian\nversion: 12\nkernel: linux\ninitrd: [initrd.gz]\n";
        f["os/rocky.yml"] = "id: rocky\nfamily: rocky\nversion: 9\nkernel: vmlinuz\ninitrd: [initrd.img]\n";
        f["boot/deb.yml"] = "id: deb\nos: debian\nunattended: {type: preseed, use: deb.cfg}\n";
        f["boot/ks.yml"] = "id: ks\nos: rocky\nunattended: {type: kickstart, use: ks.cfg}\n";
        f["workflows/node.yml"] = "id: node\nstages: [install, deb, ks]\n";
        f["assets/preseed/deb.cfg"] =
          "d-i passwd/root-password-crypted password $6$x\nd-i passwd/root-password string r00t\nd-i passwd/user-password password pw\n";
        f["assets/kickstart/ks.cfg"] = "rootpw --iscrypted $6$x\nrootpw --plaintext r00t\nuser --name=ops --password=pw\nrootpw --lock\n";
      },
      [
        "SECRET_LITERAL assets/kickstart/ks.cfg:2",
        "SECRET_LITERAL assets/kickstart/ks.cfg:3",
        "SECRET_PRESEED_PASSWORD assets/preseed/deb.cfg:2",
        "SECRET_PRESEED_PASSWORD assets/preseed/deb.cfg:3",
      ],
    ],
    ["an empty file is no document", (f) => (f["os/empty.yml"] = ""), []],
    ["a README and dotfiles are ignored", (f) => Object.assign(f, { "README.md": "# x", ".github/x.yml": "on: push", "os/.keep": "" }), []],
  ];
  for (const [name, patch, want] of cases) {
    test(name, async () => expect(await codesOf(edit(patch))).toEqual(want));
  }
});
