/**
 * Command-line configuration: one flag table per verb, read with the precedence flags > `VAQUERO_<FLAG>`
 * environment variables (derived mechanically: `--data-dir` → `VAQUERO_DATA_DIR`) > `--config FILE` (YAML) >
 * defaults, then validated once with a valibot schema. Errors are `VaqueroError`s with exit code 2 and a
 * one-line message naming the flag and where its value came from.
 *
 * @example
 * const flags = [{ name: "format", kind: "string", choices: ["text", "json"], default: "text", help: "output" }];
 * const cfg = parseConfig("validate", ["--format", "json", "examples/sot"], flags, { env: process.env });
 * cfg.values.format; // "json"; cfg.positionals: ["examples/sot"]
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { parse as parseYaml } from "yaml";
import { VaqueroError } from "../errors/index.ts";

/** How a flag's value is read. */
export type FlagKind = "string" | "bool" | "list" | "number";

/** One flag of a verb. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `data-dir`. */
  name: string;
  kind: FlagKind;
  help: string;
  /** Value placeholder in help, e.g. `DIR`. */
  arg?: string;
  default?: string | boolean | number | string[];
  /** Allowed values for string flags. */
  choices?: readonly string[];
  /** Short alias, e.g. `h`. */
  short?: string;
}

/** Parsed configuration of one verb. */
export interface ParsedConfig {
  values: Record<string, string | boolean | number | string[] | undefined>;
  positionals: string[];
  /** Where each value came from: `flag`, `env VAQUERO_X`, `config FILE`, `default`. */
  sources: Record<string, string>;
  help: boolean;
}

/** Options of {@link parseConfig}. */
export interface ParseOptions {
  env?: Record<string, string | undefined>;
  /** Reads a config file (for tests); default readFileSync. */
  readFile?: (path: string) => string;
}

/** `--data-dir` → `VAQUERO_DATA_DIR`. */
export function envName(flag: string): string {
  return `VAQUERO_${flag.toUpperCase().replace(/-/g, "_")}`;
}

const usage = (verb: string, msg: string): VaqueroError =>
  new VaqueroError("USAGE", `vaquero ${verb}: ${msg} (see vaquero ${verb} --help)`, { exitCode: 2 });

/** Parses argv for one verb. `--config FILE` and `--help` are understood by every verb. */
export function parseConfig(verb: string, argv: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): ParsedConfig {
  const env = options.env ?? {};
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const fromFlags: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  let configFile: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const rawName = arg.startsWith("--") ? arg.slice(2, eq === -1 ? undefined : eq) : arg.slice(1, eq === -1 ? undefined : eq);
    const spec = arg.startsWith("--") ? byName.get(rawName) : byShort.get(rawName);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    // A verb with a `config` flag of its own (preview --config) keeps it; its config file is VAQUERO_CONFIG.
    if (rawName === "config" && arg.startsWith("--") && !byName.has("config")) {
      if (inline === undefined) inline = argv[++i];
      if (inline === undefined) throw usage(verb, "--config needs a FILE");
      configFile = inline;
      continue;
    }
    if (!spec) {
      const names = specs.map((s) => s.name);
      const near = names.find((n) => n.startsWith(rawName) || rawName.startsWith(n));
      throw usage(verb, `unknown flag ${arg.slice(0, eq === -1 ? undefined : eq)}${near ? `; did you mean --${near}?` : ""}`);
    }
    if (spec.kind === "bool") {
      if (inline === undefined) fromFlags[spec.name] = true;
      else if (inline === "true" || inline === "false") fromFlags[spec.name] = inline === "true";
      else throw usage(verb, `--${spec.name} takes no value or true|false, got "${inline}"`);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw usage(verb, `--${spec.name} needs a value${spec.arg ? ` (${spec.arg})` : ""}`);
    if (spec.kind === "list") {
      const prev = fromFlags[spec.name];
      fromFlags[spec.name] = [...(Array.isArray(prev) ? prev : []), ...splitList(value)];
    } else fromFlags[spec.name] = value;
  }
  configFile ??= env.VAQUERO_CONFIG;
  const fileValues = configFile ? readConfigFile(verb, configFile, specs, options.readFile) : {};
  const values: ParsedConfig["values"] = {};
  const sources: Record<string, string> = {};
  for (const spec of specs) {
    let raw: unknown;
    let source: string;
    if (spec.name in fromFlags) {
      raw = fromFlags[spec.name];
      source = `flag --${spec.name}`;
    } else if (spec.name !== "config" && env[envName(spec.name)] !== undefined) {
      // A verb's own `--config` switch (preview) is not read from VAQUERO_CONFIG: that names the config file.
      raw = env[envName(spec.name)];
      source = `env ${envName(spec.name)}`;
    } else if (spec.name in fileValues) {
      raw = fileValues[spec.name];
      source = `config ${configFile}`;
    } else {
      raw = spec.default;
      source = "default";
    }
    values[spec.name] = raw === undefined ? undefined : coerce(verb, spec, raw, source);
    sources[spec.name] = source;
  }
  return { values, positionals, sources, help };
}

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

