/**
 * bench/boot/dhcp: full DORA exchanges from ISC's perfdhcp against Vaquero's DHCP server and against Kea
 * (kea-dhcp4) in the same run, through a veth pair between two network namespaces (root only). perfdhcp acts
 * as a relay (giaddr, port 67), so the servers answer the relay. Each server is offered rising rates; the table
 * gives the achieved exchange rate and the drop ratio at each.
 *
 *   npm run build && sudo bun bench/boot/dhcp.ts [--seconds 10] [--clients 10000] [--rates 1000,2000,3000,4000,6000,9000]
 *
 * Needs Debian's kea-admin (perfdhcp) and kea-dhcp4-server.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createNetnsPair } from "../../test/_helpers/netns.ts";

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : (process.argv[i + 1] ?? def);
};
const seconds = Number(arg("seconds", "10"));
const clients = Number(arg("clients", "10000"));
const rates = arg("rates", "1000,2000,3000,4000,6000,9000").split(",").map(Number);
const root = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "vq-bench-dhcp-"));
const net = createNetnsPair("bd", "10.98.0.1");

/** Runs perfdhcp from the client namespace at one rate; returns achieved rate and drop ratio. */
async function perf(rate: number): Promise<{ rate: number; drops: number }> {
  const r = await net.exec(
    net.client,
    ["perfdhcp", "-4", "-r", String(rate), "-R", String(clients), "-p", String(seconds), "-l", "10.98.0.2", "-W", "1000000", "10.98.0.1"],
    (seconds + 20) * 1000,
  );
  const out = r.out + r.err;
  const rateOut = Number(/Rate:\s+([\d.]+)\s+4-way exchanges\/second/i.exec(out)?.[1] ?? Number.NaN);
  const sent = [...out.matchAll(/sent packets:\s+(\d+)/g)].map((m) => Number(m[1]));
  const drops = [...out.matchAll(/drops:\s+(\d+)/g)].map((m) => Number(m[1]));
  const ratio = sent.length ? drops.reduce((a, b) => a + b, 0) / sent.reduce((a, b) => a + b, 0) : Number.NaN;
  return { rate: rateOut, drops: ratio };
}

async function measure(name: string, start: () => Bun.Subprocess): Promise<string[]> {
  const p = start();
  await Bun.sleep(4000); // standalone first listens 2 s for another DHCP server
  const rows: string[] = [];
  try {
    for (const rate of rates) {
      const m = await perf(rate);
      rows.push(`| ${name} | ${rate} | ${m.rate.toFixed(0)} | ${(m.drops * 100).toFixed(2)} % |`);
    }
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
  return rows;
}

try {
  await net.exec(net.client, ["ip", "addr", "add", "10.98.0.2/16", "dev", net.clientIf]);
  await net.exec(net.server, ["ip", "addr", "add", "10.98.0.1/16", "dev", net.serverIf]);
  // The compiled binary, as operators run it: a one-site SoT whose subnet has a pool for unknown machines.
  const sot = join(work, "sot");
  for (const [path, text] of Object.entries({
    "sites/bench/env.yml":
      "id: bench\nagent: {url: http://10.98.0.1:8080, dhcp: server}\nsubnets:\n  - {id: p, cidr: 10.98.0.0/16, pool: {start: 10.98.1.0, end: 10.98.200.255}}\n",
  })) {
    mkdirSync(dirname(join(sot, path)), { recursive: true });
    writeFileSync(join(sot, path), text);
  }
  const bin = join(root, "dist/vaquero");
  const vaquero = await measure("vaquero", () =>
    net.spawn(net.server, [
      bin,
      "standalone",
      "--sot",
      sot,
      "--data-dir",
      join(work, "data"),
      "--http-addr",
      "10.98.0.1:8080",
      "--tftp-addr",
      "10.98.0.1:69",
      "--dhcp-iface",
      net.serverIf,
      "--log-level",
      "warn",
    ]),
  );
  const keaConf = join(work, "kea.json");
  writeFileSync(
    keaConf,
    JSON.stringify({
      Dhcp4: {
        "interfaces-config": { interfaces: [net.serverIf], "dhcp-socket-type": "udp" },
        "lease-database": { type: "memfile", persist: false },
        "valid-lifetime": 3600,
        subnet4: [{ id: 1, subnet: "10.98.0.0/16", pools: [{ pool: "10.98.1.0 - 10.98.200.255" }] }],
        loggers: [{ name: "kea-dhcp4", severity: "ERROR", output_options: [{ output: "stderr" }] }],
      },
    }),
  );
  const kea = await measure("kea", () =>
    net.spawn(net.server, ["env", `KEA_PIDFILE_DIR=${work}`, `KEA_LOCKFILE_DIR=${work}`, "kea-dhcp4", "-c", keaConf]),
  );
  console.log(`| server | offered /s | achieved DORA /s | drops |\n| --- | --- | --- | --- |\n${[...vaquero, ...kea].join("\n")}`);
} finally {
  net.remove();
  rmSync(work, { recursive: true, force: true });
}
