import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mayHaveDuplicateKeys, parseYamlExact, parseYamlFile } from "./_yaml.ts";

describe("parseYamlFile", () => {
  test("values and positions of keys and values, several documents", () => {
    const f = parseYamlFile("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n---\nhosts: []\n");
    expect(f.problems).toEqual([]);
    expect(f.docs.map((d) => d.value)).toEqual([{ a: 1, b: [{ x: 2, y: [1, 2] }] }, { hosts: [] }]);
    const [d0, d1] = f.docs;
    expect(d0?.at(["b", 0, "y", 1])).toEqual({ line: 4, column: 12 });
    expect(d0?.keyAt(["b", 0, "y"])).toEqual({ line: 4, column: 5 });
    expect(d0?.at(["b", 0, "missing", 3])).toEqual({ line: 3, column: 5 });
    expect(d1?.at(["hosts"])).toEqual({ line: 6, column: 8 });
  });
  test("an empty value points at its key", () => {
    const f = parseYamlFile("a:\nb: 2\n");
    expect(f.docs[0]?.at(["a"])).toEqual({ line: 1, column: 1 });
  });
  const bad: [string, string, string, number][] = [
    ["unclosed flow", "a: [1\nb: 2", "syntax", 2],
    ["duplicate key", "a: 1\na: 2", "syntax", 2],
    ["tab indentation", "a:\n\t- 1", "syntax", 2],
    ["65 levels", `${"[".repeat(65)}${"]".repeat(65)}`, "too-deep", 1],
    ["100,000 levels", "[".repeat(100_000), "too-deep", 1],
  ];
  for (const [name, text, kind, line] of bad) {
    test(`refuses ${name}`, () => {
      const f = parseYamlFile(text);
      expect(f.docs).toEqual([]);
      expect(f.problems[0]?.kind).toBe(kind as "syntax" | "too-deep");
      expect(f.problems[0]?.pos.line).toBe(line);
    });
  }
  test("alias bombs are refused, not expanded", () => {
    const lol = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++)
      lol.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const f = parseYamlFile(lol.join("\n"));
    expect(f.problems[0]?.kind).toBe("syntax");
  });
});

describe("fast path", () => {
  const dups: [string, string][] = [
    ["block map", "a: 1\nb: 2\na: 3\n"],
    ["quoted and plain spellings of one key", "a: 1\n'a': 2\n"],
    ["inside a sequence item", "hosts:\n  - name: x\n    ipv4: 1\n    ipv4: 2\n"],
    ["second item of a sequence", "- a: 1\n- b: 1\n  b: 2\n"],
    ["after a nested map", "a:\n  x: 1\n  y:\n    z: 1\n  x: 2\n"],
    ["flow map", "a: {x: 1, y: 2, x: 3}\n"],
    ["flow map in a sequence", "- {mac: a, mac: b}\n"],
    ["after a block scalar", "a: |\n  a: 1\n  a: 2\nb: 1\nb: 2\n"],
  ];
  for (const [name, text] of dups) {
    test(`a duplicate key is never missed: ${name}`, () => {
      const f = parseYamlFile(text);
      expect(f.problems[0]?.message).toContain("unique");
    });
  }
  const clean: [string, string][] = [
    ["sibling maps reuse keys", "- name: a\n  ip: 1\n- name: b\n  ip: 2\n"],
    ["nested maps reuse keys", "a:\n  x: 1\nb:\n  x: 2\n"],
    ["block scalar content", "a: |\n  a: 1\n  a: 2\nb: 3\n"],
    ["flow maps side by side", "- {mac: a, ip: 1}\n- {mac: b, ip: 2}\n"],
  ];
  for (const [name, text] of clean) {
    test(`no false alarm: ${name}`, () => {
      expect(mayHaveDuplicateKeys(text)).toBe(false);
      expect(parseYamlFile(text).docs.map((d) => d.value)).toEqual(parseYamlExact(text).docs.map((d) => d.value));
    });
  }
  test("positions from the fast path equal the exact ones, across documents", () => {
    const text = "# c\nhosts:\n  - name: a\n    ipv4: 1\n---\nhosts:\n  - name: b\n    mac: x\n";
    const fast = parseYamlFile(text).docs;
    const exact = parseYamlExact(text).docs;
    expect(fast.map((d) => d.value)).toEqual(exact.map((d) => d.value));
    for (const path of [
      ["hosts", 0, "ipv4"],
      ["hosts", 0, "mac"],
      ["hosts", 0],
    ]) {
      expect(fast.map((d) => d.at(path))).toEqual(exact.map((d) => d.at(path)));
      expect(fast.map((d) => d.keyAt(path))).toEqual(exact.map((d) => d.keyAt(path)));
    }
  });
  test("every YAML file of the examples and fixtures reads the same both ways", () => {
    const root = join(import.meta.dir, "../..");
    const files = ["examples", "test/fixtures"].flatMap((d) =>
      [...new Bun.Glob("**/*.{yml,yaml,json}").scanSync({ cwd: join(root, d) })].map((f) => `${d}/${f}`),
    );
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      const text = readFileSync(join(root, f), "utf8");
      const fast = parseYamlFile(text);
      const exact = parseYamlExact(text);
      expect({ f, v: fast.docs.map((d) => d.value), p: fast.problems.length > 0 }).toEqual({
        f,
        v: exact.docs.map((d) => d.value),
        p: exact.problems.length > 0,
      });
    }
  });
});
