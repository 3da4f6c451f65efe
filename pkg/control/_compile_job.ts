/**
 * One compile of `--sot`, in two steps, the same on whichever thread runs it (the compile worker, or the server's
 * main thread when no worker can start): {@link openJob} fetches or reads the SoT and names the commit at the
 * branch's tip, so the caller can answer a commit already released without compiling it; {@link CompileJob.compile}
 * then loads, validates, renders and bundles, and reduces the result to what a release stores (canonical bytes,
 * digests, fingerprints). Errors are VaqueroErrors with stable codes; on the way between threads they travel as
 * {@link WireError} and come back as the same error.
 */
import { describeError, type ExitCode, isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import { compileTree, isGitRepository, isGitUrl, openGitSource, openSource, stripCredentials } from "../sot/index.ts";
import { type Publishable, publishable } from "./_releases.ts";

/** What a compile reads. */
export interface JobSpec {
  /** `--sot`: a git URL or path, or a plain directory. */
  sot: string;
  /** The branch compiled. */
  ref: string;
  /** Longest wait for any byte of a git request, in ms (`--timeout`). */
  timeoutMs: number;
  /** Render large sites on a second thread too (default true). */
  parallel?: boolean;
}

/** An opened SoT, its commit known, not compiled yet. */
export interface CompileJob {
  /** Where the SoT was read from, credentials removed. */
  readonly location: string;
  /** The commit at the branch's tip (git sources). */
  readonly commit?: string;
  /** Compiles the opened tree (once). */
  compile(): Promise<Publishable>;
  /** Removes the temporary clone; safe to call more than once. */
  dispose(): Promise<void>;
}

/** A {@link VaqueroError} as it crosses to another thread. */
export interface WireError {
  code: string;
  message: string;
  exitCode: ExitCode;
}

/** Opens `spec.sot` at `spec.ref`. A fetch or read that fails is `SOT_UNAVAILABLE` (502), with git's reason. */
export async function openJob(spec: JobSpec): Promise<CompileJob> {
  const git = isGitUrl(spec.sot) || (await isGitRepository(spec.sot));
  const parallel = spec.parallel !== false;
  if (!git) {
    const src = await openSource(spec.sot).catch((e: unknown) => {
      throw fetchFailed(spec.sot, e);
    });
    return {
      location: src.tree.location,
      compile: async () => publishable(await compileTree(src.tree, { parallel })),
      dispose: () => src.dispose(),
    };
  }
  const src = await openGitSource(spec.sot, { timeoutMs: spec.timeoutMs }).catch((e: unknown) => {
    throw fetchFailed(spec.sot, e);
  });
  let commit: string;
  try {
    commit = await src.resolve(spec.ref);
  } catch (e) {
    await src.dispose();
    throw fetchFailed(spec.sot, e);
  }
  let disposed: Promise<void> | undefined;
  return {
    location: src.location,
    commit,
    async compile() {
      const tree = await src.readTree(commit, spec.ref);
      const readPin = async (ref: string) => src.readTree(await src.resolve(ref), ref);
      return publishable(await compileTree(tree, { readPin, parallel }));
    },
    dispose() {
      disposed ??= src.dispose();
      return disposed;
    },
  };
}

/** `e` as it crosses threads: a VaqueroError keeps its code and exit code; anything else is `COMPILE_FAILED`. */
export function toWire(e: unknown): WireError {
  if (isVaqueroError(e)) return { code: e.code, message: e.message, exitCode: e.exitCode };
  return { code: "COMPILE_FAILED", message: `compile failed: ${describeError(e)}`.slice(0, 500), exitCode: 1 };
}

/** The error a {@link WireError} stands for. */
export function fromWire(w: WireError): VaqueroError {
  return new VaqueroError(w.code, w.message, { exitCode: w.exitCode });
}

/** A fetch or read of `--sot` that failed: `SOT_UNAVAILABLE` (502), with git's reason. */
function fetchFailed(sot: string, e: unknown): VaqueroError {
  const why = isVaqueroError(e) ? e.message : describeError(e);
  return new VaqueroError("SOT_UNAVAILABLE", `cannot read ${stripCredentials(sot)}: ${why}`.slice(0, 500));
}
