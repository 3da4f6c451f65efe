/**
 * Logger setup with pino: JSON lines on stderr by default, readable lines when stderr is a terminal. Both
 * write synchronously from the main thread (pino's worker-thread transports do not work in a compiled binary).
 *
 * @example
 * const log = createLogger({ level: "info" });
 * log.info({ site: "lab" }, "staged release");
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger } from "pino";

/** Options of {@link createLogger}. */
export interface LogOptions {
  level?: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** Readable output instead of JSON; default: when stderr is a terminal. */
  pretty?: boolean;
  /** File descriptor to write to (default 2, stderr). */
  fd?: number;
  /** ANSI colours in readable output (default true; callers pass false for NO_COLOR). */
  color?: boolean;
}

/** Creates the process logger. */
export function createLogger(options: LogOptions = {}): Logger {
  const fd = options.fd ?? 2;
  const level = options.level ?? "info";
  const readable = options.pretty ?? (fd === 2 && process.stderr.isTTY === true);
  if (readable) {
    return pino(
      { level },
      pretty({
        destination: fd,
        sync: true,
        colorize: options.color ?? true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
      }),
    );
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything (tests, and verbs that print only their artefact). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
