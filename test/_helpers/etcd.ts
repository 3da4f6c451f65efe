/**
 * Real etcd for tests and benchmarks: a single member or a three-member cluster of Debian's `etcd` (package
 * `etcd-server`) on 127.0.0.1 free ports with temporary data directories. Members are started and stopped by PID
 * (SIGKILL, as a crash), and a stopped member can be started again on the same ports and data (failover tests).
 * Everything waits for health within a bound, and `stop()` removes processes and directories.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

/** The etcd binary, when installed. */
export const ETCD_BIN = ["/usr/bin/etcd", "/usr/local/bin/etcd"].find((p) => spawnSync(p, ["--version"]).status === 0);

/** Why etcd tests skip, or undefined when they can run. */
export const ETCD_SKIP = ETCD_BIN ? undefined : "etcd is not installed (Debian: apt-get install etcd-server)";

/** One member. */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process' PID; undefined while stopped. */
  pid(): number | undefined;
  /** Kills the member with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts a stopped member again (same ports, same data) and waits until it answers. */
  start(): Promise<void>;
}

/** A running cluster. */
export interface EtcdCluster {
  readonly members: EtcdMember[];
  /** Client URLs of every member. */
  readonly endpoints: string[];
  /** Kills every member and removes the data directories. */
  stop(): Promise<void>;
}

/** How long a member may take to answer /health. */
const HEALTH_MS = 15_000;

/** Starts `size` members (1 or 3) and waits until every one is healthy. */
export async function startEtcd(size = 1): Promise<EtcdCluster> {
  if (!ETCD_BIN) throw new Error(ETCD_SKIP);
  const bin = ETCD_BIN;
  const root = mkdtempSync(join(tmpdir(), "vaquero-etcd-"));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(",");
  const token = `vaquero-${Date.now().toString(36)}`;

  const members: EtcdMember[] = specs.map((s) => {
    const dataDir = join(root, s.name);
    const clientUrl = `http://127.0.0.1:${s.client}`;
    const peerUrl = `http://127.0.0.1:${s.peer}`;
    let proc: ChildProcess | undefined;
    const args = [
      `--name=${s.name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${initial}`,
      `--initial-cluster-token=${token}`,
      "--initial-cluster-state=new",
      "--heartbeat-interval=100",
      "--election-timeout=1000",
      "--log-outputs=stderr",
      "--logger=zap",
    ];
    const member: EtcdMember = {
      name: s.name,
      clientUrl,
      peerUrl,
      dataDir,
      pid: () => proc?.pid,
      async kill() {
        const p = proc;
        proc = undefined;
        if (!p || p.exitCode !== null) return;
        const exited = new Promise<void>((r) => p.once("exit", () => r()));
        p.kill("SIGKILL");
        await exited;
      },
      async start() {
        if (proc) return;
        const log = openSync(join(root, `${s.name}.log`), "a");
        proc = spawn(bin, args, {
          stdio: ["ignore", log, log],
          env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? "" },
        });
        await waitHealthy(clientUrl, size === 1);
      },
    };
    return member;
  });

  const stop = async (): Promise<void> => {
    for (const m of members) await m.kill();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    // Members of a new cluster wait for each other: start them all, then wait.
    await Promise.all(members.map((m) => m.start()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { members, endpoints: members.map((m) => m.clientUrl), stop };
}

/** Waits until the member answers a linearizable /health (a quorum has a leader); bounded by {@link HEALTH_MS}. */
async function waitHealthy(clientUrl: string, single: boolean): Promise<void> {
  const deadline = Date.now() + HEALTH_MS;
  let last = "";
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === "true") return;
      last = JSON.stringify(body);
    } catch (e) {
      last = String(e);
    }
    // A member of a cluster whose peers are not up yet is not healthy; the others start meanwhile.
    await Bun.sleep(single ? 50 : 100);
  }
  throw new Error(`etcd at ${clientUrl} not healthy within ${HEALTH_MS} ms: ${last}`);
}
