/**
 * Turns a {@link SourceTree} into a model of typed documents, each remembering its file and positions, and
 * reports every layout, syntax and schema problem as a finding.
 */
import * as v from "valibot";
import { type Finding, type FindingCode, finding, type Where } from "./_findings.ts";
import {
  type BootDoc,
  BootSchema,
  type EnvDoc,
  EnvSchema,
  entryNames,
  type HostDoc,
  HostSchema,
  ID_RE,
  issueCode,
  type OsDoc,
  OsSchema,
  UNATTENDED_TYPES,
  type WorkflowDoc,
  WorkflowSchema,
} from "./_schema.ts";
import { didYouMean } from "./_suggest.ts";
import type { SourceTree } from "./_tree.ts";
import { type DocPath, parseYamlFile, type YamlDoc } from "./_yaml.ts";

/** A typed value with where it came from. */
export interface Located<T> {
  value: T;
  file: string;
  doc: YamlDoc;
  /** Path of the value inside its document (`[]` for a whole document, `["hosts", 3]` for a host). */
  base: DocPath;
}

/** The unattended asset types. */
export type AssetType = (typeof UNATTENDED_TYPES)[number];

/** A template file under `assets/`. */
export interface AssetFile {
  type: AssetType;
  /** Path under `assets/<type>/` (for snippets: under `assets/<type>/snippets/`). */
  name: string;
  file: string;
  text: string;
  snippet: boolean;
}

/** One site: its env document and its hosts. */
export interface SiteModel {
  id: string;
  env?: Located<EnvDoc>;
  hosts: Located<HostDoc>[];
  /** Files of the site folder, for findings that point at the site. */
  files: string[];
}

/** Every document of a SoT that passed its schema. */
export interface Model {
  tree: SourceTree;
  os: Map<string, Located<OsDoc>>;
  boots: Map<string, Located<BootDoc>>;
  workflows: Map<string, Located<WorkflowDoc>>;
  sites: Map<string, SiteModel>;
  /** Assets by `<type>/<name>`. */
  assets: Map<string, AssetFile>;
  /** Snippets by `<type>/<name>`. */
  snippets: Map<string, AssetFile>;
  /** Ids declared by documents that failed their schema: references to them are not reported again. */
  brokenIds: { os: Set<string>; boot: Set<string>; workflow: Set<string> };
  /** Ids named by documents that failed their schema: not reported as unused. */
  brokenRefs: { os: Set<string>; boot: Set<string>; asset: Set<string> };
  /** Every parsed YAML document, for the secret scan. */
  docs: { file: string; doc: YamlDoc }[];
}

const DOC_EXT = /\.(ya?ml|json)$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Where a path of a document is, as a finding position. */
export function whereAt(file: string, doc: YamlDoc, path: DocPath, key = false): Where {
  const p = key ? doc.keyAt(path) : doc.at(path);
  return { file, line: p.line, column: p.column };
}

/** Line 1 of a file. */
export function fileStart(file: string): Where {
  return { file, line: 1, column: 1 };
}

/** Decodes UTF-8 text; `undefined` for binary content (invalid UTF-8 or NUL bytes). */
export function decodeText(data: Uint8Array): string | undefined {
  if (data.includes(0)) return undefined;
  try {
    return decoder.decode(data);
  } catch {
    return undefined;
  }
}

