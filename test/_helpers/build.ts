/**
 * The compiled binary for integration tests: `npm run build` when dist/vaquero is missing or older than any
 * source file it is built from, else the binary as it is (the test suite's build step has just made it). Tests
 * copy it into a folder without node_modules before running it.
 */
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
/** Where `npm run build` writes the binary. */
export const BUILT = join(ROOT, "dist/vaquero");

function newest(dir: string, depth = 0): number {
  let t = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    if (n === "node_modules" || n.startsWith(".") || depth > 8) continue;
    const p = join(dir, n);
    const s = statSync(p);
    if (s.isDirectory()) t = Math.max(t, newest(p, depth + 1));
    else if (/\.(ts|json)$/.test(n)) t = Math.max(t, s.mtimeMs);
  }
  return t;
}

/** Builds the binary if it is stale; returns its path. Throws with the build's output when the build fails. */
export function builtBinary(): string {
  const sources = Math.max(...["cmd", "pkg", "internal"].map((d) => newest(join(ROOT, d))), statSync(join(ROOT, "package.json")).mtimeMs);
  let built = 0;
  try {
    built = statSync(BUILT).mtimeMs;
  } catch {
    built = 0;
  }
  if (built > sources) return BUILT;
  const b = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 180_000 });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stdout.toString()}${b.stderr.toString()}`);
  return BUILT;
}
