/**
 * A pure Ignition 3.x config validator for `vaquero validate`: one generic walker over the per-version spec
 * data in `_ignition_spec.ts`. It reports what coreos/ignition's own validation (`ignition-validate`) reports as
 * errors, and is deliberately stricter where Ignition would accept a config but not apply it as written:
 * - unknown keys, keys of a later spec version included (Ignition warns "Unused key" and ignores them);
 * - setuid/setgid/sticky mode bits before spec 3.4.0 (Ignition warns), and octal digits written as a decimal
 *   mode (644, which is 0o1204);
 * - a hash digest that is not lower-case hex (Ignition compares lower-case hex, so it could never match);
 * - `name` of raid arrays, LUKS volumes, users and groups, a link's `target` before 3.3.0, a merge `source`
 *   and a hash without a source in 3.0.0: required by the docs, not enforced by Ignition's validation;
 * - null entries in lists (Go decodes them as empty values; in YAML they are an empty `- ` item).
 */

import { type ObjectSpec, RAID_LEVELS, SPECS, type Spec, type StringCheck, type Type, UNIT_SUFFIXES } from "./_ignition_spec.ts";

/** One problem in an Ignition config; `path` is a JSON pointer ("" for the root, "/storage/files/0/path"). */
export interface IgnitionProblem {
  path: string;
  message: string;
}

type Json = Record<string, unknown>;

/**
 * Checks a parsed JSON value against the Ignition 3.x spec named by its ignition.version (3.0.0 to 3.4.0).
 * Returns every problem found, in document order, or an empty list for a valid config. When the version is
 * missing or unsupported, that is the only problem reported: the rest cannot be checked without a spec.
 */
export function checkIgnition(config: unknown): IgnitionProblem[] {
  const out: IgnitionProblem[] = [];
  const spec = specOf(config, out);
  if (spec !== undefined) checkValue(spec, out, config, { kind: "object", name: "Config" }, "");
  return out;
}

const SUPPORTED = SPECS.map((s) => s.version);

/** The spec the config's ignition.version names, or undefined after reporting why there is none. */
function specOf(config: unknown, out: IgnitionProblem[]): Spec | undefined {
  if (!isObject(config)) {
    out.push({ path: "", message: `got ${describe(config)}, want a JSON object` });
    return undefined;
  }
  const ignition = config.ignition;
  if (ignition === undefined || ignition === null) {
    out.push({ path: "/ignition", message: `missing required key "ignition"` });
    return undefined;
  }
  if (!isObject(ignition)) {
    out.push({ path: "/ignition", message: `got ${describe(ignition)}, want object` });
    return undefined;
  }
  const version = ignition.version;
  const path = "/ignition/version";
  if (version === undefined || version === null) {
    out.push({ path, message: `missing required key "version"` });
    return undefined;
  }
  if (typeof version !== "string") {
    out.push({ path, message: `got ${describe(version)}, want a version string like "3.4.0"` });
    return undefined;
  }
  const spec = SPECS.find((s) => s.version === version);
  if (spec === undefined) {
    const why = /^[12]\./.test(version) ? ": Vaquero needs Ignition spec 3.x" : "";
    out.push({ path, message: `got version ${quote(version)}, want ${orList(SUPPORTED)}${why}` });
  }
  return spec;
}

/** Whether a value has a type's JSON kind. */
const KIND_OK: Readonly<Record<Type["kind"], (v: unknown) => boolean>> = {
  string: (v) => typeof v === "string",
  boolean: (v) => typeof v === "boolean",
  integer: (v) => Number.isInteger(v),
  list: (v) => Array.isArray(v),
  object: (v) => isObject(v),
};

function checkValue(spec: Spec, out: IgnitionProblem[], v: unknown, t: Type, path: string): void {
  const ok = KIND_OK[t.kind](v);
  let message: string | undefined;
  if (!ok) message = `got ${describe(v)}, want ${t.kind}`;
  else if (t.kind === "list" && Array.isArray(v)) for (const [i, item] of v.entries()) checkValue(spec, out, item, t.of, `${path}/${i}`);
  else if (t.kind === "object" && isObject(v)) checkObject(spec, out, v, t.name, path);
  else if (t.kind === "string" && t.check !== undefined && typeof v === "string") message = STRING_CHECKS[t.check](v, spec);
  else if (t.kind === "integer" && t.check === "mode" && typeof v === "number") message = checkMode(v, spec);
  if (message !== undefined) out.push({ path, message });
}

