/**
 * Vaquero's DHCP server against real clients nobody on the project wrote: busybox `udhcpc` and ISC `dhclient`,
 * across a veth pair between two network namespaces the test creates (root only; CI runs as root).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createNetnsPair, type NetnsPair, netnsUnavailable, udhcpc } from "./_helpers/netns.ts";

const why = netnsUnavailable();
const missing = ["busybox", "dhclient"].filter((b) => Bun.spawnSync(["sh", "-c", `command -v ${b}`]).exitCode !== 0);
const SERVE = resolve(import.meta.dir, "_helpers/dhcp-serve.ts");
const work = mkdtempSync(join(tmpdir(), "vq-dhcp-"));
const KNOWN = "52:54:00:99:00:11";
const subnet = { cidr: "10.99.0.0/24", gateway: "10.99.0.1", dns: ["10.99.0.2"], ntp: [], domain: "lab.example" };

let net: NetnsPair | undefined;
let server: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
let events: string[] = [];

async function startServer(config: object): Promise<void> {
  if (!net) throw new Error("no network");
  events = [];
  server = net.spawn(net.server, [process.execPath, SERVE, JSON.stringify(config)]);
  const reader = server.stdout.getReader();
  const deadline = Date.now() + 10_000;
  let text = "";
  while (!text.includes("ready\n")) {
    if (Date.now() > deadline) throw new Error(`dhcp server did not start: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`dhcp server exited: ${text} ${await new Response(server.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      events.push(...new TextDecoder().decode(value).split("\n").filter(Boolean));
    }
  })();
}

async function stopServer(): Promise<void> {
  server?.kill("SIGTERM");
  await server?.exited;
  server = undefined;
}

/** udhcpc from the client namespace of this file's network. */
function client(mac: string, extra: string[] = []): Promise<Record<string, string>> {
  if (!net) throw new Error("no network");
  return udhcpc(net, work, mac, extra);
}

describe.skipIf(why !== undefined)(`DHCP against real clients${why ? ` (skipped: ${why})` : ""}`, () => {
  beforeAll(() => {
    if (missing.length) throw new Error(`missing ${missing.join(", ")}: install Debian's busybox and isc-dhcp-client`);
    net = createNetnsPair("dh");
  });
  afterAll(async () => {
    await stopServer();
    net?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  test("udhcpc gets the host's reserved address, router, DNS, domain and hostname (server mode)", async () => {
    await startServer({
      serverId: "10.99.0.2",
      mode: "server",
      agentUrl: "http://10.99.0.2:8080",
      reservations: { [KNOWN]: { host: "node-1", ipv4: "10.99.0.11", subnet } },
    });
    const env = await client(KNOWN);
    expect({
      ip: env.ip,
      subnet: env.subnet,
      router: env.router,
      dns: env.dns,
      domain: env.domain,
      hostname: env.hostname,
      serverid: env.serverid,
    }).toEqual({
      ip: "10.99.0.11",
      subnet: "255.255.255.0",
      router: "10.99.0.1",
      dns: "10.99.0.2",
      domain: "lab.example",
      hostname: "node-1",
      serverid: "10.99.0.2",
    });
    expect(events.map((e) => (JSON.parse(e) as { type: string }).type)).toEqual(["offer", "ack"]);
  });

  test("a PXE vendor class gets the boot program in the same exchange", async () => {
    const env = await client(KNOWN, ["-V", "PXEClient:Arch:00000:UNDI:002001"]);
    expect([env.ip, env.boot_file, env.siaddr]).toEqual(["10.99.0.11", "undionly.kpxe", "10.99.0.2"]);
  });

  test("an unknown machine gets nothing without a pool, and a pool address with one", async () => {
    const none = await client("52:54:00:99:00:99");
    expect(none.exit).toBe("1");
    await stopServer();
    await startServer({
      serverId: "10.99.0.2",
      mode: "server",
      agentUrl: "http://10.99.0.2:8080",
      reservations: { [KNOWN]: { host: "node-1", ipv4: "10.99.0.11", subnet } },
      pool: { start: "10.99.0.200", end: "10.99.0.201", subnet },
    });
    expect((await client("52:54:00:99:00:a1")).ip).toBe("10.99.0.200");
    expect((await client("52:54:00:99:00:b1")).ip).toBe("10.99.0.201");
    expect((await client(KNOWN)).ip).toBe("10.99.0.11");
  });

  test("ISC dhclient gets the reserved address", async () => {
    if (!net) throw new Error("no network");
    await net.exec(net.client, ["ip", "link", "set", net.clientIf, "address", KNOWN]);
    const out = join(work, "dhclient.env");
    const script = join(work, "dhclient.sh");
    writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|REBOOT) env > ${out};; esac\nexit 0\n`, { mode: 0o755 });
    const pidFile = join(work, "dhclient.pid");
    // -1: one attempt; once bound dhclient forks a daemon to renew, which is stopped by its PID file below.
    const r = await net.exec(
      net.client,
      ["dhclient", "-1", "-sf", script, "-lf", join(work, "dhclient.leases"), "-pf", pidFile, net.clientIf],
      30_000,
    );
    // Once bound, dhclient's parent exits and its daemon child writes the PID file a moment later (bounded wait).
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await Bun.sleep(50);
    if (!existsSync(pidFile)) throw new Error(`dhclient wrote no PID file (exit ${r.code}): ${r.err.slice(0, 500)}`);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid > 0) process.kill(pid, "SIGTERM");
    expect(r.code).toBe(0);
    const env = readFileSync(out, "utf8");
    expect(env).toContain("new_ip_address=10.99.0.11");
    expect(env).toContain("new_routers=10.99.0.1");
  });
});
