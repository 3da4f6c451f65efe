/**
 * Ignition config spec 3.0.0 to 3.4.0 as data: one {@link Spec} per version, each written as the changes from
 * the version before (coreos/ignition `config/v3_x/types/schema.go` and `docs/configuration-v3_x.md`,
 * `docs/migrating-configs.md`). The walker in `_ignition.ts` reads nothing else, so a new spec version is a
 * new entry in {@link SPECS}.
 */

/** How a string value is checked beyond being a string (the checks themselves live in `_ignition.ts`). */
export type StringCheck =
  | "absPath" // absolute and clean, like Go's path.Clean
  | "absPathOrEmpty" // the same, or "" for none
  | "url" // a resource source: scheme allowed by the spec, data URL syntax, s3 versionId
  | "tangUrl" // an http or https URL
  | "hash" // `<type>-<hex digest>`, types allowed by the spec
  | "unitName" // ends in a systemd unit type suffix
  | "dropinName" // ends in .conf
  | "compression" // "" or "gzip"
  | "fsFormat" // a filesystem format the spec knows
  | "guid" // a GPT GUID, 8-4-4-4-12 hex digits
  | "partLabel" // a GPT partition label: at most 36 bytes, no colon
  | "headerValue" // not empty (an absent value removes the header)
  | "raidLevel"; // an md RAID level

/** A value's type in the spec. */
export type Type =
  | { readonly kind: "string"; readonly check?: StringCheck }
  | { readonly kind: "boolean" }
  | { readonly kind: "integer"; readonly check?: "mode" }
  | { readonly kind: "list"; readonly of: Type; readonly unique?: Unique }
  | { readonly kind: "object"; readonly name: string };

/**
 * A list whose entries must be unique: by `key` (a string field of each entry) or, without `key`, by the entry
 * itself. Lists of one object that share a `scope` share one namespace (files, directories and links: paths).
 */
export interface Unique {
  readonly key?: string;
  readonly scope: string;
}

/** One key of an object. Required keys must be present, not null, and (strings, lists) not empty. */
export interface Field {
  readonly type: Type;
  readonly required?: boolean;
}

/** The keys an object may have. */
export type ObjectSpec = Readonly<Record<string, Field>>;

/** One version of the spec. The root object is `Config`. */
export interface Spec {
  readonly version: string;
  readonly objects: Readonly<Record<string, ObjectSpec>>;
  /** URL schemes a resource `source` may use. */
  readonly schemes: readonly string[];
  /** Hash types `verification.hash` may use, with their digest length in hex digits. */
  readonly hashes: Readonly<Record<string, number>>;
  /** Filesystem formats. */
  readonly formats: readonly string[];
  /** Whether file and directory modes may carry setuid, setgid and sticky bits. */
  readonly specialModeBits: boolean;
}

const str = (check?: StringCheck): Field => ({ type: check === undefined ? { kind: "string" } : { kind: "string", check } });
const bool: Field = { type: { kind: "boolean" } };
const int: Field = { type: { kind: "integer" } };
const mode: Field = { type: { kind: "integer", check: "mode" } };
const obj = (name: string): Field => ({ type: { kind: "object", name } });
const list = (of: Field, unique?: Unique): Field => ({
  type: unique === undefined ? { kind: "list", of: of.type } : { kind: "list", of: of.type, unique },
});
const req = (f: Field): Field => ({ ...f, required: true });
const strings = list(str());
/** Unique by `key` (by the entry itself when undefined) within `scope`. */
const by = (key: string | undefined, scope: string): Unique => (key === undefined ? { scope } : { key, scope });

const RESOURCE_3_0: ObjectSpec = { compression: str("compression"), source: str("url"), verification: obj("Verification") };
const NODE: ObjectSpec = { path: req(str("absPath")), overwrite: bool, user: obj("Owner"), group: obj("Owner") };

