/** `vaquero validate [PATH|GIT-URL] [--ref REF] [--format text|json|github] [--schema]`. */
import { isAbsolute, normalize, relative } from "node:path";
import * as v from "valibot";
import { type Io, useColor } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, LOG_LEVEL_FLAG, LogLevel, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { sotJsonSchema } from "../../pkg/sot/index.ts";
import { compileSource } from "../common/index.ts";
import { formatGithub, formatJson, formatText } from "./_format.ts";

/** Flags of `validate`. */
export const VALIDATE_FLAGS: FlagSpec[] = [
  { name: "ref", kind: "string", arg: "REF", help: "branch, tag or commit to read (git sources only; default HEAD)" },
  {
    name: "format",
    kind: "string",
    arg: "FORMAT",
    choices: ["text", "json", "github"],
    default: "text",
    help: "output: text, json or github",
  },
  { name: "schema", kind: "bool", help: "print the JSON Schema of SoT documents and exit" },
  { name: "timeout", kind: "number", arg: "SECONDS", default: 30, help: "network timeout for remote repositories" },
  LOG_LEVEL_FLAG,
];

const Schema = v.object({
  ref: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  format: v.picklist(["text", "json", "github"]),
  schema: v.optional(v.boolean()),
  "log-level": LogLevel,
  timeout: v.pipe(v.number(), v.minValue(1, "must be at least 1"), v.maxValue(3600, "must be at most 3600")),
});

const SYNOPSIS = "[PATH|GIT-URL] [--ref REF] [--format text|json|github] [--schema]";
const DESCRIPTION = `Loads, checks and renders a whole Source of Truth for every host, and compiles its release.
Exit 0 when valid (warnings allowed), 1 when it has errors, 2 when it could not be read.
PATH defaults to the current directory; a git repository is read at --ref, a plain directory as files.`;

/** Runs `validate`; returns the exit code. */
export async function runValidate(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseConfig("validate", argv, VALIDATE_FLAGS, { env: io.env });
  if (parsed.help) {
    io.out(helpText("validate", SYNOPSIS, DESCRIPTION, VALIDATE_FLAGS));
    return 0;
  }
  const cfg = validateConfig("validate", Schema, parsed);
  if (cfg.schema) {
    io.out(`${JSON.stringify(sotJsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    io.err(`vaquero validate: one PATH or GIT-URL at most, got ${parsed.positionals.length} (see vaquero validate --help)\n`);
    return 2;
  }
  const location = parsed.positionals[0] ?? ".";
  return compileSource(location, cfg, io, (result, tree) => {
    if (cfg.format === "json") io.out(formatJson(result.findings));
    else if (cfg.format === "github") {
      // Annotations name files relative to the repository being checked out, i.e. the working directory.
      const rel = isAbsolute(location) ? relative(process.cwd(), location) : location;
      const prefix = /^[a-z]+:\/\//i.test(location) ? "" : rel.startsWith("..") ? location : normalize(rel).replace(/^\.$/, "");
      io.out(formatGithub(result.findings, prefix));
      io.err(formatText(result, tree.location, false).split("\n").filter(Boolean).pop() ?? "");
      io.err("\n");
    } else io.out(formatText(result, tree.location, useColor(io, io.outIsTTY)));
    return result.valid ? 0 : 1;
  });
}
