/**
 * Integration: our Ignition checker (`checkIgnition`) agrees with Debian's real `ignition-validate` (package
 * `ignition`, 2.14) on every fixture below: a config is valid for us exactly when ignition-validate exits 0.
 *
 * ignition-validate 2.14 knows specs 3.0.0 to 3.3.0 as stable and only "3.4.0-experimental", which differs from
 * the final 3.4.0 (it rejects "3.4.0" as unsupported, and lacks luks `discard`), so the fixtures use 3.0.0 to
 * 3.3.0; 3.4.0 is covered by the unit tests. Fixtures marked `stricter` are configs ignition-validate accepts
 * (exit 0, at most a warning) that we reject on purpose; each says why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkIgnition } from "../pkg/sot/index.ts";

const BIN = Bun.which("ignition-validate") ?? "/usr/bin/ignition-validate";
const SHA512 =
  "sha512-9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
const SHA256 = "sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

interface Fixture {
  name: string;
  /** Whether the config is valid Ignition (for us; for ignition-validate too unless `stricter`). */
  valid: boolean;
  config: unknown;
  /** Why we reject a config ignition-validate accepts. */
  stricter?: string;
}

const cfg = (version: string, rest: Record<string, unknown> = {}) => ({ ignition: { version }, ...rest });
const storage = (version: string, s: Record<string, unknown>) => cfg(version, { storage: s });
const file = (version: string, f: Record<string, unknown>) => storage(version, { files: [{ path: "/etc/x", ...f }] });
const source = (version: string, src: string, more: Record<string, unknown> = {}) => file(version, { contents: { source: src, ...more } });
const units = (version: string, ...u: unknown[]) => cfg(version, { systemd: { units: u } });

