/**
 * Reads a SoT from a plain directory (never through an enclosing git repository). Dot entries (`.git`,
 * `.github`, …) are not read. Symbolic links are followed only while they stay inside the tree; a link that
 * leaves it is reported, never read. Files over the size limit are reported, never read.
 */
import { lstat, open, readdir, readlink, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { VaqueroError } from "../../internal/errors/index.ts";
import { createPathGuard } from "../../internal/pathguard/index.ts";
import type { SourceFile, SourceTree } from "./_tree.ts";

/** Options of {@link readDirTree}. */
export interface DirOptions {
  /** Largest file read, in bytes (default 16 MiB). */
  maxFileBytes?: number;
  /** Most files read before giving up with an error (default 200,000). */
  maxFiles?: number;
}

/** Default size limit of one SoT file. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Reads every file under `root`. Throws `SOT_UNREADABLE` (exit 2) when the root itself cannot be read. */
export async function readDirTree(root: string, options: DirOptions = {}): Promise<SourceTree> {
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxFiles = options.maxFiles ?? 200_000;
  let rootStat: Awaited<ReturnType<typeof stat>>;
  try {
    rootStat = await stat(root);
  } catch (e) {
    throw new VaqueroError("SOT_UNREADABLE", `sot: cannot read "${root}": ${errnoText(e)}`, {
      exitCode: 2,
      cause: e,
    });
  }
  if (!rootStat.isDirectory()) {
    throw new VaqueroError("SOT_UNREADABLE", `sot: "${root}" is not a directory`, { exitCode: 2 });
  }
  const guard = await createPathGuard(root);
  const files: SourceFile[] = [];
  const visitedDirs = new Set<string>([guard.root]);

  const readFileEntry = async (abs: string, rel: string, size: number): Promise<void> => {
    if (files.length >= maxFiles) {
      throw new VaqueroError("SOT_UNREADABLE", `sot: "${root}" holds more than ${maxFiles} files`, { exitCode: 2 });
    }
    if (size > maxBytes) {
      files.push({ path: rel, size, problem: "too-large" });
      return;
    }
    const fh = await open(abs, "r");
    try {
      const data = new Uint8Array(size);
      let off = 0;
      while (off < size) {
        const { bytesRead } = await fh.read(data, off, size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      files.push({ path: rel, size: off, data: off === size ? data : data.subarray(0, off) });
    } finally {
      await fh.close();
    }
  };

  const walk = async (absDir: string, relDir: string): Promise<void> => {
    const names = (await readdir(absDir)).sort();
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const abs = join(absDir, name);
      const rel = relDir ? `${relDir}/${name}` : name;
      const st = await lstat(abs);
      if (st.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(abs);
        } catch {
          files.push({ path: rel, size: 0, problem: "symlink-escape", target: "(dangling)" });
          continue;
        }
        if (!guard.contains(real)) {
          files.push({ path: rel, size: 0, problem: "symlink-escape", target: await readlink(abs) });
          continue;
        }
        const target = await stat(real);
        if (target.isDirectory()) {
          if (visitedDirs.has(real)) continue;
          visitedDirs.add(real);
          await walk(real, rel);
        } else if (target.isFile()) {
          await readFileEntry(real, rel, target.size);
        }
        continue;
      }
      if (st.isDirectory()) {
        await walk(abs, rel);
      } else if (st.isFile()) {
        await readFileEntry(abs, rel, st.size);
      }
      // sockets, FIFOs and devices are never read: a FIFO would block the reader forever.
    }
  };
  await walk(guard.root, "");
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { kind: "dir", location: root, files };
}

const ERRNO: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  ENOTDIR: "a path component is not a directory",
  ELOOP: "too many symbolic links",
};

/** A readable reason for a file system error. */
function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  return ERRNO[code] ?? (code || (e as Error).message);
}
