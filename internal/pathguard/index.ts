/**
 * The one path guard every file read goes through (SoT directories, TFTP, HTTP assets, templates): a relative
 * name is joined to a root, symlinks are resolved, and anything that ends up outside the root is refused.
 *
 * @example
 * const guard = await createPathGuard("/var/lib/vaquero/assets");
 * const real = await guard.resolve("flatcar/vmlinuz"); // absolute real path inside the root, or throws
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { VaqueroError } from "../errors/index.ts";

/** Longest relative name the guard accepts. */
export const MAX_NAME_LENGTH = 4096;

/** Confines file access to one root directory. */
export interface PathGuard {
  /** The root's real path. */
  readonly root: string;
  /**
   * Resolves `name` (relative, `/`-separated) to a real path inside the root, following symlinks.
   * Throws `PATH_INVALID` for a malformed name, `PATH_OUTSIDE_ROOT` when it leaves the root, and
   * `PATH_NOT_FOUND` when it does not exist.
   */
  resolve(name: string): Promise<string>;
  /** True when an absolute real path lies inside the root. */
  contains(realPath: string): boolean;
}

/** Builds a guard for `root` (which must exist). */
export async function createPathGuard(root: string): Promise<PathGuard> {
  let rootReal: string;
  try {
    rootReal = await realpath(root);
  } catch (e) {
    throw new VaqueroError("PATH_NOT_FOUND", `path guard: root "${root}" does not exist`, { exitCode: 2, cause: e });
  }
  const contains = (p: string): boolean => {
    const rel = relative(rootReal, p);
    return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
  };
  return {
    root: rootReal,
    contains,
    async resolve(name: string): Promise<string> {
      checkName(name);
      const joined = resolve(rootReal, `.${sep}${name}`);
      if (!contains(joined)) {
        throw new VaqueroError("PATH_OUTSIDE_ROOT", `path "${printable(name)}" leaves its root`);
      }
      let real: string;
      try {
        real = await realpath(joined);
      } catch (e) {
        throw new VaqueroError("PATH_NOT_FOUND", `path "${printable(name)}" not found`, { cause: e });
      }
      if (!contains(real)) {
        throw new VaqueroError("PATH_OUTSIDE_ROOT", `path "${printable(name)}" resolves outside its root`);
      }
      return real;
    },
  };
}

/** Refuses names that are empty, too long, absolute, or hold NUL, backslashes or `..` segments. */
export function checkName(name: string): void {
  if (name.length === 0) throw new VaqueroError("PATH_INVALID", "path is empty");
  if (name.length > MAX_NAME_LENGTH) {
    throw new VaqueroError("PATH_INVALID", `path is ${name.length} characters long, limit ${MAX_NAME_LENGTH}`);
  }
  if (name.includes("\0")) throw new VaqueroError("PATH_INVALID", "path holds a NUL byte");
  if (name.includes("\\")) throw new VaqueroError("PATH_INVALID", `path "${printable(name)}" holds a backslash`);
  if (name.startsWith("/")) throw new VaqueroError("PATH_INVALID", `path "${printable(name)}" is absolute`);
  if (name.split("/").includes("..")) {
    throw new VaqueroError("PATH_OUTSIDE_ROOT", `path "${printable(name)}" climbs out with ..`);
  }
}

/** A name cut to 80 printable characters, for messages. */
export function printable(name: string): string {
  const clean = name.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
