/**
 * Typed errors shared by every Vaquero package.
 *
 * Each error carries a stable `code` (what callers and the HTTP edge switch on) and a message that names the
 * failed action and the object involved. `exitCode` tells the command line how to end: 1 for invalid input or
 * a failed operation, 2 for usage, configuration or environment errors.
 *
 * @example
 * throw new VaqueroError("SOT_UNREADABLE", `sot: cannot read "${dir}": not a directory`, { exitCode: 2 });
 */

/** Exit code classes of the command-line contract. */
export type ExitCode = 1 | 2;

/** Options of a {@link VaqueroError}. */
export interface VaqueroErrorOptions {
  /** 1: invalid input or failed operation; 2: usage, configuration or environment error. Default 1. */
  exitCode?: ExitCode;
  /** The underlying error, kept for debug logs. */
  cause?: unknown;
  /** Structured fields safe to log or return (never secrets). */
  detail?: Record<string, unknown>;
}

/** An error with a stable code and a message fit to show a user as one line. */
export class VaqueroError extends Error {
  /** Stable, upper-case code, e.g. `SOT_GIT_REF_UNKNOWN`. */
  readonly code: string;
  /** Exit code the command line uses when this error ends a verb. */
  readonly exitCode: ExitCode;
  /** Structured fields safe to log or return. */
  readonly detail: Record<string, unknown>;

  constructor(code: string, message: string, options: VaqueroErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VaqueroError";
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.detail = options.detail ?? {};
  }
}

/** True when `e` is a {@link VaqueroError}, optionally with the given code. */
export function isVaqueroError(e: unknown, code?: string): e is VaqueroError {
  return e instanceof VaqueroError && (code === undefined || e.code === code);
}

/** A one-line description of any thrown value, for messages and logs. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message.split("\n")[0] ?? e.name;
  return String(e);
}
