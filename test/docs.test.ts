/**
 * Keeps the user documentation honest: every finding code is in docs/sot.md, and every flag of every verb
 * (built or pending) is in docs/cli.md as `--<name>`. A new code or flag without documentation fails here.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PREVIEW_FLAGS } from "../cmd/preview/index.ts";
import { SERVER_FLAGS } from "../cmd/server/index.ts";
import { STANDALONE_FLAGS } from "../cmd/standalone/index.ts";
import { VALIDATE_FLAGS } from "../cmd/validate/index.ts";
import { PENDING } from "../cmd/vaquero/_pending.ts";
import type { FlagSpec } from "../internal/config/index.ts";
import { FINDING_CODES } from "../pkg/sot/index.ts";

const ROOT = resolve(import.meta.dir, "..");
const read = (path: string): string => readFileSync(resolve(ROOT, path), "utf8");
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("docs/sot.md", () => {
  const text = read("docs/sot.md");
  const codes = Object.keys(FINDING_CODES);

  test("the finding table is not empty", () => {
    expect(codes.length).toBeGreaterThan(0);
  });

  test.each(codes)("documents finding code %s", (code) => {
    // As a whole word, so that e.g. DUPLICATE_ID is not satisfied by DUPLICATE_IDS.
    expect(text).toMatch(new RegExp(`(?<![A-Z0-9_])${escapeRe(code)}(?![A-Z0-9_])`));
  });

  test.each(codes)("the Findings table gives %s its severity", (code) => {
    const row = new RegExp(`^\\| \`${escapeRe(code)}\` \\| (error|warning) \\|`, "m").exec(text);
    expect(row?.[1]).toBe(FINDING_CODES[code as keyof typeof FINDING_CODES][0]);
  });
});

describe("docs/cli.md", () => {
  const text = read("docs/cli.md");
  const verbs: [string, readonly FlagSpec[]][] = [
    ["validate", VALIDATE_FLAGS],
    ["preview", PREVIEW_FLAGS],
    ["standalone", STANDALONE_FLAGS],
    ["server", SERVER_FLAGS],
    ...Object.entries(PENDING).map(([verb, p]): [string, readonly FlagSpec[]] => [verb, p.flags]),
  ];
  const cases = verbs.flatMap(([verb, flags]) => flags.map((f) => [verb, f.name] as const));

  test.each(verbs.map(([verb, flags]) => [verb, flags.length] as const))("%s has flags to check", (_verb, count) => {
    expect(count).toBeGreaterThan(0);
  });

  test.each(cases)("%s: documents --%s", (_verb, name) => {
    // `--name` not followed by more of a flag name, so that --ref is not satisfied by --refs.
    expect(text).toMatch(new RegExp(`--${escapeRe(name)}(?![a-z0-9-])`));
  });

  test.each(Object.keys(PENDING))("mentions the pending verb %s", (verb) => {
    expect(text).toContain(`vaquero ${verb}`);
  });
});
