/**
 * Processes of the compiled `vaquero` binary for end-to-end tests and benchmarks: each one's stderr (its log) is
 * kept in memory and appended to a file as it arrives, so a failed run leaves every process's log behind; each is
 * stopped by its own PID. {@link until} is the bounded wait these tests use instead of timing thresholds.
 *
 * @example
 * const p = spawnVaquero("server", [bin, "server", "--sot", url, "--data-dir", "data"], { cwd, logDir });
 * await until(async () => (p.log().includes('"release stored"') ? true : undefined), "the first compile");
 * await p.kill("SIGTERM");
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

/** A running (or exited) process of the binary. */
export interface VaqueroProc {
  /** A short name: the log file is `<logDir>/<name>.log`. */
  name: string;
  pid: number;
  proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
  /** Everything it logged so far. */
  log(): string;
  /** Sends `signal` to its PID (if it still runs) and resolves with its exit code. */
  kill(signal?: NodeJS.Signals): Promise<number>;
}

/** Every process spawned here and not yet stopped (for afterAll). */
export const running = new Set<VaqueroProc>();

/** Spawns `argv` in `cwd` with a minimal environment; its log goes to `<logDir>/<name>.log` too. */
export function spawnVaquero(name: string, argv: string[], o: { cwd: string; logDir: string; env?: Record<string, string> }): VaqueroProc {
  mkdirSync(o.logDir, { recursive: true });
  const file = join(o.logDir, `${name}.log`);
  appendFileSync(file, `--- ${new Date().toISOString()} ${argv.slice(1).join(" ")}\n`);
  const proc = Bun.spawn(argv, {
    cwd: o.cwd,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/bin", ...o.env },
  });
  let text = "";
  void (async () => {
    const reader = proc.stderr.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const chunk = dec.decode(value, { stream: true });
      text += chunk;
      appendFileSync(file, chunk);
    }
  })();
  const p: VaqueroProc = {
    name,
    pid: proc.pid,
    proc,
    log: () => text,
    async kill(signal = "SIGTERM") {
      running.delete(p);
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, signal);
      return await proc.exited;
    },
  };
  running.add(p);
  return p;
}

/** Kills every process still running by its PID (SIGKILL) and waits for each. */
export async function killAll(): Promise<void> {
  for (const p of [...running]) await p.kill("SIGKILL").catch(() => 0);
}

/** Polls `probe` until it returns a value; throws after `tries` attempts `everyMs` apart (default 1200 × 50 ms). */
export async function until<T>(probe: () => Promise<T | undefined>, what: string, tries = 1200, everyMs = 50): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}