const flatcar = (version: string) => ({
  ignition: { version },
  passwd: {
    users: [{ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv3JkGb6Tt1 ops@example.com"], groups: ["docker"] }],
  },
  storage: {
    files: [
      { path: "/etc/hostname", mode: 420, overwrite: true, contents: { source: "data:,web-01" } },
      {
        path: "/etc/flatcar/update.conf",
        mode: 420,
        overwrite: true,
        contents: { source: "data:,GROUP%3Dstable%0AREBOOT_STRATEGY%3Doff%0A" },
      },
      {
        path: "/etc/systemd/network/10-eth0.network",
        mode: 420,
        contents: { source: "data:;base64,W01hdGNoXQpOYW1lPWV0aDAKCltOZXR3b3JrXQpESENQPXllcwo=" },
      },
      { path: "/opt/bin/tool", mode: 493, contents: { source: "https://assets.lan/tool", verification: { hash: SHA512 } } },
    ],
    directories: [{ path: "/opt/bin", mode: 493 }],
    links: [{ path: "/etc/localtime", target: "/usr/share/zoneinfo/UTC", overwrite: true }],
  },
  systemd: {
    units: [
      { name: "docker.service", enabled: true },
      { name: "locksmithd.service", mask: true },
      { name: "containerd.service", dropins: [{ name: "10-config.conf", contents: "[Service]\nEnvironment=A=b\n" }] },
      { name: "tool.timer", enabled: true, contents: "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n" },
    ],
  },
});

/** Disks, RAID, filesystems and (from 3.2.0) LUKS, as a storage node would have them. */
const storageNode = (version: string) =>
  storage(version, {
    disks: [
      {
        device: "/dev/sda",
        wipeTable: true,
        partitions: [{ label: "data", number: 1, sizeMiB: 0, typeGuid: "0FC63DAF-8483-4772-8E79-3D69D8477DE4" }],
      },
    ],
    raid: [{ name: "md0", level: "raid1", devices: ["/dev/sdb", "/dev/sdc"], spares: 0 }],
    filesystems: [
      { device: "/dev/md/md0", format: "xfs", path: "/var/data", wipeFilesystem: true, label: "data" },
      { device: "/dev/disk/by-partlabel/data", format: "ext4", label: "scratch", options: ["-E", "lazy_itable_init=1"] },
    ],
    ...(version >= "3.2.0"
      ? {
          luks: [
            {
              name: "secret",
              device: "/dev/sdd",
              keyFile: { source: "data:,key" },
              clevis: { tang: [{ url: "https://tang.lan", thumbprint: "abc" }] },
            },
          ],
        }
      : {}),
  });

const VERSIONS = ["3.0.0", "3.1.0", "3.2.0", "3.3.0"];
const FIXTURES: Fixture[] = [
  ...VERSIONS.flatMap((v): Fixture[] => [
    { name: `minimal ${v}`, valid: true, config: cfg(v) },
    { name: `Flatcar node ${v}`, valid: true, config: flatcar(v) },
    { name: `storage node ${v}`, valid: true, config: storageNode(v) },
  ]),
  {
    name: "merge, CA, proxy and headers 3.1.0",
    valid: true,
    config: {
      ignition: {
        version: "3.1.0",
        config: { merge: [{ source: "https://x/a.ign", compression: "gzip", httpHeaders: [{ name: "A", value: "b" }] }] },
        security: { tls: { certificateAuthorities: [{ source: "data:,pem", verification: { hash: SHA256 } }] } },
        proxy: { httpsProxy: "https://proxy:3128", noProxy: [".lan"] },
      },
    },
  },
  {
    name: "kernelArguments and format none 3.3.0",
    valid: true,
    config: {
      ...storage("3.3.0", { filesystems: [{ device: "/dev/sdb", format: "none", wipeFilesystem: true }] }),
      kernelArguments: { shouldExist: ["console=ttyS0"] },
    },
  },
  {
    name: "gs and tftp sources 3.2.0",
    valid: true,
    config: storage("3.2.0", {
      files: [
        { path: "/a", contents: { source: "gs://b/o" } },
        { path: "/b", contents: { source: "tftp://10.0.0.1/b" } },
      ],
    }),
  },
  { name: "null optional keys", valid: true, config: file("3.3.0", { mode: null, contents: null }) },
  // both reject
  { name: "root that is a list", valid: false, config: [] },
  { name: "no version", valid: false, config: { ignition: {} } },
  { name: "version 2.3.0", valid: false, config: cfg("2.3.0") },
  { name: "version 3.5.0", valid: false, config: cfg("3.5.0") },
  { name: "version that is a number", valid: false, config: { ignition: { version: 3 } } },
  { name: "mode that is a string", valid: false, config: file("3.3.0", { mode: "0644" }) },
  { name: "mode above 0o7777", valid: false, config: file("3.3.0", { mode: 4096 }) },
  { name: "negative mode", valid: false, config: storage("3.2.0", { directories: [{ path: "/d", mode: -1 }] }) },
  { name: "boolean that is a string", valid: false, config: file("3.3.0", { overwrite: "true", contents: { source: "data:," } }) },
  { name: "files that is an object", valid: false, config: storage("3.3.0", { files: { path: "/a" } }) },
  { name: "file without path", valid: false, config: storage("3.0.0", { files: [{ mode: 420 }] }) },
  { name: "relative path", valid: false, config: file("3.1.0", { path: "etc/x" }) },
  { name: "path with ..", valid: false, config: file("3.3.0", { path: "/a/../b" }) },
  { name: "directory with a trailing slash", valid: false, config: storage("3.3.0", { directories: [{ path: "/a/" }] }) },
  {
    name: "file and directory on one path",
    valid: false,
    config: storage("3.3.0", { files: [{ path: "/a" }], directories: [{ path: "/a" }] }),
  },
  {
    name: "file and link on one path",
    valid: false,
    config: storage("3.0.0", { files: [{ path: "/a" }], links: [{ path: "/a", target: "/b" }] }),
  },
  { name: "unit twice", valid: false, config: units("3.3.0", { name: "a.service" }, { name: "a.service" }) },
  { name: "user twice", valid: false, config: cfg("3.3.0", { passwd: { users: [{ name: "a" }, { name: "a" }] } }) },
  { name: "ssh key twice", valid: false, config: cfg("3.3.0", { passwd: { users: [{ name: "a", sshAuthorizedKeys: ["k", "k"] }] } }) },
  { name: "unit without suffix", valid: false, config: units("3.3.0", { name: "foo.srvice" }) },
  { name: "unit without name", valid: false, config: units("3.0.0", { enabled: true }) },
  { name: "dropin not .conf", valid: false, config: units("3.3.0", { name: "a.service", dropins: [{ name: "x.cfg" }] }) },
  { name: "gs before 3.2.0", valid: false, config: source("3.1.0", "gs://b/o") },
  { name: "arn before 3.4.0", valid: false, config: source("3.3.0", "arn:aws:s3:::b/k") },
  { name: "URL without scheme", valid: false, config: source("3.3.0", "example.com/x") },
  { name: "bad percent-escape", valid: false, config: source("3.3.0", "http://x/%zz") },
  { name: "empty s3 versionId", valid: false, config: source("3.3.0", "s3://b/k?versionId=") },
  { name: "data URL without comma", valid: false, config: source("3.3.0", "data:hello") },
  { name: "data URL with a raw space", valid: false, config: source("3.3.0", "data:,a b") },
  { name: "data URL with unpadded base64", valid: false, config: source("3.3.0", "data:;base64,aGk") },
  { name: "data URL media type without slash", valid: false, config: source("3.3.0", "data:text,hi") },
  { name: "sha256 in 3.0.0", valid: false, config: source("3.0.0", "https://x/y", { verification: { hash: SHA256 } }) },
  {
    name: "md5 hash",
    valid: false,
    config: source("3.3.0", "https://x/y", { verification: { hash: "md5-d41d8cd98f00b204e9800998ecf8427e" } }),
  },
  { name: "short digest", valid: false, config: source("3.3.0", "https://x/y", { verification: { hash: "sha512-abc" } }) },
  { name: "hash without source", valid: false, config: file("3.3.0", { contents: { verification: { hash: SHA512 } } }) },
  {
    name: "httpHeaders with a data source",
    valid: false,
    config: source("3.3.0", "data:,x", { httpHeaders: [{ name: "A", value: "b" }] }),
  },
  { name: "compression xz", valid: false, config: source("3.3.0", "https://x/y", { compression: "xz" }) },
  { name: "overwrite without source", valid: false, config: file("3.3.0", { overwrite: true }) },
  { name: "owner with id and name", valid: false, config: file("3.3.0", { user: { id: 0, name: "root" } }) },
  { name: "merge without source", valid: false, config: { ignition: { version: "3.3.0", config: { merge: [{}] } } } },
  { name: "filesystem format ntfs", valid: false, config: storage("3.3.0", { filesystems: [{ device: "/dev/sda", format: "ntfs" }] }) },
  { name: "format none before 3.3.0", valid: false, config: storage("3.2.0", { filesystems: [{ device: "/dev/sda", format: "none" }] }) },
  {
    name: "filesystem path without format",
    valid: false,
    config: storage("3.3.0", { filesystems: [{ device: "/dev/sda", path: "/var" }] }),
  },
  { name: "filesystem without device", valid: false, config: storage("3.3.0", { filesystems: [{ format: "ext4" }] }) },
  { name: "relative disk device", valid: false, config: storage("3.3.0", { disks: [{ device: "sda" }] }) },
  { name: "raid level raid7", valid: false, config: storage("3.3.0", { raid: [{ name: "md0", level: "raid7", devices: ["/dev/sda"] }] }) },
  { name: "raid without devices", valid: false, config: storage("3.3.0", { raid: [{ name: "md0", level: "raid1" }] }) },
  { name: "link without target 3.3.0", valid: false, config: storage("3.3.0", { links: [{ path: "/a" }] }) },
  { name: "luks without device", valid: false, config: storage("3.3.0", { luks: [{ name: "c" }] }) },
  {
    name: "tang without thumbprint",
    valid: false,
    config: storage("3.2.0", { luks: [{ name: "c", device: "/dev/sda", clevis: { tang: [{ url: "https://t" }] } }] }),
  },
  {
    name: "empty raid device",
    valid: false,
    config: storage("3.3.0", { raid: [{ name: "md0", level: "raid1", devices: ["/dev/sda", ""] }] }),
  },
  {
    name: "ext4 label over 16 bytes",
    valid: false,
    config: storage("3.3.0", { filesystems: [{ device: "/dev/sda", format: "ext4", label: "éééééééé1" }] }),
  },
  {
    name: "partition label with a colon",
    valid: false,
    config: storage("3.1.0", { disks: [{ device: "/dev/sda", partitions: [{ label: "a:b" }] }] }),
  },
  {
    name: "partition label over 36 bytes",
    valid: false,
    config: storage("3.3.0", { disks: [{ device: "/dev/sda", partitions: [{ label: "é".repeat(20) }] }] }),
  },
  {
    name: "partition GUID in braces",
    valid: false,
    config: storage("3.2.0", {
      disks: [{ device: "/dev/sda", partitions: [{ number: 1, guid: "{0FC63DAF-8483-4772-8E79-3D69D8477DE4}" }] }],
    }),
  },
  {
    name: "partition without number or label",
    valid: false,
    config: storage("3.0.0", { disks: [{ device: "/dev/sda", partitions: [{ sizeMiB: 5 }] }] }),
  },
  {
    name: "http header with an empty value",
    valid: false,
    config: source("3.3.0", "https://x/y", { httpHeaders: [{ name: "A", value: "" }] }),
  },
  // we are stricter
  {
    name: "misspelt key",
    valid: false,
    config: cfg("3.3.0", { storag: {} }),
    stricter: "ignition-validate only warns about unused keys; a typo there drops a whole section",
  },
  {
    name: "kernelArguments in 3.2.0",
    valid: false,
    config: cfg("3.2.0", { kernelArguments: { shouldExist: ["a"] } }),
    stricter: "a key of a later spec is an unused key: Ignition would ignore it",
  },
  {
    name: "setuid mode in 3.3.0",
    valid: false,
    config: file("3.3.0", { mode: 2541 }),
    stricter: "ignition-validate warns that specs before 3.4.0 do not support setuid/setgid/sticky bits",
  },
  {
    name: "octal mode written as decimal",
    valid: false,
    config: file("3.3.0", { mode: 644 }),
    stricter: "644 is 0o1204 (sticky, odd permissions); ignition-validate only warns about the sticky bit",
  },
  {
    name: "link without target 3.0.0",
    valid: false,
    config: storage("3.0.0", { links: [{ path: "/a" }] }),
    stricter: "the docs require target; validation only enforces it from 3.3.0",
  },
  {
    name: "raid without name",
    valid: false,
    config: storage("3.3.0", { raid: [{ level: "raid1", devices: ["/dev/sda"] }] }),
    stricter: "the docs require name; an md device needs one",
  },
  {
    name: "user without name",
    valid: false,
    config: cfg("3.3.0", { passwd: { users: [{ uid: 1000 }] } }),
    stricter: "the docs require name; useradd needs one",
  },
  {
    name: "upper-case digest",
    valid: false,
    config: source("3.3.0", "https://x/y", { verification: { hash: SHA256.toUpperCase().replace("SHA256", "sha256") } }),
    stricter: "Ignition compares the digest with lower-case hex, so it would always fail",
  },
  {
    name: "merge without source 3.0.0",
    valid: false,
    config: { ignition: { version: "3.0.0", config: { merge: [{}] } } },
    stricter: "the 3.0.0 docs require source; validation only enforces it from 3.1.0",
  },
  {
    name: "replace hash without source 3.0.0",
    valid: false,
    config: { ignition: { version: "3.0.0", config: { replace: { verification: { hash: SHA512 } } } } },
    stricter: "a hash with nothing to verify; validation only rejects it from 3.1.0",
  },
  {
    name: "null entry in a string list",
    valid: false,
    config: storage("3.3.0", { filesystems: [{ device: "/dev/sda", format: "ext4", options: [null] }] }),
    stricter: "Go decodes null as an empty string; it is a YAML slip (an empty `- ` item)",
  },
];

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vaquero-ignition-"));
});
afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

