import { describe, expect, test } from "bun:test";
import { checkIgnition, type IgnitionProblem } from "./_ignition.ts";

const VERSIONS = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0"] as const;
const SHA512 =
  "sha512-9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
const SHA256 = "sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/** A config of `version` with more top-level keys. */
const cfg = (version: string, rest: Record<string, unknown> = {}) => ({ ignition: { version }, ...rest });
const storage = (version: string, s: Record<string, unknown>) => cfg(version, { storage: s });
const file = (version: string, f: Record<string, unknown>) => storage(version, { files: [{ path: "/etc/x", ...f }] });
const source = (version: string, src: string, more: Record<string, unknown> = {}) => file(version, { contents: { source: src, ...more } });
const units = (version: string, ...u: unknown[]) => cfg(version, { systemd: { units: u } });
const p = (path: string, message: string): IgnitionProblem => ({ path, message });

/** Every key the spec of `version` has, each set once (the fields added by later versions left out). */
function fullConfig(version: string): unknown {
  const at = (since: string) => version >= since;
  const only = (since: string, o: Record<string, unknown>) => (at(since) ? o : {});
  const resource = (src: string) => ({
    source: src,
    verification: { hash: SHA512 },
    ...only("3.1.0", { compression: "gzip" }),
    ...(at("3.1.0") && src.startsWith("https:") ? { httpHeaders: [{ name: "Authorization", value: "Bearer x" }] } : {}),
  });
  const owner = { user: { id: 0 }, group: { name: "root" } };
  return {
    ignition: {
      version,
      config: { merge: [resource("https://example.com/a.ign")], replace: resource("https://example.com/b.ign") },
      timeouts: { httpResponseHeaders: 10, httpTotal: 0 },
      security: { tls: { certificateAuthorities: [resource("https://example.com/ca.pem")] } },
      ...only("3.1.0", { proxy: { httpProxy: "https://proxy:3128", httpsProxy: "https://proxy:3128", noProxy: [".lan"] } }),
    },
    ...only("3.3.0", { kernelArguments: { shouldExist: ["console=ttyS0"], shouldNotExist: ["quiet"] } }),
    storage: {
      disks: [
        {
          device: "/dev/sda",
          wipeTable: false,
          partitions: [
            {
              label: "data",
              number: 1,
              sizeMiB: 0,
              startMiB: 0,
              typeGuid: "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
              guid: "5B0F4C6B-2F5A-4E2B-9C7A-1D2E3F405162",
              wipePartitionEntry: false,
              shouldExist: true,
              ...only("3.2.0", { resize: false }),
            },
          ],
        },
      ],
      raid: [{ name: "md0", level: "raid1", devices: ["/dev/sdb", "/dev/sdc"], spares: 0, options: ["--metadata=1.2"] }],
      filesystems: [
        {
          device: "/dev/md/md0",
          format: "xfs",
          path: "/var/data",
          wipeFilesystem: false,
          label: "data",
          uuid: "0b3a8a7c-5a0e-4c5f-9a53-7c2e1f6d4b21",
          options: ["-m", "reflink=1"],
          ...only("3.1.0", { mountOptions: ["noatime"] }),
        },
      ],
      files: [
        {
          path: "/etc/motd",
          overwrite: true,
          contents: { ...resource("data:,hi"), ...only("3.0.0", { compression: "" }) },
          append: [resource("data:,more")],
          mode: 420,
          ...owner,
        },
      ],
      directories: [{ path: "/var/lib/app", overwrite: false, mode: 493, ...owner }],
      links: [{ path: "/etc/localtime", overwrite: true, target: "/usr/share/zoneinfo/UTC", hard: false, ...owner }],
      ...only("3.2.0", {
        luks: [
          {
            name: "secret",
            device: "/dev/sdd",
            keyFile: { source: "data:,key" },
            label: "secret",
            uuid: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            options: ["--cipher", "aes-xts-plain64"],
            wipeVolume: false,
            clevis: {
              tang: [{ url: "https://tang.lan", thumbprint: "abc", ...only("3.4.0", { advertisement: "{}" }) }],
              tpm2: true,
              threshold: 1,
            },
            ...only("3.4.0", { discard: true, openOptions: ["--perf-no_read_workqueue"] }),
          },
        ],
      }),
    },
    systemd: {
      units: [
        {
          name: "app.service",
          enabled: true,
          mask: false,
          contents: "[Install]\nWantedBy=multi-user.target\n",
          dropins: [{ name: "10-env.conf", contents: "[Service]\n" }],
        },
      ],
    },
    passwd: {
      users: [
        {
          name: "ops",
          passwordHash: "$6$salt$hash",
          sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@lan"],
          uid: 1000,
          gecos: "Operator",
          homeDir: "/home/ops",
          noCreateHome: false,
          primaryGroup: "ops",
          groups: ["wheel"],
          noUserGroup: false,
          noLogInit: false,
          shell: "/bin/bash",
          system: false,
          ...only("3.2.0", { shouldExist: true }),
        },
      ],
      groups: [{ name: "ops", gid: 1000, passwordHash: "!", system: false, ...only("3.2.0", { shouldExist: true }) }],
    },
  };
}

