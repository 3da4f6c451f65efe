/**
 * Valibot schemas of the SoT documents (SOT.md "Documents"). Validation messages that carry a finding code are
 * written `CODE: text`; {@link issueCode} splits them. The same schemas are exported as JSON Schema.
 */
import * as v from "valibot";

/** Ids: `[a-z0-9][a-z0-9._-]{0,62}`. */
export const ID_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** MACs as written in a SoT: six hex pairs separated by `:` or `-`, or twelve hex digits. */
export const MAC_RE = /^(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{12})$/;
/** Dotted-quad IPv4 without leading zeros. */
export const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** IPv4 CIDR, prefix 0–32 (host bits are checked separately). */
export const CIDR_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(?:3[0-2]|[12]?\d)$/;
/** Durations: `90s`, `30m`, `2h`, `1h30m`. */
export const DURATION_RE = /^(?=\d)(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;
/** `env:NAME` or `file:/absolute/path`. */
export const PASSWORD_REF_RE = /^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:\/\S+)$/;

/** Unattended asset types and their folders under `assets/`. */
export const UNATTENDED_TYPES = ["ignition", "cloud-config", "kickstart", "preseed", "untyped"] as const;
/** Which os families each unattended type suits (SOT.md "consistency"); `null`: any family. */
export const UNATTENDED_FAMILIES: Record<(typeof UNATTENDED_TYPES)[number], readonly string[] | null> = {
  ignition: ["flatcar", "fedora-coreos", "rhcos"],
  "cloud-config": ["ubuntu", "debian", "fedora", "centos", "rocky", "almalinux"],
  kickstart: ["centos", "rocky", "almalinux", "rhel", "fedora"],
  preseed: ["debian", "ubuntu"],
  untyped: null,
};

const Id = v.pipe(v.string(), v.regex(ID_RE, "ID_INVALID: want [a-z0-9][a-z0-9._-]{0,62}"));
const Mac = v.pipe(v.string(), v.regex(MAC_RE, "MAC_INVALID: want six hex pairs like 52:54:00:ab:cd:ef"));
const Ipv4 = v.pipe(v.string(), v.regex(IPV4_RE, "IPV4_INVALID: want a dotted-quad IPv4 address"));
const Cidr = v.pipe(v.string(), v.regex(CIDR_RE, "CIDR_INVALID: want an IPv4 CIDR like 10.0.0.0/24"));
const Duration = v.pipe(v.string(), v.regex(DURATION_RE, "DURATION_INVALID: want a duration like 90s, 30m or 2h"));
const PasswordRef = v.pipe(v.string(), v.regex(PASSWORD_REF_RE, "PASSWORD_REF_INVALID: want env:NAME or file:/absolute/path"));
const Text = v.string();
const Version = v.union([v.string(), v.number()]);
/** A map (valibot's record alone would also take a list, as `{0: …}`). */
const Metadata = v.pipe(
  v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "SCHEMA_TYPE: want a map"),
  v.record(v.string(), v.unknown()),
);
const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Url = v.pipe(v.string(), v.regex(/^https?:\/\/[^\s/]+/, "SCHEMA_TYPE: want an http:// or https:// URL"));
/** Cmdline values are checked by the validator itself (nested maps are their own finding). */
const Cmdline = v.union([Metadata, v.array(Metadata)], "SCHEMA_TYPE: want a map, or a list of maps");

/** An operating system document (`os/*.yml`). */
export const OsSchema = v.strictObject({
  id: Id,
  name: v.optional(Text),
  family: Id,
  version: Version,
  release: v.optional(Version),
  kernel: Text,
  initrd: v.array(Text),
  cmdline: v.optional(Cmdline),
  arch: v.optional(v.picklist(["x86_64", "arm64"])),
});

/** A boot document (`boot/*.yml`). */
export const BootSchema = v.strictObject({
  id: Id,
  name: v.optional(Text),
  os: Id,
  unattended: v.optional(v.strictObject({ type: v.picklist(UNATTENDED_TYPES), use: Text })),
  metadata: v.optional(Metadata),
  cmdline: v.optional(Cmdline),
});

/** A workflow document (`workflows/*.yml`). */
export const WorkflowSchema = v.strictObject({
  id: Id,
  name: v.optional(Text),
  stages: v.pipe(v.array(Id), v.minLength(1, "SCHEMA_TYPE: a workflow needs at least one stage")),
  policy: v.optional(
    v.strictObject({
      max_concurrent: v.optional(Count),
      max_fail: v.optional(Count),
      after: v.optional(v.array(Id)),
      min_standing: v.optional(Count),
      stage_timeout: v.optional(Duration),
    }),
  ),
});