/** Keys in document order, then missing required keys, duplicates in its lists, and cross-key rules. */
function checkObject(spec: Spec, out: IgnitionProblem[], o: Json, name: string, path: string): void {
  const fields: ObjectSpec = spec.objects[name] ?? {};
  for (const [key, value] of Object.entries(o)) {
    const p = `${path}/${escapeKey(key)}`;
    const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (field === undefined) out.push({ path: p, message: unknownKey(spec, name, key, fields) });
    else if (field.required && value === "") out.push({ path: p, message: `got string "", want a non-empty string` });
    else if (field.required && Array.isArray(value) && value.length === 0)
      out.push({ path: p, message: "got an empty list, want at least one entry" });
    else if (value !== null) checkValue(spec, out, value, field.type, p); // null is absence, as for Ignition's decoder
  }
  for (const [key, field] of Object.entries(fields)) {
    if (field.required && (o[key] === undefined || o[key] === null))
      out.push({ path: `${path}/${escapeKey(key)}`, message: `missing required key ${quote(key)}` });
  }
  const known: Json = Object.fromEntries(Object.entries(o).filter(([key]) => Object.hasOwn(fields, key)));
  checkUnique(out, known, fields, path);
  const rule = Object.hasOwn(RULES, name) ? RULES[name] : undefined;
  rule?.(known, path, out);
}

function unknownKey(spec: Spec, name: string, key: string, fields: ObjectSpec): string {
  const later = SPECS.slice(SPECS.indexOf(spec) + 1).find((s) => Object.hasOwn(s.objects[name] ?? {}, key));
  if (later !== undefined) return `unknown key ${quote(key)} in spec ${spec.version}: it needs spec ${later.version}`;
  const close = closest(key, Object.keys(fields));
  return `unknown key ${quote(key)}${close === undefined ? "" : `; did you mean ${quote(close)}?`}`;
}

/** Duplicate entries in the object's unique lists; lists sharing a scope share one namespace. */
function checkUnique(out: IgnitionProblem[], o: Json, fields: ObjectSpec, path: string): void {
  const seen = new Map<string, Map<string, string>>();
  for (const [key, value] of Object.entries(o)) {
    const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (field?.type.kind !== "list" || field.type.unique === undefined || !Array.isArray(value)) continue;
    const { key: by, scope } = field.type.unique;
    const firsts = seen.get(scope) ?? new Map<string, string>();
    seen.set(scope, firsts);
    value.forEach((item: unknown, i) => {
      const at = `${path}/${escapeKey(key)}/${i}${by === undefined ? "" : `/${escapeKey(by)}`}`;
      const id = by === undefined ? item : isObject(item) ? item[by] : undefined;
      if (typeof id !== "string" || id === "") return;
      const first = firsts.get(id);
      if (first === undefined) firsts.set(id, at);
      else out.push({ path: at, message: `duplicate ${by ?? "entry"} ${quote(id)}, first at ${first}` });
    });
  }
}

type Rule = (o: Json, path: string, out: IgnitionProblem[]) => void;

/** A resource's hash needs a source; its httpHeaders need an http(s) source. */
const resourceRule: Rule = (o, path, out) => {
  const source = typeof o.source === "string" ? o.source : undefined;
  if (isObject(o.verification) && typeof o.verification.hash === "string" && source === undefined)
    out.push({ path: `${path}/verification/hash`, message: "got a hash without a source, want a source to verify" });
  if (Array.isArray(o.httpHeaders) && o.httpHeaders.length > 0 && !/^https?:/i.test(source ?? "")) {
    const got = source === undefined ? "no source" : `source ${quote(source)}`;
    out.push({ path: `${path}/httpHeaders`, message: `got httpHeaders with ${got}, want an http or https source` });
  }
};

/** Cross-key rules by object name (coreos/ignition's Validate methods). */
const RULES: Readonly<Record<string, Rule>> = {
  Resource: resourceRule,
  ConfigResource: resourceRule,
  SourcedResource: resourceRule,
  File: (o, path, out) => {
    if (o.overwrite === true && !(isObject(o.contents) && typeof o.contents.source === "string"))
      out.push({ path: `${path}/overwrite`, message: "got overwrite true without contents.source, want a source" });
  },
  Owner: (o, path, out) => {
    if (typeof o.id === "number" && typeof o.name === "string" && o.name !== "")
      out.push({ path, message: `got both id ${o.id} and name ${quote(o.name)}, want one of them` });
  },
  Filesystem: (o, path, out) => {
    const format = typeof o.format === "string" ? o.format : "";
    const label = typeof o.label === "string" ? o.label : "";
    const max = Object.hasOwn(LABEL_MAX, format) ? LABEL_MAX[format] : undefined;
    if (max !== undefined && byteLength(label) > max)
      out.push({ path: `${path}/label`, message: `got a label of ${byteLength(label)} bytes, want at most ${max} for ${format}` });
    if (format !== "") return;
    const set = ["path", "label", "uuid"].filter((k) => typeof o[k] === "string" && o[k] !== "");
    if (o.wipeFilesystem === true) set.push("wipeFilesystem");
    if (Array.isArray(o.options) && o.options.length > 0) set.push("options");
    if (set.length > 0) out.push({ path: `${path}/format`, message: `got no format, want one since ${orList(set.map(quote))} is set` });
  },
  Partition: (o, path, out) => {
    const numbered = typeof o.number === "number" && o.number >= 1;
    if (!numbered && !(typeof o.label === "string" && o.label !== ""))
      out.push({ path, message: "got neither a number >= 1 nor a label, want one of them to find the partition" });
  },
};