/** Runs ignition-validate on the config: its exit code and output. Throws when the tool is not installed. */
function ignitionValidate(name: string, config: unknown): { exit: number; output: string } {
  if (!existsSync(BIN))
    throw new Error(`ignition-validate not found at ${BIN}: install Debian's "ignition" package (apt-get install -y ignition)`);
  const path = join(dir, `${name.replaceAll(/[^a-z0-9]+/gi, "-")}.ign`);
  writeFileSync(path, JSON.stringify(config));
  const r = Bun.spawnSync([BIN, path], { stdout: "pipe", stderr: "pipe" });
  return { exit: r.exitCode ?? -1, output: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
}

describe("checkIgnition agrees with ignition-validate", () => {
  test("ignition-validate is installed", () => {
    if (!existsSync(BIN)) throw new Error(`ignition-validate not found at ${BIN}: install Debian's "ignition" package`);
    expect(Bun.spawnSync([BIN, "--version"]).stdout.toString()).toContain("Ignition");
  });

  test.each(FIXTURES.map((f) => [f.name, f] as const))("%s", (_name, f) => {
    const { exit, output } = ignitionValidate(f.name, f.config);
    const problems = checkIgnition(f.config);
    const verdict = (valid: boolean) => (valid ? "valid" : "invalid");
    const got = `ignition-validate: ${verdict(exit === 0)}, ours: ${verdict(problems.length === 0)}`;
    const want = `ignition-validate: ${verdict(f.valid || f.stricter !== undefined)}, ours: ${verdict(f.valid)}`;
    const detail = `\n  ignition-validate said: ${output || "(nothing)"}\n  we said: ${JSON.stringify(problems)}`;
    expect(got + detail).toStartWith(want);
  });
});
