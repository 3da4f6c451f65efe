/**
 * bench/boot/http: the agent's HTTP against nginx (sendfile) in the same run, on 127.0.0.1, with wrk:
 * a 50 MB asset with 1 and 16 connections (MB/s), and rendered per-host iPXE scripts (requests/s).
 *
 *   npm run build && bun bench/boot/http.ts [--seconds 10]
 *
 * Needs Debian's nginx (or nginx-light) and wrk. Prints a Markdown table for docs/benchmarks.md.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../../test/_helpers/ports.ts";

const root = resolve(import.meta.dir, "../..");
const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1] || 10) || 10;
const work = mkdtempSync(join(tmpdir(), "vq-bench-http-"));
const assets = join(work, "assets");
mkdirSync(assets);
writeFileSync(join(assets, "big.img"), Buffer.alloc(50 * 1024 * 1024, 1));

/** The example SoT's lab site with its asset directory pointed at the bench's. */
const sot = join(work, "sot");
cpSync(join(root, "examples/sot"), sot, { recursive: true });
const env = join(sot, "sites/lab/env.yml");
writeFileSync(env, (await Bun.file(env).text()).replace("  dhcp: proxy", `  dhcp: proxy\n  assets: {dir: ${assets}}`));

const [vqPort, ngPort] = [await freePort(), await freePort()];
const vq = Bun.spawn(
  [
    join(root, "dist/vaquero"),
    "standalone",
    "--sot",
    sot,
    "--site",
    "lab",
    "--data-dir",
    join(work, "data"),
    "--http-addr",
    `127.0.0.1:${vqPort}`,
    "--tftp-addr",
    "127.0.0.1:0",
    "--log-level",
    "warn",
    // One wrk client is one address: the per-client limit of the boot endpoints would measure 429s.
    "--boot-rate",
    "0",
  ],
  {
    stdout: "ignore",
    stderr: "pipe",
  },
);
const nginxConf = join(work, "nginx.conf");
writeFileSync(
  nginxConf,
  `daemon off; user root; worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/nginx.err;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${work}/nb; proxy_temp_path ${work}/np; fastcgi_temp_path ${work}/nf; uwsgi_temp_path ${work}/nu; scgi_temp_path ${work}/ns;
  server { listen 127.0.0.1:${ngPort}; location /assets/ { alias ${assets}/; } } }
`,
);
const ng = Bun.spawn(["nginx", "-c", nginxConf, "-p", work], { stdout: "ignore", stderr: "pipe" });
try {
  for (let i = 0; i < 100; i++) {
    const up = await Promise.all([
      fetch(`http://127.0.0.1:${vqPort}/live`).catch(() => undefined),
      fetch(`http://127.0.0.1:${ngPort}/assets/`).catch(() => undefined),
    ]);
    if (up.every((r) => r !== undefined)) break;
    await Bun.sleep(100);
  }
  const wrk = (url: string, conns: number): { rps: number; mbps: number } => {
    const r = Bun.spawnSync(["wrk", "-t", String(Math.min(conns, 2)), "-c", String(conns), "-d", `${seconds}s`, url], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = r.stdout.toString();
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const tr = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
    const scale: Record<string, number> = { B: 1e-6, KB: 1.024e-3, MB: 1.048576, GB: 1073.741824 };
    return { rps, mbps: tr ? Number(tr[1]) * (scale[tr[2] ?? "MB"] ?? 1) : Number.NaN };
  };
  const rows: string[] = [];
  for (const conns of [1, 16]) {
    const a = wrk(`http://127.0.0.1:${vqPort}/assets/big.img`, conns);
    const b = wrk(`http://127.0.0.1:${ngPort}/assets/big.img`, conns);
    rows.push(`| 50 MB asset | ${conns} | ${a.mbps.toFixed(0)} MB/s | ${b.mbps.toFixed(0)} MB/s | ${(a.mbps / b.mbps).toFixed(2)}× |`);
  }
  const s = wrk(`http://127.0.0.1:${vqPort}/boot.ipxe?mac=52:54:00:77:00:21`, 16);
  rows.push(`| per-host iPXE script (rendered) | 16 | ${s.rps.toFixed(0)} req/s | – | – |`);
  console.log(`| what | connections | vaquero | nginx | ratio |\n| --- | --- | --- | --- | --- |\n${rows.join("\n")}`);
} finally {
  vq.kill();
  ng.kill();
  await Promise.all([vq.exited, ng.exited]);
  rmSync(work, { recursive: true, force: true });
}
