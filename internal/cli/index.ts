/**
 * What every verb's `run` is given instead of touching the process: output streams, environment and whether
 * they are terminals. `processIo()` binds the real process; tests pass a capturing one.
 */
import { describeError, isVaqueroError } from "../errors/index.ts";

/** Output, environment and terminal facts of one command run. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  outIsTTY: boolean;
  errIsTTY: boolean;
}

/** The real process streams. */
export function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    outIsTTY: process.stdout.isTTY === true,
    errIsTTY: process.stderr.isTTY === true,
  };
}

/** An Io that keeps everything written, for tests. */
export function captureIo(env: Record<string, string | undefined> = {}): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    env,
    outIsTTY: false,
    errIsTTY: false,
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
  };
  return io;
}

/** Prints an error as one line and returns its exit code (2 for usage and environment errors, else 1). */
export function reportError(io: Io, e: unknown): 1 | 2 {
  if (isVaqueroError(e)) {
    io.err(`${e.message}\n`);
    return e.exitCode;
  }
  io.err(`vaquero: internal error: ${describeError(e)}\n`);
  return 1;
}

/** True when colour may be used on a stream (a terminal, and NO_COLOR unset). */
export function useColor(io: Io, tty: boolean): boolean {
  return tty && io.env.NO_COLOR === undefined && io.env.TERM !== "dumb";
}
