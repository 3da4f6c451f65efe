/**
 * `password_ref` resolution (SOT.md): `env:NAME` reads the agent's environment, `file:/absolute/path` reads a
 * file on the agent (one trailing newline removed). The SoT never holds the secret; the value is never logged.
 */
import { readFileSync } from "node:fs";
import { VaqueroError } from "../../internal/errors/index.ts";

/** Where secrets come from; injected for tests. */
export interface SecretSources {
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string;
}

const DEFAULT_SOURCES: SecretSources = { env: process.env, readFile: (p) => readFileSync(p, "utf8") };

/** Resolves a `password_ref`. Throws SECRET_UNRESOLVED (exit 2) naming the reference, never the value. */
export function resolvePasswordRef(ref: string, sources: SecretSources = DEFAULT_SOURCES): string {
  const fail = (why: string): VaqueroError =>
    new VaqueroError("SECRET_UNRESOLVED", `password_ref ${ref.slice(0, 200)}: ${why}`, { exitCode: 2 });
  let value: string;
  if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(ref)) {
    const v = sources.env[ref.slice(4)];
    if (v === undefined) throw fail("the variable is not set");
    value = v;
  } else if (/^file:\//.test(ref)) {
    try {
      value = sources.readFile(ref.slice(5)).replace(/\r?\n$/, "");
    } catch (e) {
      throw fail(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else {
    throw fail("want env:NAME or file:/absolute/path");
  }
  if (value.length === 0) throw fail("the secret is empty");
  return value;
}
