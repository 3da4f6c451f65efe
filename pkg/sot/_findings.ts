/**
 * Findings: what `vaquero validate` reports. Every finding has a stable code, a severity, the file and line
 * (1-based) holding the offending text, and a message naming the objects and hosts involved.
 */

/** Severity of a finding: errors make a SoT invalid (exit 1), warnings do not. */
export type Severity = "error" | "warning";

/** One problem found in a Source of Truth. */
export interface Finding {
  /** Stable code from {@link FINDING_CODES}. */
  code: FindingCode;
  severity: Severity;
  /** Path relative to the SoT root, with `/` separators. */
  file: string;
  /** 1-based line of the offending text. */
  line: number;
  /** 1-based column of the offending text. */
  column: number;
  /** What is wrong and where, naming the objects and hosts affected. */
  message: string;
}

/**
 * Every finding code, with its severity and a one-line description (the reference in docs/sot.md is built
 * from the same table, and a test keeps them in step).
 */
export const FINDING_CODES = {
  // files and syntax
  FILE_UNEXPECTED: ["error", "a file that is not YAML or JSON outside assets/, or a folder the layout does not know"],
  FILE_TOO_LARGE: ["error", "a file over the size limit (16 MiB for documents and assets)"],
  FILE_BINARY: ["error", "a document or asset that is not UTF-8 text"],
  FILE_SYMLINK_ESCAPE: ["error", "a symbolic link that leaves the SoT tree"],
  YAML_SYNTAX: ["error", "YAML or JSON that does not parse"],
  YAML_TOO_DEEP: ["error", "a document nested deeper than 64 levels"],
  // schema
  SCHEMA_UNKNOWN_FIELD: ["error", "a field the document kind does not have (with a suggestion)"],
  SCHEMA_MISSING_FIELD: ["error", "a required field is missing"],
  SCHEMA_TYPE: ["error", "a value of the wrong type or outside its allowed values"],
  ID_INVALID: ["error", "an id that is not [a-z0-9][a-z0-9._-]{0,62}"],
  MAC_INVALID: ["error", "a MAC address that is not six hex pairs"],
  IPV4_INVALID: ["error", "an IPv4 address that does not parse"],
  CIDR_INVALID: ["error", "a subnet CIDR that does not parse or has host bits set"],
  DURATION_INVALID: ["error", "a duration that is not like 90s, 30m or 2h"],
  PASSWORD_REF_INVALID: ["error", "a BMC password_ref that is not env:NAME or file:/absolute/path"],
  ENV_MISSING: ["error", "a site folder without env.yml"],
  ENV_DUPLICATE: ["error", "a site folder with more than one env document"],
  ENV_ID_MISMATCH: ["error", "an env id that differs from its site folder name"],
  INTERFACE_PRIMARY: ["error", "a host with no boot interface, or more than one marked primary"],
  // references
  REF_UNKNOWN_OS: ["error", "a boot names an os that does not exist"],
  REF_UNKNOWN_BOOT: ["error", "a workflow stage names a boot that does not exist"],
  REF_UNKNOWN_WORKFLOW: ["error", "a host or workflow `after` names a workflow that does not exist"],
  REF_UNKNOWN_SUBNET: ["error", "an interface names a subnet its site does not have"],
  REF_UNKNOWN_ASSET: ["error", "a boot's unattended asset does not exist"],
  REF_UNKNOWN_SNIPPET: ["error", "an include names a snippet that does not exist"],
  WORKFLOW_CYCLE: ["error", "workflows whose `after` lists form a cycle"],
  // uniqueness
  DUPLICATE_ID: ["error", "two documents of one kind with the same id (hosts: in one site)"],
  DUPLICATE_MAC: ["error", "a MAC used twice in a site"],
  DUPLICATE_IPV4: ["error", "an IPv4 address used twice in a site"],
  DUPLICATE_HOSTNAME: ["error", "a hostname used twice in a site"],
  // addressing
  ADDR_OUTSIDE_SUBNET: ["error", "an interface address outside its subnet"],
  GATEWAY_OUTSIDE_SUBNET: ["error", "a subnet gateway outside the subnet"],
  POOL_INVALID: ["error", "a pool whose range is reversed or leaves its subnet"],
  POOL_OVERLAPS_RESERVATION: ["error", "a pool that contains a host's reserved address"],
  // rendering
  TEMPLATE_SYNTAX: ["error", "a template that does not parse"],
  TEMPLATE_UNDEFINED: ["error", "a template that uses an undefined variable"],
  TEMPLATE_RENDER: ["error", "a template that fails while rendering (other than undefined variables)"],
  IGNITION_YAML: ["error", "an Ignition asset whose rendered YAML or JSON does not parse"],
  IGNITION_INVALID: ["error", "rendered Ignition that is not valid Ignition 3.x"],
  CMDLINE_NESTED: ["error", "a cmdline value that is a nested map"],
  CMDLINE_TOO_LONG: ["error", "a rendered kernel command line over 4096 bytes"],
  // secrets
  SECRET_LITERAL: ["error", "a password, passwd or secret key with a literal value"],
  SECRET_PRIVATE_KEY: ["error", "a PEM private key block"],
  SECRET_PRESEED_PASSWORD: ["error", "a preseed `password string <value>` line"],
  // consistency and releases
  UNATTENDED_FAMILY: ["error", "an unattended type that does not suit the os family"],
  RELEASE_PIN_NOT_GIT: ["error", "a site pinned to a release in a SoT that is not a git repository"],
  RELEASE_PIN_UNKNOWN: ["error", "a site pinned to a tag or commit that does not exist"],
  // warnings
  UNUSED_OS: ["warning", "an os no boot uses"],
  UNUSED_BOOT: ["warning", "a boot no workflow uses"],
  UNUSED_ASSET: ["warning", "an asset no boot uses and no template includes"],
  HOST_NO_BMC: ["warning", "a host without a BMC: no automated re-provisioning"],
} as const satisfies Record<string, readonly [Severity, string]>;

/** A stable finding code. */
export type FindingCode = keyof typeof FINDING_CODES;

/** Position of a finding: file, 1-based line and column. */
export interface Where {
  file: string;
  line: number;
  column: number;
}

/** Builds a finding with the severity its code carries. */
export function finding(code: FindingCode, where: Where, message: string): Finding {
  return { code, severity: FINDING_CODES[code][0], file: where.file, line: where.line, column: where.column, message };
}

/** Sorts findings by file, line, column, then code, so output is deterministic. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}