/** What a Flatcar machine gets from a typical Vaquero template. */
const FLATCAR = {
  ignition: { version: "3.4.0" },
  passwd: {
    users: [
      {
        name: "core",
        sshAuthorizedKeys: [
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv3JkGb6Tt1Yy5J3i6H8kYt0Dq0kE1m3fJ6d0a0Z8Zq ops@example.com",
          "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 backup@example.com",
        ],
        groups: ["sudo", "docker"],
      },
    ],
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
        contents: { source: "data:text/plain;charset=utf-8;base64,W01hdGNoXQpOYW1lPWV0aDAKCltOZXR3b3JrXQpESENQPXllcwo=" },
      },
      {
        path: "/opt/bin/node_exporter",
        mode: 493,
        contents: { source: "https://assets.lan/node_exporter", verification: { hash: SHA512 } },
      },
    ],
    directories: [{ path: "/opt/bin", mode: 493 }],
    links: [{ path: "/etc/localtime", target: "/usr/share/zoneinfo/UTC", overwrite: true }],
  },
  systemd: {
    units: [
      { name: "docker.service", enabled: true },
      { name: "locksmithd.service", mask: true },
      {
        name: "containerd.service",
        dropins: [{ name: "10-config.conf", contents: "[Service]\nEnvironment=CONTAINERD_CONFIG=/etc/containerd/config.toml\n" }],
      },
      {
        name: "node-exporter.service",
        enabled: true,
        contents: "[Unit]\nDescription=Node exporter\n[Service]\nExecStart=/opt/bin/node_exporter\n[Install]\nWantedBy=multi-user.target\n",
      },
    ],
  },
};

describe("checkIgnition accepts", () => {
  const cases: [string, unknown][] = [
    ...VERSIONS.map((v): [string, unknown] => [`minimal ${v}`, cfg(v)]),
    ...VERSIONS.map((v): [string, unknown] => [`every field of ${v}`, fullConfig(v)]),
    ["realistic Flatcar config", FLATCAR],
    ["null as an absent optional key", file("3.3.0", { mode: null, contents: null })],
    ["an empty source (an empty file)", source("3.0.0", "")],
    ["sha256 from 3.1.0", source("3.1.0", "https://x/y", { verification: { hash: SHA256 } })],
    ["gs:// from 3.2.0", source("3.2.0", "gs://bucket/object")],
    ["arn: from 3.4.0", source("3.4.0", "arn:aws:s3:::bucket/key?versionId=3")],
    [
      "tftp and s3 in 3.0.0",
      storage("3.0.0", {
        files: [
          { path: "/a", contents: { source: "tftp://10.0.0.1/a" } },
          { path: "/b", contents: { source: "s3://b/k?versionId=1" } },
        ],
      }),
    ],
    ["an upper-case http scheme", source("3.3.0", "HTTP://example.com/x")],
    ["format none from 3.3.0", storage("3.3.0", { filesystems: [{ device: "/dev/sdb", format: "none", wipeFilesystem: true }] })],
    ["setuid bits from 3.4.0", file("3.4.0", { mode: 2541 })],
    ["a filesystem without format and nothing else", storage("3.3.0", { filesystems: [{ device: "/dev/sdb" }] })],
    ["a data URL with reserved characters", source("3.3.0", "data:,a,b;c/d?e=f&g+h$")],
    ["an empty filesystem path (none)", storage("3.3.0", { filesystems: [{ device: "/dev/sdb", format: "ext4", path: "" }] })],
    [
      "a 36-byte partition label and lower-case GUIDs",
      storage("3.3.0", {
        disks: [{ device: "/dev/sda", partitions: [{ label: "x".repeat(36), guid: "0fc63daf-8483-4772-8e79-3d69d8477de4" }] }],
      }),
    ],
    ["an http header without value (removes it)", source("3.3.0", "https://x/y", { httpHeaders: [{ name: "Authorization" }] })],
  ];
  test.each(cases)("%s", (_name, config) => {
    expect(checkIgnition(config)).toEqual([]);
  });
});

