/**
 * The shape every SoT reader produces: the directory reader (`_dir.ts`) and the git reader (`_git.ts`) both
 * return a {@link SourceTree}, so everything downstream (loader, validator, compiler) never knows where the
 * files came from. A git tree at a commit and a checkout of that commit read as a directory give the same
 * `files`.
 */

/** One file of a SoT tree. `path` is relative to the root, `/`-separated, no leading `./`. */
export interface SourceFile {
  path: string;
  size: number;
  /** Bytes; absent when `problem` is set. */
  data?: Uint8Array;
  /**
   * "symlink-escape": a symlink whose target leaves the tree (absolute, or ../ past the root, or a chain of
   * links that does), or leads nowhere; "too-large": over maxFileBytes.
   */
  problem?: "symlink-escape" | "too-large";
  /** For symlink-escape: the link target as written (`"(dangling)"` when the link leads to nothing). */
  target?: string;
}

/** A whole SoT as read from one place. Files sorted by path (code-unit order). */
export interface SourceTree {
  kind: "dir" | "git";
  /** What the user named: a path or a URL with any credentials removed. */
  location: string;
  /** Full commit SHA for git trees. */
  commit?: string;
  /** The ref as asked for, or the resolved HEAD branch name. */
  ref?: string;
  files: SourceFile[];
}

/** Target written in a {@link SourceFile} for a symbolic link that resolves to nothing (or loops). */
export const DANGLING_TARGET = "(dangling)";

/** Compares two paths in UTF-16 code-unit order (the order of `Array.prototype.sort` without a comparator). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts files by path in code-unit order, in place, and returns the same array. */
export function sortFiles(files: SourceFile[]): SourceFile[] {
  return files.sort((a, b) => comparePaths(a.path, b.path));
}
