import { describe, expect, test } from "bun:test";
import { parseYamlFile } from "./_yaml.ts";

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
