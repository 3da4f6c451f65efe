/**
 * Opens a SoT wherever it lives: a plain directory, a local git repository (bare or with `.git`) at a ref, or a
 * remote smart-HTTP URL. A plain directory is never read through an enclosing repository.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { PinReader } from "./_compile.ts";
import { readDirTree } from "./_dir.ts";
import { isGitRepository, isGitUrl, openGitSource } from "./_git.ts";
import type { SourceTree } from "./_tree.ts";

/** An opened SoT: its tree at the asked ref, a reader for pinned sites, and cleanup. */
export interface OpenedSource {
  tree: SourceTree;
  /** Reads the whole tree at another ref (git only). */
  readPin?: PinReader;
  dispose(): Promise<void>;
}

/** Options of {@link openSource}. */
export interface OpenOptions {
  /** Branch, tag or commit (git only); default the repository's HEAD. */
  ref?: string;
  /** Per-request timeout for remote repositories, in milliseconds. */
  timeoutMs?: number;
}

/** Opens `location` (path or URL). Errors are `VaqueroError`s with exit code 2. */
export async function openSource(location: string, options: OpenOptions = {}): Promise<OpenedSource> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/\s]+@[^/\s]+:/.test(location)) {
    if (!isGitUrl(location)) {
      // openGitSource refuses it with the supported forms spelled out.
      await openGitSource(location);
    }
    return fromGit(location, options);
  }
  if (await isGitRepository(location)) return fromGit(location, options);
  if (options.ref !== undefined) {
    throw new VaqueroError("SOT_REF_NOT_GIT", `sot: --ref ${options.ref} given, but "${location}" is not a git repository`, {
      exitCode: 2,
    });
  }
  const tree = await readDirTree(location);
  return { tree, dispose: async () => {} };
}

async function fromGit(location: string, options: OpenOptions): Promise<OpenedSource> {
  const git = await openGitSource(location, options.timeoutMs ? { timeoutMs: options.timeoutMs } : {});
  try {
    const commit = await git.resolve(options.ref);
    const tree = await git.readTree(commit, options.ref);
    return {
      tree,
      readPin: async (ref) => git.readTree(await git.resolve(ref), ref),
      dispose: () => git.dispose(),
    };
  } catch (e) {
    await git.dispose();
    throw e;
  }
}