/** Builds the model of a tree. Never throws on content: everything wrong becomes a finding. */
export function loadModel(tree: SourceTree): { model: Model; findings: Finding[] } {
  const findings: Finding[] = [];
  const add = (code: FindingCode, where: Where, message: string): void => {
    findings.push(finding(code, where, message));
  };
  const model: Model = {
    tree,
    os: new Map(),
    boots: new Map(),
    workflows: new Map(),
    sites: new Map(),
    assets: new Map(),
    snippets: new Map(),
    brokenIds: { os: new Set(), boot: new Set(), workflow: new Set() },
    brokenRefs: { os: new Set(), boot: new Set(), asset: new Set() },
    docs: [],
  };

  const site = (id: string): SiteModel => {
    let s = model.sites.get(id);
    if (!s) {
      s = { id, hosts: [], files: [] };
      model.sites.set(id, s);
    }
    return s;
  };

  for (const f of tree.files) {
    const parts = f.path.split("/");
    const base = parts[parts.length - 1] ?? "";
    if (parts.some((p) => p.startsWith(".")) || /^README/i.test(base)) continue;
    if (f.problem === "symlink-escape") {
      add("FILE_SYMLINK_ESCAPE", fileStart(f.path), `${f.path}: symbolic link to "${f.target}" leaves the SoT tree`);
      continue;
    }
    if (f.problem === "too-large") {
      add("FILE_TOO_LARGE", fileStart(f.path), `${f.path}: ${f.size} bytes is over the 16 MiB limit of a SoT file`);
      continue;
    }
    const top = parts[0];
    if (top === "assets") {
      loadAsset(f.path, parts, f.data, add, model);
      continue;
    }
    let kind: "os" | "boot" | "workflow" | "env" | "cluster" | undefined;
    if ((top === "os" || top === "boot" || top === "workflows") && parts.length >= 2 && DOC_EXT.test(base)) {
      kind = top === "workflows" ? "workflow" : top;
    } else if (top === "sites" && parts.length === 3 && DOC_EXT.test(base)) {
      if (/^env\.(ya?ml|json)$/.test(base)) kind = "env";
      else if (base.startsWith("cluster-")) kind = "cluster";
    }
    if (!kind) {
      const why =
        top === "os" || top === "boot" || top === "workflows" || top === "sites"
          ? "is not a .yml, .yaml or .json document where one is expected (sites/<id>/env.yml, sites/<id>/cluster-*.yml)"
          : "is outside the SoT layout (os/, boot/, workflows/, assets/, sites/)";
      add("FILE_UNEXPECTED", fileStart(f.path), `${f.path} ${why}`);
      continue;
    }
    if (kind === "env" || kind === "cluster") site(parts[1] ?? "").files.push(f.path);
    const text = f.data ? decodeText(f.data) : undefined;
    if (text === undefined) {
      add("FILE_BINARY", fileStart(f.path), `${f.path} is not UTF-8 text`);
      continue;
    }
    const parsed = parseYamlFile(text);
    for (const p of parsed.problems) {
      add(
        p.kind === "too-deep" ? "YAML_TOO_DEEP" : "YAML_SYNTAX",
        { file: f.path, ...p.pos },
        `${f.path}: ${p.kind === "too-deep" ? `${p.message} (limit 64)` : p.message}`,
      );
    }
    for (const doc of parsed.docs) {
      model.docs.push({ file: f.path, doc });
      if (doc.value === null || doc.value === undefined) continue; // an empty document (e.g. after a trailing ---)
      if (kind === "cluster") loadCluster(f.path, doc, site(parts[1] ?? ""), add);
      else if (kind === "env") {
        const s = site(parts[1] ?? "");
        const env = checkDoc(EnvSchema, "env", f.path, doc, [], add);
        if (!env) continue;
        if (s.env) {
          add("ENV_DUPLICATE", whereAt(f.path, doc, []), `site "${s.id}": a second env document; the first is in ${s.env.file}`);
          continue;
        }
        s.env = { value: env, file: f.path, doc, base: [] };
        if (env.id !== s.id) {
          add("ENV_ID_MISMATCH", whereAt(f.path, doc, ["id"]), `site folder "${s.id}" holds env id "${env.id}"; they must be equal`);
        }
      } else loadNamed(kind, f.path, doc, model, add);
    }
  }
  for (const s of model.sites.values()) {
    if (!s.env) {
      const file = s.files.find((x) => !/\/env\.(ya?ml|json)$/.test(x)) ?? s.files[0] ?? `sites/${s.id}`;
      const hasEnvFile = s.files.some((x) => /\/env\.(ya?ml|json)$/.test(x));
      if (!hasEnvFile) add("ENV_MISSING", fileStart(file), `site "${s.id}" has no sites/${s.id}/env.yml`);
    }
    if (!ID_RE.test(s.id)) {
      add("ID_INVALID", fileStart(s.files[0] ?? `sites/${s.id}`), `site folder "${s.id}" is not a valid id`);
    }
  }
  return { model, findings };
}