function coerce(verb: string, spec: FlagSpec, raw: unknown, source: string): string | boolean | number | string[] {
  const bad = (want: string): VaqueroError => usage(verb, `--${spec.name} from ${source}: got ${JSON.stringify(raw)}, want ${want}`);
  switch (spec.kind) {
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0" || raw === "") return false;
      throw bad("true or false");
    case "number": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isSafeInteger(n)) throw bad("a whole number");
      return n;
    }
    case "list":
      if (Array.isArray(raw) && raw.every((x) => typeof x === "string")) return raw;
      if (typeof raw === "string") return splitList(raw);
      throw bad("a comma-separated list");
    default: {
      if (typeof raw !== "string" && typeof raw !== "number") throw bad("a string");
      const s = String(raw);
      if (spec.choices && !spec.choices.includes(s)) throw bad(spec.choices.join("|"));
      return s;
    }
  }
}

function readConfigFile(
  verb: string,
  file: string,
  specs: readonly FlagSpec[],
  read = (p: string) => readFileSync(p, "utf8"),
): Record<string, unknown> {
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    throw new VaqueroError(
      "CONFIG_UNREADABLE",
      `vaquero ${verb}: cannot read --config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { exitCode: 2 },
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 10 });
  } catch (e) {
    throw new VaqueroError("CONFIG_INVALID", `vaquero ${verb}: --config ${file}: ${(e as Error).message.split("\n")[0]}`, { exitCode: 2 });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new VaqueroError("CONFIG_INVALID", `vaquero ${verb}: --config ${file}: want a map of flag names to values`, { exitCode: 2 });
  }
  const known = new Set(specs.map((s) => s.name));
  for (const k of Object.keys(doc)) {
    if (!known.has(k)) throw new VaqueroError("CONFIG_INVALID", `vaquero ${verb}: --config ${file}: unknown key "${k}"`, { exitCode: 2 });
  }
  return doc as Record<string, unknown>;
}

/** Help text of a verb: usage line, description, flags with defaults and env names. */
export function helpText(verb: string, synopsis: string, description: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  ${s.short ? `-${s.short}, ` : ""}--${s.name}${s.kind === "bool" ? "" : ` ${s.arg ?? "VALUE"}`}`;
    const def =
      s.default !== undefined && s.default !== false
        ? ` (default ${Array.isArray(s.default) ? s.default.join(",") : String(s.default)})`
        : "";
    const env = s.name === "config" ? "" : ` [${envName(s.name)}]`;
    return `${left.padEnd(34)} ${s.help}${def}${env}`;
  });
  return [
    `usage: vaquero ${verb} ${synopsis}`,
    "",
    description,
    "",
    "flags:",
    ...rows,
    specs.some((s) => s.name === "config")
      ? `${"  (config file)".padEnd(34)} read flags from the YAML file named by VAQUERO_CONFIG`
      : `${"  --config FILE".padEnd(34)} read flags from a YAML file [VAQUERO_CONFIG]`,
    `${"  -h, --help".padEnd(34)} show this help`,
    "",
    "Precedence: flags > VAQUERO_* environment variables > --config file > defaults.",
    "",
  ].join("\n");
}

/**
 * Validates parsed values against a verb's valibot schema (the one place configuration is checked) and returns
 * the typed result; the first problem becomes a one-line usage error naming the flag and its source.
 */
export function validateConfig<S extends v.GenericSchema>(verb: string, schema: S, parsed: ParsedConfig): v.InferOutput<S> {
  const r = v.safeParse(schema, parsed.values);
  if (r.success) return r.output;
  const issue = r.issues[0];
  const key = String(issue.path?.[0]?.key ?? "");
  const source = parsed.sources[key] ?? "";
  if (parsed.values[key] === undefined) throw usage(verb, `--${key} is required`);
  throw usage(verb, `--${key}${source ? ` from ${source}` : ""}: ${issue.message}`);
}

/** Log levels, quietest last. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** The `--log-level` flag every verb has; verbs that print an artefact default to `warn`. */
export const LOG_LEVEL_FLAG: FlagSpec = {
  name: "log-level",
  kind: "string",
  arg: "LEVEL",
  choices: LOG_LEVELS,
  default: "warn",
  help: "log level on stderr: trace, debug, info, warn, error, fatal, silent",
};

/** Schema of a log level value. */
export const LogLevel = v.picklist(LOG_LEVELS);