describe("checkIgnition reports", () => {
  const v33 = "3.3.0";
  const cases: [string, unknown, IgnitionProblem[]][] = [
    // the root and the version
    ["a root that is a list", [], [p("", "got an empty list, want a JSON object")]],
    ["a root that is a string", "{}", [p("", 'got string "{}", want a JSON object')]],
    ["a root that is null", null, [p("", "got null, want a JSON object")]],
    ["no ignition key", { storage: {} }, [p("/ignition", 'missing required key "ignition"')]],
    ["ignition that is not an object", { ignition: "3.3.0" }, [p("/ignition", 'got string "3.3.0", want object')]],
    ["no version", { ignition: {} }, [p("/ignition/version", 'missing required key "version"')]],
    [
      "a version that is a number",
      { ignition: { version: 3 } },
      [p("/ignition/version", 'got number 3, want a version string like "3.4.0"')],
    ],
    [
      "a 2.x version",
      cfg("2.3.0"),
      [p("/ignition/version", 'got version "2.3.0", want 3.0.0, 3.1.0, 3.2.0, 3.3.0 or 3.4.0: Vaquero needs Ignition spec 3.x')],
    ],
    ["a future version", cfg("3.5.0"), [p("/ignition/version", 'got version "3.5.0", want 3.0.0, 3.1.0, 3.2.0, 3.3.0 or 3.4.0')]],
    [
      "an experimental version",
      cfg("3.4.0-experimental"),
      [p("/ignition/version", 'got version "3.4.0-experimental", want 3.0.0, 3.1.0, 3.2.0, 3.3.0 or 3.4.0')],
    ],
    ["a short version", cfg("3.3"), [p("/ignition/version", 'got version "3.3", want 3.0.0, 3.1.0, 3.2.0, 3.3.0 or 3.4.0')]],
    // unknown keys
    ["a misspelt top-level key", cfg(v33, { storag: {} }), [p("/storag", 'unknown key "storag"; did you mean "storage"?')]],
    ["an unknown key with nothing close", cfg(v33, { networkd: {} }), [p("/networkd", 'unknown key "networkd"')]],
    [
      "a misspelt nested key",
      file(v33, { contnts: {} }),
      [p("/storage/files/0/contnts", 'unknown key "contnts"; did you mean "contents"?')],
    ],
    ["a key that needs escaping", cfg(v33, { "a/b~c": 1 }), [p("/a~1b~0c", 'unknown key "a/b~c"')]],
    [
      "kernelArguments before 3.3.0",
      cfg("3.2.0", { kernelArguments: {} }),
      [p("/kernelArguments", 'unknown key "kernelArguments" in spec 3.2.0: it needs spec 3.3.0')],
    ],
    ["luks before 3.2.0", storage("3.1.0", { luks: [] }), [p("/storage/luks", 'unknown key "luks" in spec 3.1.0: it needs spec 3.2.0')]],
    [
      "httpHeaders in 3.0.0",
      source("3.0.0", "https://x/y", { httpHeaders: [] }),
      [p("/storage/files/0/contents/httpHeaders", 'unknown key "httpHeaders" in spec 3.0.0: it needs spec 3.1.0')],
    ],
    [
      "compression on merge in 3.0.0",
      { ignition: { version: "3.0.0", config: { merge: [{ source: "https://x/y", compression: "gzip" }] } } },
      [p("/ignition/config/merge/0/compression", 'unknown key "compression" in spec 3.0.0: it needs spec 3.1.0')],
    ],
    [
      "resize before 3.2.0",
      storage("3.1.0", { disks: [{ device: "/dev/sda", partitions: [{ number: 1, resize: true }] }] }),
      [p("/storage/disks/0/partitions/0/resize", 'unknown key "resize" in spec 3.1.0: it needs spec 3.2.0')],
    ],
    [
      "luks discard before 3.4.0",
      storage(v33, { luks: [{ name: "c", device: "/dev/sda", discard: true }] }),
      [p("/storage/luks/0/discard", 'unknown key "discard" in spec 3.3.0: it needs spec 3.4.0')],
    ],
    // types
    ["a mode that is a string", file(v33, { mode: "0644" }), [p("/storage/files/0/mode", 'got string "0644", want integer')]],
    ["a mode that is a fraction", file(v33, { mode: 420.5 }), [p("/storage/files/0/mode", "got number 420.5, want integer")]],
    [
      "a boolean that is a string",
      file(v33, { overwrite: "true", contents: { source: "data:," } }),
      [p("/storage/files/0/overwrite", 'got string "true", want boolean')],
    ],
    ["files that is an object", storage(v33, { files: { path: "/a" } }), [p("/storage/files", "got object, want list")]],
    [
      "ssh keys that are a string",
      cfg(v33, { passwd: { users: [{ name: "core", sshAuthorizedKeys: "ssh-ed25519 AAAA" }] } }),
      [p("/passwd/users/0/sshAuthorizedKeys", 'got string "ssh-ed25519 AAAA", want list')],
    ],
    ["a null list entry", units(v33, null), [p("/systemd/units/0", "got null, want object")]],
    [
      "a number in a string list",
      cfg(v33, { passwd: { users: [{ name: "core", groups: ["wheel", 10] }] } }),
      [p("/passwd/users/0/groups/1", "got number 10, want string")],
    ],
    // required keys
    ["a file without path", storage(v33, { files: [{ mode: 420 }] }), [p("/storage/files/0/path", 'missing required key "path"')]],
    ["a file with a null path", storage(v33, { files: [{ path: null }] }), [p("/storage/files/0/path", 'missing required key "path"')]],
    [
      "a file with an empty path",
      storage(v33, { files: [{ path: "" }] }),
      [p("/storage/files/0/path", 'got string "", want a non-empty string')],
    ],
    ["a unit without name", units(v33, { enabled: true }), [p("/systemd/units/0/name", 'missing required key "name"')]],
    [
      "a dropin without name",
      units(v33, { name: "a.service", dropins: [{ contents: "" }] }),
      [p("/systemd/units/0/dropins/0/name", 'missing required key "name"')],
    ],
    [
      "a user and a group without name",
      cfg(v33, { passwd: { users: [{ uid: 1 }], groups: [{ gid: 1 }] } }),
      [p("/passwd/users/0/name", 'missing required key "name"'), p("/passwd/groups/0/name", 'missing required key "name"')],
    ],
    [
      "a filesystem without device",
      storage(v33, { filesystems: [{ format: "ext4" }] }),
      [p("/storage/filesystems/0/device", 'missing required key "device"')],
    ],
    [
      "a disk without device",
      storage(v33, { disks: [{ wipeTable: true }] }),
      [p("/storage/disks/0/device", 'missing required key "device"')],
    ],
    [
      "a raid without name, level and devices",
      storage(v33, { raid: [{ spares: 0 }] }),
      [
        p("/storage/raid/0/name", 'missing required key "name"'),
        p("/storage/raid/0/level", 'missing required key "level"'),
        p("/storage/raid/0/devices", 'missing required key "devices"'),
      ],
    ],
    [
      "a raid with no devices",
      storage(v33, { raid: [{ name: "md0", level: "raid1", devices: [] }] }),
      [p("/storage/raid/0/devices", "got an empty list, want at least one entry")],
    ],
    [
      "a link without target",
      storage("3.0.0", { links: [{ path: "/a" }] }),
      [p("/storage/links/0/target", 'missing required key "target"')],
    ],
    [
      "luks without name and device",
      storage(v33, { luks: [{ label: "x" }] }),
      [p("/storage/luks/0/name", 'missing required key "name"'), p("/storage/luks/0/device", 'missing required key "device"')],
    ],
    [
      "a tang server without url and thumbprint",
      storage(v33, { luks: [{ name: "c", device: "/dev/sda", clevis: { tang: [{}] } }] }),
      [
        p("/storage/luks/0/clevis/tang/0/url", 'missing required key "url"'),
        p("/storage/luks/0/clevis/tang/0/thumbprint", 'missing required key "thumbprint"'),
      ],
    ],
    [
      "a merge and a CA without source",
      { ignition: { version: v33, config: { merge: [{}] }, security: { tls: { certificateAuthorities: [{}] } } } },
      [
        p("/ignition/config/merge/0/source", 'missing required key "source"'),
        p("/ignition/security/tls/certificateAuthorities/0/source", 'missing required key "source"'),
      ],
    ],
    [
      "an http header without name",
      source(v33, "https://x/y", { httpHeaders: [{ value: "v" }] }),
      [p("/storage/files/0/contents/httpHeaders/0/name", 'missing required key "name"')],
    ],
    // paths
    ["a relative file path", file(v33, { path: "etc/x" }), [p("/storage/files/0/path", 'got "etc/x", want an absolute path')]],
    ["a path with ..", file(v33, { path: "/etc/../x" }), [p("/storage/files/0/path", 'got "/etc/../x", want a clean path like "/x"')]],
    [
      "a directory with a trailing slash",
      storage(v33, { directories: [{ path: "/var/lib//app/" }] }),
      [p("/storage/directories/0/path", 'got "/var/lib//app/", want a clean path like "/var/lib/app"')],
    ],
    [
      "relative devices and mount path",
      storage(v33, {
        disks: [{ device: "sda" }],
        raid: [{ name: "md0", level: "raid1", devices: ["/dev/sdb", "sdc"] }],
        filesystems: [{ device: "/dev/sdd", format: "ext4", path: "var" }],
        luks: [{ name: "c", device: "./sde" }],
      }),
      [
        p("/storage/disks/0/device", 'got "sda", want an absolute path'),
        p("/storage/raid/0/devices/1", 'got "sdc", want an absolute path'),
        p("/storage/filesystems/0/path", 'got "var", want an absolute path'),
        p("/storage/luks/0/device", 'got "./sde", want an absolute path'),
      ],
    ],
    // modes
    ["a mode above 0o7777", file(v33, { mode: 4096 }), [p("/storage/files/0/mode", "got mode 4096, want 0 to 4095 (0o7777)")]],
    [
      "a negative mode",
      storage(v33, { directories: [{ path: "/d", mode: -1 }] }),
      [p("/storage/directories/0/mode", "got mode -1, want 0 to 4095 (0o7777)")],
    ],
    [
      "octal digits written as decimal",
      file("3.4.0", { mode: 644 }),
      [p("/storage/files/0/mode", "got mode 644 (0o1204), want 420: modes are decimal, and 0644 octal is 420")],
    ],
    [
      "setuid bits before 3.4.0",
      file(v33, { mode: 2541 }),
      [p("/storage/files/0/mode", "got mode 2541 (0o4755), want no setuid, setgid or sticky bits: they need spec 3.4.0")],
    ],
    // sources
    [
      "gs:// before 3.2.0",
      source("3.1.0", "gs://bucket/object"),
      [
        p(
          "/storage/files/0/contents/source",
          'got scheme "gs" in "gs://bucket/object", want http, https, tftp, s3 or data; gs needs spec 3.2.0',
        ),
      ],
    ],
    [
      "arn: before 3.4.0",
      source(v33, "arn:aws:s3:::bucket/key"),
      [
        p(
          "/storage/files/0/contents/source",
          'got scheme "arn" in "arn:aws:s3:::bucket/key", want http, https, tftp, s3, data or gs; arn needs spec 3.4.0',
        ),
      ],
    ],
    [
      "an ARN that is not an S3 object",
      source("3.4.0", "arn:aws:iam::123:role"),
      [p("/storage/files/0/contents/source", 'got "arn:aws:iam::123:role", want an S3 object ARN like "arn:aws:s3:::bucket/key"')],
    ],
    [
      "an unknown scheme",
      source(v33, "ftp://x/y"),
      [p("/storage/files/0/contents/source", 'got scheme "ftp" in "ftp://x/y", want http, https, tftp, s3, data or gs')],
    ],
    [
      "a URL without scheme",
      source(v33, "example.com/x"),
      [p("/storage/files/0/contents/source", 'got "example.com/x", want a URL with scheme http, https, tftp, s3, data or gs')],
    ],
    [
      "a URL with a newline",
      source(v33, "https://x/y\n"),
      [p("/storage/files/0/contents/source", 'got "https://x/y\\n", want a URL without control characters')],
    ],
    [
      "a bad percent-escape",
      source(v33, "https://x/%zz"),
      [p("/storage/files/0/contents/source", 'got a bad percent-escape in "https://x/%zz", want %XX')],
    ],
    [
      "an empty s3 versionId",
      source(v33, "s3://b/k?versionId="),
      [p("/storage/files/0/contents/source", 'got an empty versionId in "s3://b/k?versionId=", want versionId=<id>')],
    ],
    [
      "a data URL without comma",
      source(v33, "data:hello"),
      [p("/storage/files/0/contents/source", 'got "data:hello", want a data URL like "data:,hello%20world" or "data:;base64,aGVsbG8="')],
    ],
    [
      "an upper-case data URL",
      source(v33, "DATA:,x"),
      [p("/storage/files/0/contents/source", 'got "DATA:,x", want a data URL like "data:,hello%20world" or "data:;base64,aGVsbG8="')],
    ],
    [
      "a data URL media type without slash",
      source(v33, "data:text,hi"),
      [p("/storage/files/0/contents/source", 'got media type "text" in "data:text,hi", want type/subtype')],
    ],
    [
      "a data URL parameter without value",
      source(v33, "data:text/plain;foo,hi"),
      [p("/storage/files/0/contents/source", 'got parameter "foo" in "data:text/plain;foo,hi", want attribute=value or a final "base64"')],
    ],
    [
      "data URL base64 without padding",
      source(v33, "data:;base64,aGk"),
      [p("/storage/files/0/contents/source", 'got invalid base64 in "data:;base64,aGk", want padded standard base64')],
    ],
    [
      "a data URL with a raw space",
      source(v33, "data:,a b"),
      [p("/storage/files/0/contents/source", 'got "data:,a b", want its data percent-encoded (a space is %20) or base64')],
    ],
    [
      "a long data URL, cut in the message",
      source(v33, `data:,${"x".repeat(100)} `),
      [p("/storage/files/0/contents/source", `got "data:,${"x".repeat(51)}...", want its data percent-encoded (a space is %20) or base64`)],
    ],
    [
      "a tang url that is not http",
      storage(v33, { luks: [{ name: "c", device: "/dev/sda", clevis: { tang: [{ url: "tang.lan", thumbprint: "t" }] } }] }),
      [p("/storage/luks/0/clevis/tang/0/url", 'got "tang.lan", want an http or https URL')],
    ],
    // hashes
    [
      "a hash without type",
      source(v33, "https://x/y", { verification: { hash: "abc" } }),
      [p("/storage/files/0/contents/verification/hash", 'got "abc", want <type>-<hex digest> with type sha512 or sha256')],
    ],
    [
      "an md5 hash",
      source(v33, "https://x/y", { verification: { hash: "md5-d41d8cd98f00b204e9800998ecf8427e" } }),
      [p("/storage/files/0/contents/verification/hash", 'got hash type "md5", want sha512 or sha256')],
    ],
    [
      "sha256 in 3.0.0",
      source("3.0.0", "https://x/y", { verification: { hash: SHA256 } }),
      [p("/storage/files/0/contents/verification/hash", 'got hash type "sha256", want sha512; sha256 needs spec 3.1.0')],
    ],
    [
      "a short digest",
      source(v33, "https://x/y", { verification: { hash: "sha512-abc" } }),
      [p("/storage/files/0/contents/verification/hash", "got 3 hex digits in sha512 hash, want 128")],
    ],
    [
      "an upper-case digest",
      source(v33, "https://x/y", { verification: { hash: SHA256.toUpperCase().replace("SHA256", "sha256") } }),
      [p("/storage/files/0/contents/verification/hash", 'got "C" in sha256 digest, want 64 lower-case hex digits')],
    ],
    [
      "a hash without source",
      file(v33, { contents: { verification: { hash: SHA512 } } }),
      [p("/storage/files/0/contents/verification/hash", "got a hash without a source, want a source to verify")],
    ],
    // other resource rules
    [
      "httpHeaders with a data source",
      source(v33, "data:,x", { httpHeaders: [{ name: "A", value: "b" }] }),
      [p("/storage/files/0/contents/httpHeaders", 'got httpHeaders with source "data:,x", want an http or https source')],
    ],
    [
      "httpHeaders without source",
      file(v33, { append: [{ httpHeaders: [{ name: "A" }] }] }),
      [p("/storage/files/0/append/0/httpHeaders", "got httpHeaders with no source, want an http or https source")],
    ],
    [
      "an unknown compression",
      source(v33, "https://x/y.xz", { compression: "xz" }),
      [p("/storage/files/0/contents/compression", 'got "xz", want "gzip" or ""')],
    ],
    [
      "overwrite without source",
      file(v33, { overwrite: true }),
      [p("/storage/files/0/overwrite", "got overwrite true without contents.source, want a source")],
    ],
    [
      "an owner with id and name",
      file(v33, { group: { id: 0, name: "root" } }),
      [p("/storage/files/0/group", 'got both id 0 and name "root", want one of them')],
    ],
    // filesystems and raid
    [
      "an unknown filesystem format",
      storage(v33, { filesystems: [{ device: "/dev/sda", format: "ntfs" }] }),
      [p("/storage/filesystems/0/format", 'got "ntfs", want ext4, btrfs, xfs, vfat, swap or none')],
    ],
    [
      "format none before 3.3.0",
      storage("3.2.0", { filesystems: [{ device: "/dev/sda", format: "none" }] }),
      [p("/storage/filesystems/0/format", 'got "none", want ext4, btrfs, xfs, vfat or swap; none needs spec 3.3.0')],
    ],
    [
      "a filesystem with path but no format",
      storage(v33, { filesystems: [{ device: "/dev/sda", path: "/var", label: "var" }] }),
      [p("/storage/filesystems/0/format", 'got no format, want one since "path" or "label" is set')],
    ],
    [
      "an unknown raid level",
      storage(v33, { raid: [{ name: "md0", level: "raid7", devices: ["/dev/sda"] }] }),
      [p("/storage/raid/0/level", 'got "raid7", want linear, raid0, stripe, raid1, mirror, raid4, raid5, raid6 or raid10')],
    ],
    [
      "a raid device that is empty",
      storage(v33, { raid: [{ name: "md0", level: "raid1", devices: ["/dev/sda", ""] }] }),
      [p("/storage/raid/0/devices/1", 'got "", want an absolute path')],
    ],
    [
      "an ext4 label over 16 bytes",
      storage(v33, { filesystems: [{ device: "/dev/sda", format: "ext4", label: "éééééééé1" }] }),
      [p("/storage/filesystems/0/label", "got a label of 17 bytes, want at most 16 for ext4")],
    ],
    [
      "partition GUIDs, labels and numbers",
      storage(v33, {
        disks: [
          {
            device: "/dev/sda",
            partitions: [
              { label: "root:a", typeGuid: "{0FC63DAF-8483-4772-8E79-3D69D8477DE4}" },
              { label: "y".repeat(37) },
              { sizeMiB: 5 },
            ],
          },
        ],
      }),
      [
        p("/storage/disks/0/partitions/0/label", 'got "root:a", want a label without ":" (sgdisk cuts it there)'),
        p(
          "/storage/disks/0/partitions/0/typeGuid",
          'got "{0FC63DAF-8483-4772-8E79-3D69D8477DE4}", want a GUID like "0FC63DAF-8483-4772-8E79-3D69D8477DE4"',
        ),
        p("/storage/disks/0/partitions/1/label", "got a label of 37 bytes, want at most 36"),
        p("/storage/disks/0/partitions/2", "got neither a number >= 1 nor a label, want one of them to find the partition"),
      ],
    ],
    [
      "an http header with an empty value",
      source(v33, "https://x/y", { httpHeaders: [{ name: "A", value: "" }] }),
      [p("/storage/files/0/contents/httpHeaders/0/value", 'got "", want a header value (leave value out to remove the header)')],
    ],
    // duplicates
    [
      "a path used by a file and a directory",
      storage(v33, { files: [{ path: "/a" }], directories: [{ path: "/a" }] }),
      [p("/storage/directories/0/path", 'duplicate path "/a", first at /storage/files/0/path')],
    ],
    [
      "a path used twice in files and by a link",
      storage(v33, { files: [{ path: "/a" }, { path: "/a" }], links: [{ path: "/a", target: "/b" }] }),
      [
        p("/storage/files/1/path", 'duplicate path "/a", first at /storage/files/0/path'),
        p("/storage/links/0/path", 'duplicate path "/a", first at /storage/files/0/path'),
      ],
    ],
    [
      "a unit and a dropin twice",
      units(v33, { name: "a.service", dropins: [{ name: "x.conf" }, { name: "x.conf" }] }, { name: "a.service" }),
      [
        p("/systemd/units/0/dropins/1/name", 'duplicate name "x.conf", first at /systemd/units/0/dropins/0/name'),
        p("/systemd/units/1/name", 'duplicate name "a.service", first at /systemd/units/0/name'),
      ],
    ],
    [
      "a user, a group and an ssh key twice",
      cfg(v33, {
        passwd: { users: [{ name: "a", sshAuthorizedKeys: ["k", "k"] }, { name: "a" }], groups: [{ name: "g" }, { name: "g" }] },
      }),
      [
        p("/passwd/users/0/sshAuthorizedKeys/1", 'duplicate entry "k", first at /passwd/users/0/sshAuthorizedKeys/0'),
        p("/passwd/users/1/name", 'duplicate name "a", first at /passwd/users/0/name'),
        p("/passwd/groups/1/name", 'duplicate name "g", first at /passwd/groups/0/name'),
      ],
    ],
    [
      "a disk, a filesystem and a raid twice",
      storage(v33, {
        disks: [{ device: "/dev/sda" }, { device: "/dev/sda" }],
        filesystems: [{ device: "/dev/sdb" }, { device: "/dev/sdb" }],
        raid: [
          { name: "md0", level: "1", devices: ["/dev/sdc"] },
          { name: "md0", level: "1", devices: ["/dev/sdd"] },
        ],
      }),
      [
        p("/storage/disks/1/device", 'duplicate device "/dev/sda", first at /storage/disks/0/device'),
        p("/storage/filesystems/1/device", 'duplicate device "/dev/sdb", first at /storage/filesystems/0/device'),
        p("/storage/raid/1/name", 'duplicate name "md0", first at /storage/raid/0/name'),
      ],
    ],
    [
      "a disk device reused as a filesystem device (allowed)",
      storage(v33, { disks: [{ device: "/dev/sda" }], filesystems: [{ device: "/dev/sda" }] }),
      [],
    ],
    // unit and dropin names
    [
      "a misspelt unit suffix",
      units(v33, { name: "foo.srvice" }),
      [
        p(
          "/systemd/units/0/name",
          'got "foo.srvice", want a name ending in .service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .snapshot, .slice or .scope; did you mean "foo.service"?',
        ),
      ],
    ],
    [
      "a unit name without suffix",
      units(v33, { name: "foo" }),
      [
        p(
          "/systemd/units/0/name",
          'got "foo", want a name ending in .service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .snapshot, .slice or .scope',
        ),
      ],
    ],
    [
      "a dropin not ending in .conf",
      units(v33, { name: "a.service", dropins: [{ name: "10-x.cfg" }] }),
      [p("/systemd/units/0/dropins/0/name", 'got "10-x.cfg", want a name ending in ".conf"')],
    ],
    // several at once, in document order
    [
      "several problems",
      {
        ignition: { version: "3.2.0" },
        systemd: { units: [{ name: "a.timer", enabled: "yes" }] },
        storage: { files: [{ path: "x", mode: 644 }] },
        passwd: { users: [{ name: "core", shel: "/bin/sh" }] },
      },
      [
        p("/systemd/units/0/enabled", 'got string "yes", want boolean'),
        p("/storage/files/0/path", 'got "x", want an absolute path'),
        p("/storage/files/0/mode", "got mode 644 (0o1204), want 420: modes are decimal, and 0644 octal is 420"),
        p("/passwd/users/0/shel", 'unknown key "shel"; did you mean "shell"?'),
      ],
    ],
  ];
  test.each(cases)("%s", (_name, config, want) => {
    expect(checkIgnition(config)).toEqual(want);
  });
});