type Add = (code: FindingCode, where: Where, message: string) => void;

function loadAsset(path: string, parts: string[], data: Uint8Array | undefined, add: Add, model: Model): void {
  const type = parts[1] as AssetType;
  if (parts.length < 3 || !(UNATTENDED_TYPES as readonly string[]).includes(type)) {
    add(
      "FILE_UNEXPECTED",
      fileStart(path),
      `${path}: assets are kept in assets/<type>/ with type one of ${UNATTENDED_TYPES.join(", ")}${didYouMean(parts[1] ?? "", UNATTENDED_TYPES)}`,
    );
    return;
  }
  const text = data ? decodeText(data) : undefined;
  if (text === undefined) {
    add("FILE_BINARY", fileStart(path), `${path} is not UTF-8 text; assets are templates`);
    return;
  }
  const snippet = parts[2] === "snippets" && parts.length >= 4;
  const name = parts.slice(snippet ? 3 : 2).join("/");
  const asset: AssetFile = { type, name, file: path, text, snippet };
  (snippet ? model.snippets : model.assets).set(`${type}/${name}`, asset);
}

const LABEL = { os: "os", boot: "boot", workflow: "workflow", env: "site", cluster: "cluster" } as const;

function loadNamed(kind: "os" | "boot" | "workflow", file: string, doc: YamlDoc, model: Model, add: Add): void {
  const schema = kind === "os" ? OsSchema : kind === "boot" ? BootSchema : WorkflowSchema;
  const value = checkDoc(schema, kind, file, doc, [], add);
  const map = (kind === "os" ? model.os : kind === "boot" ? model.boots : model.workflows) as Map<
    string,
    Located<OsDoc | BootDoc | WorkflowDoc>
  >;
  if (!value) {
    const raw = (doc.value ?? {}) as { id?: unknown; os?: unknown; stages?: unknown; unattended?: { type?: unknown; use?: unknown } };
    if (typeof raw.id === "string") model.brokenIds[kind].add(raw.id);
    if (typeof raw.os === "string") model.brokenRefs.os.add(raw.os);
    if (Array.isArray(raw.stages)) for (const st of raw.stages) if (typeof st === "string") model.brokenRefs.boot.add(st);
    if (typeof raw.unattended?.type === "string" && typeof raw.unattended.use === "string") {
      model.brokenRefs.asset.add(`${raw.unattended.type}/${raw.unattended.use}`);
    }
    return;
  }
  const prev = map.get(value.id);
  if (prev) {
    add("DUPLICATE_ID", whereAt(file, doc, ["id"]), `${kind} "${value.id}" is declared twice; first in ${prev.file}`);
    return;
  }
  map.set(value.id, { value, file, doc, base: [] });
}

function loadCluster(file: string, doc: YamlDoc, site: SiteModel, add: Add): void {
  const v0 = doc.value;
  if (typeof v0 !== "object" || v0 === null || Array.isArray(v0)) {
    add("SCHEMA_TYPE", whereAt(file, doc, []), `${file}: a cluster document is a map {hosts: [...]}`);
    return;
  }
  for (const k of Object.keys(v0)) {
    if (k !== "hosts") {
      add(
        "SCHEMA_UNKNOWN_FIELD",
        whereAt(file, doc, [k], true),
        `${file}: cluster documents hold only "hosts", not "${k}"${didYouMean(k, ["hosts"])}`,
      );
    }
  }
  const hosts = (v0 as { hosts?: unknown }).hosts;
  if (hosts === undefined) {
    add("SCHEMA_MISSING_FIELD", whereAt(file, doc, []), `${file}: cluster document has no "hosts" list`);
    return;
  }
  if (!Array.isArray(hosts)) {
    add("SCHEMA_TYPE", whereAt(file, doc, ["hosts"]), `${file}: "hosts" must be a list`);
    return;
  }
  hosts.forEach((_, i) => {
    const host = checkDoc(HostSchema, "host", file, doc, ["hosts", i], add);
    if (host) site.hosts.push({ value: host, file, doc, base: ["hosts", i] });
  });
}

