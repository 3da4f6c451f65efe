/**
 * bench/store: leader failover of whole `vaquero server` processes on etcd.
 *
 *   npm run build && bun bench/store/failover-server.ts [--kills 10] [--lease-ttl 2s]
 *
 * A three-member etcd on loopback (test/_helpers/etcd.ts), three `vaquero server` (dist/vaquero) on 127.0.0.1 with
 * a small directory SoT and the given lease TTL. `--kills` times: wait until one server leads and the others name
 * it, kill the leader with SIGKILL, and time the kill until another server answers `role: leader` on `/ready`
 * (polled every 20 ms); then start the killed one again. Prints the times and a Markdown line for
 * docs/benchmarks.md.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startEtcd } from "../../test/_helpers/etcd.ts";
import { type HaServer, ready, settledLeader, startServers } from "../../test/_helpers/ha-servers.ts";

const { values } = parseArgs({ options: { kills: { type: "string", default: "10" }, "lease-ttl": { type: "string", default: "2s" } } });
const kills = Math.max(1, Math.min(100, Number(values.kills) || 10));
const ROOT = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "vq-failover-"));
const etcd = await startEtcd(3);
let servers: HaServer[] = [];
try {
  cpSync(join(ROOT, "test/fixtures/_valid-base"), join(work, "sot"), { recursive: true });
  const args = ["--sot", join(work, "sot"), "--etcd-endpoints", etcd.endpoints.join(","), "--lease-ttl", values["lease-ttl"] ?? "2s"];
  servers = await startServers({ bin: join(ROOT, "dist/vaquero"), cwd: work, count: 3, args: [...args, "--log-level", "warn"] });
  const times: number[] = [];
  for (let k = 0; k < kills; k++) {
    const leader = await settledLeader(servers);
    // Let a few keep-alives pass, so the kill lands at a random point of the keep-alive period.
    await Bun.sleep(500 + Math.floor(Math.random() * 700));
    const t0 = performance.now();
    await leader.kill();
    const others = servers.filter((s) => s !== leader);
    let ms = Number.NaN;
    for (let i = 0; i < 1500; i++) {
      const answers = await Promise.all(others.map((s) => ready(s, 1000)));
      if (answers.some((a) => a.role === "leader")) {
        ms = performance.now() - t0;
        break;
      }
      await Bun.sleep(20);
    }
    times.push(Math.round(ms));
    console.log(`kill ${k + 1}: ${Math.round(ms)} ms`);
    leader.start();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  console.log(
    `\nServer failover over ${kills} kills of the leader (lease TTL ${values["lease-ttl"]}): median ${median} ms, min ${sorted[0]}, max ${sorted[sorted.length - 1]} (all: ${times.join(", ")}).`,
  );
} finally {
  for (const s of servers) await s.kill();
  await etcd.stop();
  rmSync(work, { recursive: true, force: true });
}
