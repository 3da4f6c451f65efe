import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVaqueroError } from "../../internal/errors/index.ts";
import { chainSources, dirSource, type TftpFile, type TftpFileSource, virtualSource } from "./_sources.ts";

const PEER = { address: "127.0.0.1", port: 1000 };
let base: string;
let root: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "vaquero-tftp-src-"));
  root = join(base, "root");
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "a.txt"), "alpha");
  writeFileSync(join(root, "sub", "b.txt"), "bravo");
  writeFileSync(join(base, "secret"), "outside");
  symlinkSync(join(base, "secret"), join(root, "escape"));
  symlinkSync("sub/b.txt", join(root, "inside-link"));
  writeFileSync(join(root, "big.bin"), Buffer.alloc(3 << 20, 7));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function text(src: TftpFileSource, name: string): Promise<string | undefined> {
  const f = await src.open(name, PEER);
  if (!f) return undefined;
  try {
    return new TextDecoder().decode(await f.read(0, f.size));
  } finally {
    await f.close();
  }
}

async function refusal(src: TftpFileSource, name: string): Promise<string> {
  try {
    const f: TftpFile | undefined = await src.open(name, PEER);
    await f?.close();
    return f ? "opened" : "not found";
  } catch (e) {
    return isVaqueroError(e) ? e.code : String(e);
  }
}

describe("dirSource", () => {
  test("serves files and symlinks that stay inside the root", async () => {
    const src = await dirSource(root);
    expect(await text(src, "a.txt")).toBe("alpha");
    expect(await text(src, "sub/b.txt")).toBe("bravo");
    expect(await text(src, "inside-link")).toBe("bravo");
  });

  const CASES: [string, string][] = [
    ["../secret", "PATH_OUTSIDE_ROOT"],
    ["sub/../../secret", "PATH_OUTSIDE_ROOT"],
    ["escape", "PATH_OUTSIDE_ROOT"],
    ["/etc/passwd", "PATH_INVALID"],
    ["a.txt\0", "PATH_INVALID"],
    ["sub\\b.txt", "PATH_INVALID"],
    ["missing", "not found"],
    ["sub", "not found"],
  ];
  for (const [name, want] of CASES) {
    test(`${JSON.stringify(name)} → ${want}`, async () => {
      expect(await refusal(await dirSource(root), name)).toBe(want);
    });
  }

  test("reads across the read-ahead chunk boundary", async () => {
    const f = (await (await dirSource(root)).open("big.bin", PEER))!;
    expect(f.size).toBe(3 << 20);
    let total = 0;
    for (let off = 0; off < f.size; off += 65464) total += (await f.read(off, 65464)).length;
    expect(total).toBe(3 << 20);
    expect((await f.read(f.size, 512)).length).toBe(0);
    await f.close();
  });
});

describe("virtualSource and chainSources", () => {
  test("map, record and function forms", async () => {
    expect(await text(virtualSource(new Map([["x", "map"]])), "x")).toBe("map");
    expect(await text(virtualSource({ x: new Uint8Array([0x6f, 0x6b]) }), "x")).toBe("ok");
    expect(await text(virtualSource({ x: "r" }), "toString")).toBeUndefined();
    expect(
      await text(
        virtualSource(async (n, p) => `${n}@${p.address}`),
        "y",
      ),
    ).toBe("y@127.0.0.1");
  });

  test("the first source that has the file wins; a refusal stops the chain", async () => {
    const chain = chainSources(virtualSource({ "a.txt": "virtual" }), await dirSource(root));
    expect(await text(chain, "a.txt")).toBe("virtual");
    expect(await text(chain, "sub/b.txt")).toBe("bravo");
    expect(await text(chain, "none")).toBeUndefined();
    expect(await refusal(chain, "../secret")).toBe("PATH_OUTSIDE_ROOT");
  });
});