const SECRET_KEYS = /^(password|passwd|secret)$/i;

/** Validates the value at `base` of a document; reports every issue; returns the value when valid. */
function checkDoc<S extends v.GenericSchema>(
  schema: S,
  kind: keyof typeof LABEL | "host",
  file: string,
  doc: YamlDoc,
  base: DocPath,
  add: Add,
): v.InferOutput<S> | undefined {
  let value: unknown = doc.value;
  for (const k of base) value = (value as Record<string | number, unknown>)[k];
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const idOf = (value as { id?: unknown; name?: unknown } | null) ?? {};
  const ident = typeof idOf.id === "string" ? idOf.id : typeof idOf.name === "string" ? idOf.name : undefined;
  const label = kind === "host" ? "host" : LABEL[kind];
  const who = ident ? `${label} "${ident}"` : `${label} in ${file}`;
  for (const issue of r.issues) {
    const rel = (issue.path ?? []).map((p) => p.key as string | number);
    const path = [...base, ...rel];
    const field = rel.join(".");
    const { code, text } = issueCode(issue.message);
    if (issue.type === "strict_object" && issue.input === undefined && issue.expected !== "never") {
      const parent = path.slice(0, -1);
      add("SCHEMA_MISSING_FIELD", whereAt(file, doc, parent), `${who}: required field "${field}" is missing`);
    } else if (issue.type === "strict_object" && issue.expected === "never") {
      const key = String(rel[rel.length - 1]);
      if (SECRET_KEYS.test(key)) continue; // reported by the secret scan as SECRET_LITERAL
      const names = entryNames(schemaAt(schema, value, rel.slice(0, -1))) ?? [];
      add("SCHEMA_UNKNOWN_FIELD", whereAt(file, doc, path, true), `${who}: unknown field "${field}"${didYouMean(key, names)}`);
    } else if (code) {
      add(code as FindingCode, whereAt(file, doc, path), `${who}: ${field || "value"} ${JSON.stringify(issue.input)}: ${text}`);
    } else {
      add("SCHEMA_TYPE", whereAt(file, doc, path), `${who}: ${field || "document"}: got ${issue.received}, want ${issue.expected}`);
    }
  }
  return undefined;
}

/** The schema that validates the value at `path` below `schema`, following objects, arrays and lazy schemas. */
function schemaAt(schema: unknown, value: unknown, path: readonly (string | number)[]): unknown {
  let s = schema as Record<string, unknown> | undefined;
  let val = value;
  for (const k of path) {
    s = unwrap(s, val);
    if (!s) return undefined;
    val = (val as Record<string | number, unknown> | undefined)?.[k];
    if (s.type === "strict_object") s = (s.entries as Record<string, Record<string, unknown>>)[String(k)];
    else if (s.type === "array") s = s.item as Record<string, unknown>;
    else return undefined;
  }
  return unwrap(s, val);
}

function unwrap(s: Record<string, unknown> | undefined, val: unknown): Record<string, unknown> | undefined {
  let cur = s;
  for (let i = 0; cur && i < 8; i++) {
    if (cur.type === "optional" || cur.type === "nullish") cur = cur.wrapped as Record<string, unknown>;
    else if (cur.type === "lazy") cur = (cur.getter as (x: unknown) => Record<string, unknown>)(val);
    else break;
  }
  return cur;
}

/** Line and column of a character offset in a text. */
export function textWhere(file: string, text: string, offset: number): Where {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    last = i;
  }
  return { file, line, column: offset - last };
}