/** Longest filesystem label per format (mkfs man pages, as coreos/ignition checks them). */
const LABEL_MAX: Readonly<Record<string, number>> = { ext4: 16, btrfs: 256, xfs: 12, swap: 15, vfat: 11 };

const STRING_CHECKS: Readonly<Record<StringCheck, (v: string, spec: Spec) => string | undefined>> = {
  absPath: (v) => {
    if (!v.startsWith("/")) return `got ${quote(v)}, want an absolute path`;
    const clean = cleanPath(v);
    return clean === v ? undefined : `got ${quote(v)}, want a clean path like ${quote(clean)}`;
  },
  absPathOrEmpty: (v, spec) => (v === "" ? undefined : STRING_CHECKS.absPath(v, spec)),
  url: checkUrl,
  tangUrl: (v) => (/^https?:\/\//i.test(v) ? undefined : `got ${quote(v)}, want an http or https URL`),
  hash: checkHash,
  unitName: (v) => {
    if (UNIT_SUFFIXES.some((s) => v.endsWith(s))) return undefined;
    const dot = v.lastIndexOf(".");
    const fix = dot < 0 ? undefined : closest(v.slice(dot), UNIT_SUFFIXES);
    const hint = fix === undefined ? "" : `; did you mean ${quote(v.slice(0, dot) + fix)}?`;
    return `got ${quote(v)}, want a name ending in ${orList(UNIT_SUFFIXES)}${hint}`;
  },
  dropinName: (v) => (v.endsWith(".conf") ? undefined : `got ${quote(v)}, want a name ending in ".conf"`),
  compression: (v) => (v === "" || v === "gzip" ? undefined : `got ${quote(v)}, want "gzip" or ""`),
  fsFormat: (v, spec) =>
    v === "" || spec.formats.includes(v)
      ? undefined
      : `got ${quote(v)}, want ${orList(spec.formats)}${needs(spec, (s) => s.formats.includes(v), v)}`,
  guid: (v) =>
    v === "" || /^[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$/.test(v)
      ? undefined
      : `got ${quote(v)}, want a GUID like "0FC63DAF-8483-4772-8E79-3D69D8477DE4"`,
  partLabel: (v) => {
    if (v.includes(":")) return `got ${quote(v)}, want a label without ":" (sgdisk cuts it there)`;
    return byteLength(v) > 36 ? `got a label of ${byteLength(v)} bytes, want at most 36` : undefined;
  },
  headerValue: (v) => (v === "" ? `got "", want a header value (leave value out to remove the header)` : undefined),
  raidLevel: (v) => (RAID_LEVELS.includes(v) ? undefined : `got ${quote(v)}, want ${orList(RAID_LEVELS.filter((l) => !/^\d/.test(l)))}`),
};

/** A file or directory mode: 0 to 0o7777, special bits only from 3.4.0, not octal digits written as decimal. */
function checkMode(v: number, spec: Spec): string | undefined {
  if (v < 0 || v > 0o7777) return `got mode ${v}, want 0 to 4095 (0o7777)`;
  const octal = `0o${v.toString(8)}`;
  if (v >= 0o1000 && /^[0-7]{3}$/.test(String(v)))
    return `got mode ${v} (${octal}), want ${Number.parseInt(String(v), 8)}: modes are decimal, and 0${v} octal is ${Number.parseInt(String(v), 8)}`;
  if (!spec.specialModeBits && (v & 0o7000) !== 0)
    return `got mode ${v} (${octal}), want no setuid, setgid or sticky bits: they need spec 3.4.0`;
  return undefined;
}

/** `<type>-<lower-case hex digest>` of a type the spec knows; Ignition compares digests as lower-case hex. */
function checkHash(v: string, spec: Spec): string | undefined {
  const types = Object.keys(spec.hashes);
  const dash = v.indexOf("-");
  if (dash < 0) return `got ${quote(v)}, want <type>-<hex digest> with type ${orList(types)}`;
  const type = v.slice(0, dash);
  const digest = v.slice(dash + 1);
  const length = Object.hasOwn(spec.hashes, type) ? spec.hashes[type] : undefined;
  if (length === undefined)
    return `got hash type ${quote(type)}, want ${orList(types)}${needs(spec, (s) => Object.hasOwn(s.hashes, type), type)}`;
  const bad = /[^0-9a-f]/.exec(digest)?.[0];
  if (bad !== undefined) return `got ${quote(bad)} in ${type} digest, want ${length} lower-case hex digits`;
  if (digest.length !== length) return `got ${digest.length} hex digits in ${type} hash, want ${length}`;
  return undefined;
}

/** A resource source: empty, or a URL whose scheme the spec allows, checked as coreos/ignition's validateURL. */
function checkUrl(v: string, spec: Spec): string | undefined {
  if (v === "") return undefined; // an empty source means an empty file
  if (/[\u0000-\u001f\u007f]/.test(v)) return `got ${quote(v)}, want a URL without control characters`;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(v);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === undefined) return `got ${quote(v)}, want a URL with scheme ${orList(spec.schemes)}`;
  if (!spec.schemes.includes(scheme))
    return `got scheme ${quote(scheme)} in ${quote(v)}, want ${orList(spec.schemes)}${needs(spec, (s) => s.schemes.includes(scheme), scheme)}`;
  if (scheme === "data") return checkDataUrl(v);
  if (/%(?![0-9A-Fa-f]{2})/.test(v)) return `got a bad percent-escape in ${quote(v)}, want %XX`;
  if ((scheme === "s3" || scheme === "arn") && /[?&]versionId(=)?(?:[&#]|$)/.test(v))
    return `got an empty versionId in ${quote(v)}, want versionId=<id>`;
  if (scheme === "arn") {
    const parts = v.split(":");
    if (parts.length < 6 || parts[2] !== "s3" || !parts.slice(5).join(":").includes("/"))
      return `got ${quote(v)}, want an S3 object ARN like "arn:aws:s3:::bucket/key"`;
  }
  return undefined;
}

const TOKEN = "[!#$%&'*+.^_`{|}~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`);
const PARAMETER = new RegExp(`^${TOKEN}=[^;]*$`);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URI_CHARS = /^(?:[A-Za-z0-9\-_.!~*'();/?:@&=+$,]|%[0-9A-Fa-f]{2})*$/;

/** RFC 2397: `data:[<media type>][;<attribute>=<value>]*[;base64],<data>`, data percent-encoded or base64. */
function checkDataUrl(v: string): string | undefined {
  const example = `want a data URL like "data:,hello%20world" or "data:;base64,aGVsbG8="`;
  const comma = v.indexOf(",");
  if (!v.startsWith("data:") || comma < 0) return `got ${quote(v)}, ${example}`;
  const [type = "", ...params] = v.slice(5, comma).split(";");
  if (type !== "" && !MEDIA_TYPE.test(type)) return `got media type ${quote(type)} in ${quote(v)}, want type/subtype`;
  const base64 = params.at(-1) === "base64";
  if (base64) params.pop();
  const bad = params.find((p) => !PARAMETER.test(p));
  if (bad !== undefined) return `got parameter ${quote(bad)} in ${quote(v)}, want attribute=value or a final "base64"`;
  const data = v.slice(comma + 1);
  if (base64 && !BASE64.test(data)) return `got invalid base64 in ${quote(v)}, want padded standard base64`;
  if (!base64 && !URI_CHARS.test(data)) return `got ${quote(v)}, want its data percent-encoded (a space is %20) or base64`;
  return undefined;
}

/** `; <thing> needs spec X` when a later spec allows what this one does not. */
function needs(spec: Spec, allows: (s: Spec) => boolean, thing: string): string {
  const later = SPECS.slice(SPECS.indexOf(spec) + 1).find(allows);
  return later === undefined ? "" : `; ${thing} needs spec ${later.version}`;
}

/** Go's path.Clean for an absolute path. */
function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}

/** The closest candidate within a third of the word's length (at least 2), as `_suggest.ts` has it. */
function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** UTF-8 length, which is what Ignition (Go's len) measures labels in. */
function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value for a message: its JSON type, and the value itself when it is short. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "an empty list" : "list";
  if (typeof v === "object") return "object";
  if (typeof v === "string") return `string ${quote(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** A JSON-quoted string, cut to 60 characters so a long data URL stays on one short line. */
function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}

function orList(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** RFC 6901: `~` is `~0`, `/` is `~1`. */
function escapeKey(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
