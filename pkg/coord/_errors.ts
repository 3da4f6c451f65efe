/** Typed errors and the clock of pkg/coord (private; re-exported by `index.ts`). */
import { VaqueroError } from "../../internal/errors/index.ts";

/** Stable codes of {@link CoordError}. */
export const COORD_CODES = {
  /** The session's lease is gone (revoked, expired, or not renewed within its TTL): leader work must stop. */
  COORD_SESSION_LOST: "the session's lease is lost",
  /** The caller gave up (its AbortSignal fired) before the campaign or lock succeeded. */
  COORD_ABORTED: "aborted",
  /** resign/unlock by a caller that does not hold the leadership or the lock. */
  COORD_NOT_HELD: "not held",
} as const;

/** A code of {@link COORD_CODES}. */
export type CoordCode = keyof typeof COORD_CODES;

/** An error of pkg/coord, with a stable {@link CoordCode}. */
export class CoordError extends VaqueroError {
  override readonly code: CoordCode;
  constructor(code: CoordCode, message: string, options: { cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(code, `coord: ${message}`, { exitCode: 1, ...options });
    this.name = "CoordError";
    this.code = code;
  }
}

/** True when `e` is a {@link CoordError}, optionally with the given code. */
export function isCoordError(e: unknown, code?: CoordCode): e is CoordError {
  return e instanceof CoordError && (code === undefined || e.code === code);
}

/** The time source of sessions: real timers by default, a fake one in tests. */
export interface CoordClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Wall-clock timers. */
export const systemClock: CoordClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