const DhcpOption = v.strictObject({
  code: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(254)),
  type: v.picklist(["string", "ipv4", "ipv4-list", "uint8", "uint16", "uint32", "bool", "hex"]),
  value: v.union([v.string(), v.number(), v.boolean(), v.array(v.string())]),
});

const Subnet = v.strictObject({
  id: Id,
  cidr: Cidr,
  gateway: v.optional(Ipv4),
  dns: v.optional(v.array(Ipv4)),
  ntp: v.optional(v.array(Text)),
  domain: v.optional(Text),
  vlan: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4094))),
  pool: v.optional(v.strictObject({ start: Ipv4, end: Ipv4 })),
  options: v.optional(v.array(DhcpOption)),
});

/** A site document (`sites/<id>/env.yml`). */
export const EnvSchema = v.strictObject({
  id: Id,
  name: v.optional(Text),
  metadata: v.optional(Metadata),
  agent: v.strictObject({
    url: Url,
    dhcp: v.optional(v.picklist(["server", "proxy", "off"])),
    interfaces: v.optional(v.array(Text)),
    assets: v.optional(v.strictObject({ dir: v.optional(Text), upstream: v.optional(Url) })),
  }),
  subnets: v.array(Subnet),
  release: v.optional(Version),
});

/** A machine's network interface. */
export const NicSchema = v.strictObject({
  mac: Mac,
  subnet: Id,
  ipv4: Ipv4,
  hostname: v.optional(Text),
  primary: v.optional(v.boolean()),
});

/** A machine's BMC, an interface of `type: bmc`. */
export const BmcSchema = v.strictObject({
  type: v.literal("bmc"),
  mac: v.optional(Mac),
  subnet: v.optional(Id),
  ipv4: Ipv4,
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
  bmc: v.strictObject({
    protocol: v.literal("ipmi"),
    username: Text,
    password_ref: PasswordRef,
    cipher_suite: v.optional(v.picklist([3, 17])),
    soft: v.optional(v.boolean()),
  }),
});

const isBmcShaped = (input: unknown): boolean => typeof input === "object" && input !== null && !Array.isArray(input) && "type" in input;

/** A host of an inventory. */
export const HostSchema = v.strictObject({
  name: Id,
  workflow: Id,
  interfaces: v.pipe(
    v.array(v.lazy((input) => (isBmcShaped(input) ? BmcSchema : NicSchema))),
    v.minLength(1, "INTERFACE_PRIMARY: a host needs at least one interface"),
  ),
  metadata: v.optional(Metadata),
  never_provision: v.optional(v.boolean()),
  selectors: v.optional(v.strictObject({ uuid: v.optional(Text), serial: v.optional(Text) })),
});

/** One document of a cluster file: exactly `{hosts: [...]}`. */
export const ClusterSchema = v.strictObject({ hosts: v.array(HostSchema) });

/** Document kinds and their schemas. */
export const SCHEMAS = {
  os: OsSchema,
  boot: BootSchema,
  workflow: WorkflowSchema,
  env: EnvSchema,
  cluster: ClusterSchema,
} as const;

/** The kind of a SoT document. */
export type DocKind = keyof typeof SCHEMAS;

export type OsDoc = v.InferOutput<typeof OsSchema>;
export type BootDoc = v.InferOutput<typeof BootSchema>;
export type WorkflowDoc = v.InferOutput<typeof WorkflowSchema>;
export type EnvDoc = v.InferOutput<typeof EnvSchema>;
export type SubnetDoc = v.InferOutput<typeof Subnet>;
export type NicDoc = v.InferOutput<typeof NicSchema>;
export type BmcDoc = v.InferOutput<typeof BmcSchema>;
export type HostDoc = v.InferOutput<typeof HostSchema>;

/** The entry names a strict object schema allows, for "did you mean" (`undefined` when not an object). */
export function entryNames(schema: unknown): string[] | undefined {
  const s = schema as { type?: string; entries?: Record<string, unknown>; wrapped?: unknown };
  if (s && s.type === "strict_object" && s.entries) return Object.keys(s.entries);
  if (s && (s.type === "optional" || s.type === "nullish") && s.wrapped) return entryNames(s.wrapped);
  return undefined;
}

/** Splits a `CODE: text` validation message; other messages give `undefined` code. */
export function issueCode(message: string): { code?: string; text: string } {
  const m = /^([A-Z][A-Z0-9_]+): (.*)$/.exec(message);
  return m ? { code: m[1], text: m[2] ?? "" } : { text: message };
}
