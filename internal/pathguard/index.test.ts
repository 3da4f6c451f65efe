import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPathGuard, type PathGuard } from "./index.ts";

let base: string;
let guard: PathGuard;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "vq-guard-"));
  mkdirSync(join(base, "root/sub"), { recursive: true });
  writeFileSync(join(base, "root/sub/a.txt"), "a");
  writeFileSync(join(base, "secret.txt"), "s");
  symlinkSync("../secret.txt", join(base, "root/out-link"));
  symlinkSync("sub/a.txt", join(base, "root/in-link"));
  symlinkSync("/etc/passwd", join(base, "root/abs-link"));
  guard = await createPathGuard(join(base, "root"));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("path guard", () => {
  test("resolves a plain file and a link inside the root", async () => {
    expect(await guard.resolve("sub/a.txt")).toBe(join(guard.root, "sub/a.txt"));
    expect(await guard.resolve("in-link")).toBe(join(guard.root, "sub/a.txt"));
  });
  const refused: [string, string, string][] = [
    ["dot-dot", "../secret.txt", "PATH_OUTSIDE_ROOT"],
    ["inner dot-dot", "sub/../../secret.txt", "PATH_OUTSIDE_ROOT"],
    ["relative link out", "out-link", "PATH_OUTSIDE_ROOT"],
    ["absolute link out", "abs-link", "PATH_OUTSIDE_ROOT"],
    ["absolute name", "/etc/passwd", "PATH_INVALID"],
    ["NUL byte", "sub/a.txt\0.png", "PATH_INVALID"],
    ["backslash", "sub\\a.txt", "PATH_INVALID"],
    ["empty", "", "PATH_INVALID"],
    ["10 KB name", "a/".repeat(5000), "PATH_INVALID"],
    ["missing", "sub/none.txt", "PATH_NOT_FOUND"],
  ];
  for (const [name, path, code] of refused) {
    test(`refuses ${name}`, async () => {
      await expect(guard.resolve(path)).rejects.toMatchObject({ code });
    });
  }
});