const V3_0: Spec = {
  version: "3.0.0",
  schemes: ["http", "https", "tftp", "s3", "data"],
  hashes: { sha512: 128 },
  formats: ["ext4", "btrfs", "xfs", "vfat", "swap"],
  specialModeBits: false,
  objects: {
    Config: { ignition: req(obj("Ignition")), passwd: obj("Passwd"), storage: obj("Storage"), systemd: obj("Systemd") },
    Ignition: { version: req(str()), config: obj("IgnitionConfig"), timeouts: obj("Timeouts"), security: obj("Security") },
    IgnitionConfig: { merge: list(obj("SourcedResource"), by("source", "merge")), replace: obj("ConfigResource") },
    // 3.0 config and CA resources have no compression; file contents do.
    ConfigResource: { source: str("url"), verification: obj("Verification") },
    SourcedResource: { source: req(str("url")), verification: obj("Verification") },
    Resource: RESOURCE_3_0,
    Verification: { hash: str("hash") },
    Timeouts: { httpResponseHeaders: int, httpTotal: int },
    Security: { tls: obj("TLS") },
    TLS: { certificateAuthorities: list(obj("SourcedResource"), by("source", "ca")) },
    Storage: {
      disks: list(obj("Disk"), by("device", "disk")),
      raid: list(obj("Raid"), by("name", "raid")),
      filesystems: list(obj("Filesystem"), by("device", "filesystem")),
      files: list(obj("File"), by("path", "node")),
      directories: list(obj("Directory"), by("path", "node")),
      links: list(obj("Link"), by("path", "node")),
    },
    Disk: { device: req(str("absPath")), wipeTable: bool, partitions: list(obj("Partition")) },
    Partition: {
      label: str("partLabel"),
      number: int,
      sizeMiB: int,
      startMiB: int,
      typeGuid: str("guid"),
      guid: str("guid"),
      wipePartitionEntry: bool,
      shouldExist: bool,
    },
    Raid: {
      name: req(str()),
      level: req(str("raidLevel")),
      devices: req(list(str("absPath"))),
      spares: int,
      options: strings,
    },
    Filesystem: {
      device: req(str("absPath")),
      format: str("fsFormat"),
      path: str("absPathOrEmpty"),
      wipeFilesystem: bool,
      label: str(),
      uuid: str(),
      options: strings,
    },
    File: { ...NODE, contents: obj("Resource"), append: list(obj("Resource")), mode },
    Directory: { ...NODE, mode },
    Link: { ...NODE, target: req(str()), hard: bool },
    Owner: { id: int, name: str() },
    Systemd: { units: list(obj("Unit"), by("name", "unit")) },
    Unit: {
      name: req(str("unitName")),
      enabled: bool,
      mask: bool,
      contents: str(),
      dropins: list(obj("Dropin"), by("name", "dropin")),
    },
    Dropin: { name: req(str("dropinName")), contents: str() },
    Passwd: { users: list(obj("User"), by("name", "user")), groups: list(obj("Group"), by("name", "group")) },
    User: {
      name: req(str()),
      passwordHash: str(),
      sshAuthorizedKeys: list(str(), by(undefined, "sshKey")),
      uid: int,
      gecos: str(),
      homeDir: str(),
      noCreateHome: bool,
      primaryGroup: str(),
      groups: strings,
      noUserGroup: bool,
      noLogInit: bool,
      shell: str(),
      system: bool,
    },
    Group: { name: req(str()), gid: int, passwordHash: str(), system: bool },
  },
};

/** The spec after `base`, with `objects` merged key by key into the base's objects. */
function next(base: Spec, change: Omit<Partial<Spec>, "objects"> & { version: string; objects?: Record<string, ObjectSpec> }): Spec {
  const objects: Record<string, ObjectSpec> = { ...base.objects };
  for (const [name, fields] of Object.entries(change.objects ?? {})) objects[name] = { ...objects[name], ...fields };
  return { ...base, ...change, objects };
}

const RESOURCE_3_1: ObjectSpec = { ...RESOURCE_3_0, httpHeaders: list(obj("HTTPHeader"), by("name", "header")) };

const V3_1 = next(V3_0, {
  version: "3.1.0",
  hashes: { sha512: 128, sha256: 64 },
  objects: {
    Ignition: { proxy: obj("Proxy") },
    Proxy: { httpProxy: str(), httpsProxy: str(), noProxy: strings },
    Resource: RESOURCE_3_1,
    ConfigResource: RESOURCE_3_1,
    SourcedResource: { ...RESOURCE_3_1, source: req(str("url")) },
    HTTPHeader: { name: req(str()), value: str("headerValue") },
    Filesystem: { mountOptions: strings },
  },
});

const V3_2 = next(V3_1, {
  version: "3.2.0",
  schemes: [...V3_1.schemes, "gs"],
  objects: {
    Storage: { luks: list(obj("Luks"), by("name", "luks")) },
    Partition: { resize: bool },
    User: { shouldExist: bool },
    Group: { shouldExist: bool },
    Luks: {
      name: req(str()),
      device: req(str("absPath")),
      keyFile: obj("Resource"),
      label: str(),
      uuid: str(),
      options: strings,
      wipeVolume: bool,
      clevis: obj("Clevis"),
    },
    Clevis: { tang: list(obj("Tang"), by("url", "tang")), tpm2: bool, threshold: int, custom: obj("ClevisCustom") },
    ClevisCustom: { pin: str(), config: str(), needsNetwork: bool },
    Tang: { url: req(str("tangUrl")), thumbprint: req(str()) },
  },
});

const V3_3 = next(V3_2, {
  version: "3.3.0",
  formats: [...V3_2.formats, "none"],
  objects: {
    Config: { kernelArguments: obj("KernelArguments") },
    KernelArguments: { shouldExist: strings, shouldNotExist: strings },
  },
});

const V3_4 = next(V3_3, {
  version: "3.4.0",
  schemes: [...V3_3.schemes, "arn"],
  specialModeBits: true,
  objects: {
    Luks: { discard: bool, openOptions: strings },
    Tang: { advertisement: str() },
  },
});

/** Every supported spec, oldest first. */
export const SPECS: readonly Spec[] = [V3_0, V3_1, V3_2, V3_3, V3_4];

/** systemd unit type suffixes a unit name may end in (coreos/ignition `validateName`). */
export const UNIT_SUFFIXES: readonly string[] = [
  ".service",
  ".socket",
  ".device",
  ".mount",
  ".automount",
  ".swap",
  ".target",
  ".path",
  ".timer",
  ".snapshot",
  ".slice",
  ".scope",
];

/** md RAID levels (coreos/ignition `Raid.validateLevel`). */
export const RAID_LEVELS: readonly string[] = [
  "linear",
  "raid0",
  "0",
  "stripe",
  "raid1",
  "1",
  "mirror",
  "raid4",
  "4",
  "raid5",
  "5",
  "raid6",
  "6",
  "raid10",
  "10",
];
