/**
 * One broken SoT per finding code (test/fixtures/<code>/, see its README): each must produce its own code at
 * the file and line its expect.json names, and no error of another code. `_valid-base` must be clean.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { compileTree, FINDING_CODES, openSource } from "../pkg/sot/index.ts";
import { git } from "./_helpers/git.ts";

const FIXTURES = resolve(import.meta.dir, "fixtures");
const work = mkdtempSync(join(tmpdir(), "vq-fixtures-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Expect {
  code: keyof typeof FINDING_CODES;
  file: string;
  line: number;
  generate?: { path: string; bytes?: number; binary?: boolean };
  git?: boolean;
}

async function findingsOf(name: string, spec?: Expect) {
  const dir = join(work, name);
  cpSync(join(FIXTURES, name), dir, { recursive: true, verbatimSymlinks: true });
  rmSync(join(dir, "expect.json"), { force: true });
  if (spec?.generate) {
    const p = join(dir, spec.generate.path);
    mkdirSync(dirname(p), { recursive: true });
    if (spec.generate.binary) writeFileSync(p, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff, 0xfe, 0]));
    else writeFileSync(p, Buffer.alloc(spec.generate.bytes ?? 0, 0x61));
  }
  if (spec?.git) {
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", "-A");
    git(dir, "commit", "-q", "-m", "fixture");
  }
  const src = await openSource(dir);
  try {
    return (await compileTree(src.tree, src.readPin ? { readPin: src.readPin } : {})).findings;
  } finally {
    await src.dispose();
  }
}

const names = readdirSync(FIXTURES).filter((n) => existsSync(join(FIXTURES, n, "expect.json")));

describe("fixtures", () => {
  test("every finding code has a fixture", () => {
    const covered = new Set(names.map((n) => (JSON.parse(readFileSync(join(FIXTURES, n, "expect.json"), "utf8")) as Expect).code));
    expect(Object.keys(FINDING_CODES).filter((c) => !covered.has(c as Expect["code"]))).toEqual([]);
  });

  test("the valid base has no findings", async () => {
    expect(await findingsOf("_valid-base")).toEqual([]);
  });

  for (const name of names) {
    const spec = JSON.parse(readFileSync(join(FIXTURES, name, "expect.json"), "utf8")) as Expect;
    test(`${name}: ${spec.code} at ${spec.file}:${spec.line}`, async () => {
      const findings = await findingsOf(name, spec);
      const mine = findings.filter((f) => f.code === spec.code);
      expect(mine.map((f) => `${f.file}:${f.line}`)).toContain(`${spec.file}:${spec.line}`);
      const others = findings
        .filter((f) => f.severity === "error" && f.code !== spec.code)
        .map((f) => `${f.code} ${f.file}:${f.line} ${f.message}`);
      expect(others).toEqual([]);
      for (const f of mine) expect(f.message.length).toBeGreaterThan(10);
    });
  }
});
