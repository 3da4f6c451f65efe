/**
 * Several `vaquero server` processes (the compiled binary) on 127.0.0.1 sharing one etcd, for the HA test and the
 * failover benchmark: each on its own port and data directory, its stderr collected, killed with SIGKILL by PID
 * and started again on the same port and data. Each one's log is also appended to `<cwd>/srv-<i>.log`. `/ready` tells each one's role and the leader it sees.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.ts";

/** One server process. */
export interface HaServer {
  readonly index: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its name in the election. */
  readonly name: string;
  pid(): number | undefined;
  /** Everything it logged (JSON lines) since it was first started. */
  log(): string;
  /** SIGKILL; resolves once it exited. */
  kill(): Promise<void>;
  /** Starts it again (same port, data and flags). */
  start(): void;
}

/** What `/ready` said. */
export interface ReadyAnswer {
  status: number;
  role?: string;
  leader?: string;
  code?: string;
}

/** Options of {@link startServers}. */
export interface HaServersOptions {
  bin: string;
  /** Working directory: data directories `srv-<i>` go under it. */
  cwd: string;
  count: number;
  /** Flags every server gets, after `server` and before its own `--http-addr` and `--data-dir`. */
  args: string[];
  /** Awaited after the first server is started, before the others (e.g. until it wrote `srv-0/admin.token`). */
  afterFirst?: () => Promise<void>;
}

/** Starts `count` servers (not waiting for anything). */
export async function startServers(o: HaServersOptions): Promise<HaServer[]> {
  const out: HaServer[] = [];
  for (let i = 0; i < o.count; i++) {
    const port = await freePort();
    let proc: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
    let text = "";
    const start = (): void => {
      if (proc) return;
      const p = Bun.spawn([o.bin, "server", ...o.args, "--http-addr", `127.0.0.1:${port}`, "--data-dir", join(o.cwd, `srv-${i}`)], {
        cwd: o.cwd,
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { PATH: "/usr/bin:/bin" },
      });
      proc = p;
      void (async () => {
        const reader = p.stderr.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const chunk = dec.decode(value);
          text += chunk;
          appendFileSync(join(o.cwd, `srv-${i}.log`), chunk);
        }
      })();
    };
    start();
    out.push({
      index: i,
      port,
      url: `http://127.0.0.1:${port}`,
      name: `127.0.0.1:${port}`,
      pid: () => proc?.pid,
      log: () => text,
      async kill() {
        const p = proc;
        proc = undefined;
        if (!p) return;
        p.kill("SIGKILL");
        await p.exited;
      },
      start,
    });
    if (i === 0) await o.afterFirst?.();
  }
  return out;
}

/** One `/ready` (an unreachable server is status 0). */
export async function ready(s: HaServer, timeoutMs = 3000): Promise<ReadyAnswer> {
  try {
    const res = await fetch(`${s.url}/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { role?: string; leader?: string; error?: { code?: string } };
    return {
      status: res.status,
      ...(body.role ? { role: body.role } : {}),
      ...(body.leader ? { leader: body.leader } : {}),
      ...(body.error?.code ? { code: body.error.code } : {}),
    };
  } catch {
    return { status: 0 };
  }
}

/** The servers that say they lead, among `servers` that are running. */
export async function leaders(servers: HaServer[]): Promise<HaServer[]> {
  const live = servers.filter((s) => s.pid() !== undefined);
  const answers = await Promise.all(live.map((s) => ready(s)));
  return live.filter((_, i) => answers[i]?.role === "leader");
}

/**
 * Waits until exactly one running server leads and every other running one is ready and names it; returns the
 * leader. Polls every `everyMs`, at most `tries` times.
 */
export async function settledLeader(servers: HaServer[], tries = 600, everyMs = 50): Promise<HaServer> {
  let last = "";
  for (let i = 0; i < tries; i++) {
    const live = servers.filter((s) => s.pid() !== undefined);
    const answers = await Promise.all(live.map((s) => ready(s)));
    const lead = live.filter((_, j) => answers[j]?.role === "leader");
    const only = lead[0];
    if (lead.length === 1 && only && answers.every((a) => a.status === 200 && (a.role === "leader" || a.leader === only.name))) {
      return only;
    }
    last = JSON.stringify(answers);
    await Bun.sleep(everyMs);
  }
  throw new Error(`no settled leader after ${tries} polls: ${last}`);
}
