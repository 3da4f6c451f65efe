/**
 * bench/store: the store backends under Vaquero's heaviest writes, and leader failover on etcd.
 *
 *   bun bench/store/run.ts [--runs 3] [--kills 10]
 *
 * On each backend (embedded in a temp dir; etcd: a fresh three-member cluster on loopback from
 * test/_helpers/etcd.ts), several runs of: publishing a 10,000-host release (a canonical JSON bundle of ~3 MB,
 * chunked, `_release.ts`) and reading it back; ingesting 100,000 events of ~200 bytes in transactions of 128.
 * Then failover: three contender processes (`contender.ts`) campaign with pkg/coord on the cluster with the
 * default 2 s lease TTL; the leader's process is killed with SIGKILL `--kills` times, timing kill → another
 * contender's `LEADER` line. Prints Markdown for docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedStore, openEtcdStore, type Store } from "../../pkg/store/index.ts";
import { startEtcd } from "../../test/_helpers/etcd.ts";
import { ingestEvents, publishRelease, readRelease } from "./_release.ts";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const runs = arg("runs", 3);
const kills = arg("kills", 10);
const HOSTS = 10_000;
const EVENTS = 100_000;

/** A canonical JSON bundle (sorted keys, no spaces) of `hosts` hosts, as the compiler would hand a release over. */
function bundle(hosts: number, seed: number): Uint8Array {
  const list = [];
  for (let i = 0; i < hosts; i++) {
    const mac = `0c:c4:7a:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
    list.push({
      bmc: { address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, cipher: 17, password_ref: `env:BMC_${i % 50}` },
      boot: {
        cmdline: `console=ttyS0 flatcar.first_boot=1 ignition.config.url=http://{{agent}}/config/${mac} seed=${seed}`,
        initrd: ["flatcar_production_pxe_image.cpio.gz"],
        kernel: "flatcar_production_pxe.vmlinuz",
      },
      config_sha256: new Bun.CryptoHasher("sha256").update(`${seed}/${i}`).digest("hex"),
      hostname: `node-${String(i).padStart(5, "0")}.site${i % 10}.example`,
      ip: `10.${100 + (i % 10)}.${(i >> 8) & 255}.${i & 255}`,
      mac,
      site: `site${i % 10}`,
      workflow: `wf-${i % 50}`,
    });
  }
  return new TextEncoder().encode(JSON.stringify({ hosts: list, release: `r${seed}`, schema: 1 }));
}

function events(n: number, seed: number): { key: string; value: Uint8Array }[] {
  const enc = new TextEncoder();
  return Array.from({ length: n }, (_, i) => ({
    key: `/vaquero/events/site${i % 10}/${seed}-${String(i).padStart(7, "0")}`,
    value: enc.encode(
      JSON.stringify({
        at: 1_764_000_000_000 + i,
        host: `node-${String(i % HOSTS).padStart(5, "0")}`,
        stage: "install",
        state: i % 3 ? "booting" : "provisioned",
        type: "state",
        detail: "x".repeat(90),
      }),
    ),
  }));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const fmt = (xs: number[]): string => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

async function measure(name: string, open: () => Promise<Store>): Promise<string> {
  const publish: number[] = [];
  const read: number[] = [];
  const ingest: number[] = [];
  let size = 0;
  for (let r = 0; r < runs; r++) {
    const store = await open();
    const b = bundle(HOSTS, r + 1);
    size = b.length;
    let t = performance.now();
    await publishRelease(store, `r${r + 1}`, b);
    publish.push(performance.now() - t);
    t = performance.now();
    const back = await readRelease(store, `r${r + 1}`);
    read.push(performance.now() - t);
    if (!back || back.length !== b.length) throw new Error("release read back differs");
    const evs = events(EVENTS, r);
    t = performance.now();
    await ingestEvents(store, evs, 4);
    ingest.push(performance.now() - t);
    await store.close();
  }
  return `| ${name} | ${runs} | ${(size / 1e6).toFixed(2)} MB | ${fmt(publish)} | ${fmt(read)} | ${fmt(ingest)} | ${Math.round(EVENTS / (median(ingest) / 1000))} |`;
}

/** Kill → new leader times over `kills` kills of the leader among three contender processes. */
async function failover(endpoints: string[]): Promise<number[]> {
  const script = join(import.meta.dir, "contender.ts");
  type C = { name: string; proc: ReturnType<typeof Bun.spawn>; leaderAt?: number };
  const all = new Map<string, C>();
  let waiting: ((c: C) => void) | undefined;
  const spawn = (name: string): C => {
    const proc = Bun.spawn([process.execPath, script, endpoints.join(","), name, "2"], { stdout: "pipe", stderr: "inherit" });
    const c: C = { name, proc };
    all.set(name, c);
    void (async () => {
      let buf = "";
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        buf += new TextDecoder().decode(chunk);
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
          const [word, , at] = buf.slice(0, i).split(" ");
          buf = buf.slice(i + 1);
          if (word === "LEADER") {
            c.leaderAt = Number(at);
            waiting?.(c);
          }
        }
      }
    })();
    return c;
  };
  const nextLeader = (ms: number): Promise<C> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no leader within ${ms} ms`)), ms);
      waiting = (c) => {
        clearTimeout(t);
        waiting = undefined;
        resolve(c);
      };
    });
  const first = nextLeader(30_000);
  for (const n of ["a", "b", "c"]) spawn(n);
  let leader = await first;
  const times: number[] = [];
  let n = 0;
  for (let k = 0; k < kills; k++) {
    await Bun.sleep(1500); // let the others settle as candidates
    const next = nextLeader(30_000);
    const killedAt = Date.now();
    leader.proc.kill("SIGKILL");
    await leader.proc.exited;
    const dead = leader.name;
    leader = await next;
    times.push((leader.leaderAt ?? Date.now()) - killedAt);
    spawn(`${dead}${++n}`);
  }
  for (const c of all.values()) c.proc.kill("SIGKILL");
  return times;
}

const root = mkdtempSync(join(tmpdir(), "vq-bench-store-"));
const cluster = await startEtcd(3);
try {
  let files = 0;
  const lines = [
    "| backend | runs | bundle | release publish | release read | 100,000 events | events/s |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  lines.push(await measure("embedded", () => openEmbeddedStore({ path: join(root, `b${++files}.db`) })));
  lines.push(await measure("etcd (3 members)", () => openEtcdStore({ endpoints: cluster.endpoints, prefix: `/bench${++files}` })));
  console.log(lines.join("\n"));
  const times = await failover(cluster.endpoints);
  console.log(
    `\nfailover over ${times.length} kills (lease TTL 2 s): median ${median(times)} ms, min ${Math.min(...times)}, max ${Math.max(...times)}; all: ${times.join(", ")}`,
  );
  console.log(`load: ${(await Bun.$`uptime`.text()).trim()}`);
} finally {
  await cluster.stop();
  rmSync(root, { recursive: true, force: true });
}
