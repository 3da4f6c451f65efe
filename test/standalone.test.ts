/**
 * `vaquero standalone`, the compiled binary: serves a site over HTTP and TFTP on loopback, answers a real DHCP
 * client (udhcpc) across network namespaces, records every step in the machine's boot trace, and refuses bad
 * configuration with one line and exit 2.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createNetnsPair, type NetnsPair, netnsUnavailable, udhcpc } from "./_helpers/netns.ts";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-standalone-"));
const bin = join(work, "vaquero");
const ipxeDir = join(work, "ipxe");
const MAC = "52:54:00:00:00:01";

/** Every binary started here, so that a failed assertion never leaves one running (killed by PID in afterAll). */
const running = new Set<Bun.Subprocess>();

/** Starts the binary and waits for the line that says HTTP is served (or for it to exit). */
async function start(args: string[], wrap: string[] = []) {
  const p = Bun.spawn([...wrap, bin, "standalone", ...args], {
    cwd: work,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/sbin:/usr/bin:/bin" },
  });
  running.add(p);
  const reader = p.stderr.getReader();
  let log = "";
  const deadline = Date.now() + 15_000;
  while (!log.includes('"serving DHCP"') && !log.includes('"DHCP is off')) {
    if (Date.now() > deadline) throw new Error(`standalone did not start: ${log}`);
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => ({ value: undefined, done: true }))]);
    if (done) return { p, log, exited: true as const };
    log += new TextDecoder().decode(value);
  }
  void (async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) return;
    }
  })();
  return { p, log, exited: false as const };
}

async function stop(p: Bun.Subprocess): Promise<number> {
  running.delete(p);
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), 5000);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

// Building the binary takes seconds, more on a loaded machine: longer than a hook's default 5 s.
beforeAll(() => {
  const b = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(ipxeDir);
  writeFileSync(join(ipxeDir, "undionly.kpxe"), Buffer.alloc(70_000, 7));
  // As in Debian's ipxe package, where ipxe.efi links to /boot/ipxe.efi: the operator's directory is trusted.
  writeFileSync(join(work, "ipxe.efi.real"), "efi");
  symlinkSync(join(work, "ipxe.efi.real"), join(ipxeDir, "ipxe.efi"));
  writeFileSync(join(ipxeDir, "secret.txt"), "not a boot program");
  cpSync(join(ROOT, "test/fixtures/_valid-base"), join(work, "sot"), { recursive: true });
}, 60_000);
afterAll(async () => {
  for (const p of running) {
    p.kill("SIGKILL");
    await p.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe("vaquero standalone on loopback", () => {
  test("serves boot scripts, configs, status and TFTP; reports land in the trace; SIGTERM stops it with 0", async () => {
    const [http, tftp] = [await freePort(), await freePort()];
    const s = await start([
      "--sot",
      "sot",
      "--data-dir",
      "data",
      "--http-addr",
      `127.0.0.1:${http}`,
      "--tftp-addr",
      `127.0.0.1:${tftp}`,
      "--ipxe-dir",
      ipxeDir,
    ]);
    expect(s.exited).toBe(false);
    const base = `http://127.0.0.1:${http}`;
    expect(await (await fetch(`${base}/boot.ipxe`)).text()).toStartWith(`#!ipxe\nchain ${base}/boot.ipxe?mac=`);
    expect(await (await fetch(`${base}/boot.ipxe?mac=52-54-00-00-00-01`)).text()).toContain(
      "\nkernel https://stable.release.flatcar-linux.net/",
    );
    expect(((await (await fetch(`${base}/config/${MAC}`)).json()) as { ignition: { version: string } }).ignition.version).toBe("3.3.0");
    const report = await fetch(`${base}/state`, { method: "POST", body: new URLSearchParams({ mac: MAC, event: "booted" }) });
    expect(report.status).toBe(204);
    const tftpOut = join(work, "got.kpxe");
    const t = Bun.spawnSync(["curl", "-s", "-o", tftpOut, `tftp://127.0.0.1:${tftp}/undionly.kpxe`], { timeout: 20_000 });
    expect(t.exitCode).toBe(0);
    expect(readFileSync(tftpOut).equals(Buffer.alloc(70_000, 7))).toBe(true);
    const ipxeHttp = await fetch(`${base}/ipxe/undionly.kpxe`);
    expect((await ipxeHttp.arrayBuffer()).byteLength).toBe(70_000);
    expect(await (await fetch(`${base}/ipxe/ipxe.efi`)).text()).toBe("efi");
    expect((await fetch(`${base}/ipxe/secret.txt`)).status).toBe(404);
    const efiOut = join(work, "got.efi");
    expect(Bun.spawnSync(["curl", "-s", "-o", efiOut, `tftp://127.0.0.1:${tftp}/ipxe.efi`], { timeout: 20_000 }).exitCode).toBe(0);
    expect(readFileSync(efiOut, "utf8")).toBe("efi");
    expect(
      Bun.spawnSync(["curl", "-s", "-o", join(work, "x"), `tftp://127.0.0.1:${tftp}/secret.txt`], { timeout: 20_000 }).exitCode,
    ).not.toBe(0);
    const trace = (await (await fetch(`${base}/status/machines/${MAC}`)).json()) as {
      state: string;
      events: { source: string; type: string }[];
    };
    expect(trace.state).toBe("installing");
    expect(trace.events.map((e) => `${e.source}:${e.type}`)).toEqual(["http:boot.ipxe", "http:config", "state:booted"]);
    const openapi = (await (await fetch(`${base}/openapi/json`)).json()) as { info: { version: string }; paths: object };
    expect([openapi.info.version, Object.keys(openapi.paths)]).toEqual([
      "0.1.0",
      expect.arrayContaining(["/boot.ipxe", "/state", "/execute", "/releases", "/releases/{id}", "/postreceive", "/tokens"]),
    ]);
    const status = (await (await fetch(`${base}/status`)).json()) as { site: string; machines: { by_state: object } };
    expect(status).toMatchObject({ site: "s1", machines: { total: 1, by_state: { installing: 1 } } });
    expect(await stop(s.p)).toBe(0);
  });

  const refused: [string, string[], number, string][] = [
    ["no --data-dir", ["--sot", "sot"], 2, "vaquero standalone: --data-dir is required"],
    ["a bad --http-addr", ["--sot", "sot", "--data-dir", "d", "--http-addr", "nowhere"], 2, "want HOST:PORT"],
    ["a bad --sot-poll", ["--sot", "sot", "--data-dir", "d", "--sot-poll", "60"], 2, "want a duration like 30s"],
    [
      "webhooks without a branch",
      ["--sot", "sot", "--data-dir", "d", "--webhook-secret-file", "nope"],
      2,
      "--webhook-secret-file needs --ref BRANCH",
    ],
    ["an unknown site", ["--sot", "sot", "--data-dir", "d", "--site", "nope"], 2, 'site "nope" is not in the SoT'],
    [
      "an interface that does not exist",
      ["--sot", "sot", "--data-dir", "d", "--http-addr", "127.0.0.1:0", "--tftp-addr", "127.0.0.1:0", "--dhcp-iface", "nope0"],
      2,
      "interface nope0 does not exist",
    ],
  ];
  for (const [name, args, code, msg] of refused) {
    test(`refuses ${name}`, async () => {
      const p = Bun.spawn([bin, "standalone", ...args], { cwd: work, stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => p.kill(), 15_000);
      const [err, exit] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      expect(exit).toBe(code);
      expect(err).toContain(msg);
    });
  }
  test("a port already in use is one line and exit 2", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as { port: number }).port;
    const p = Bun.spawn([bin, "standalone", "--sot", "sot", "--data-dir", "d", "--http-addr", `127.0.0.1:${port}`], {
      cwd: work,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [err, exit] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    busy.close();
    expect(exit).toBe(2);
    expect(err).toContain(`cannot serve HTTP on 127.0.0.1:${port}: address in use`);
  });
});

const why = netnsUnavailable();
describe.skipIf(why !== undefined)(`vaquero standalone answers DHCP${why ? ` (skipped: ${why})` : ""}`, () => {
  let net: NetnsPair | undefined;
  beforeAll(() => {
    // The base SoT's subnet is 10.0.0.0/24 and its host 10.0.0.11; the agent takes 10.0.0.2.
    net = createNetnsPair("sa", "10.0.0.2");
  });
  afterAll(() => net?.remove());

  test("refuses to serve addresses beside another DHCP server, naming it", async () => {
    if (!net) throw new Error("no network");
    await net.exec(net.client, ["ip", "addr", "add", "10.0.0.3/24", "dev", net.clientIf]);
    const subnet = { cidr: "10.0.0.0/24", dns: [], ntp: [] };
    const rogueConfig = {
      serverId: "10.0.0.3",
      mode: "server",
      agentUrl: "http://10.0.0.3",
      reservations: {},
      pool: { start: "10.0.0.100", end: "10.0.0.110", subnet },
    };
    const rogue = net.spawn(net.client, [process.execPath, join(ROOT, "test/_helpers/dhcp-serve.ts"), JSON.stringify(rogueConfig)]);
    try {
      const reader = rogue.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain("ready");
      const p = Bun.spawn(
        [
          "ip",
          "netns",
          "exec",
          net.server,
          bin,
          "standalone",
          "--sot",
          "sot",
          "--data-dir",
          "data",
          "--http-addr",
          "10.0.0.2:8080",
          "--tftp-addr",
          "10.0.0.2:69",
          "--dhcp-iface",
          net.serverIf,
        ],
        { cwd: work, stdout: "pipe", stderr: "pipe" },
      );
      const timer = setTimeout(() => p.kill(), 20_000);
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      expect(code).toBe(2);
      expect(err).toContain("another DHCP server (10.0.0.3) answers on");
    } finally {
      rogue.kill("SIGTERM");
      await rogue.exited;
      await net.exec(net.client, ["ip", "addr", "del", "10.0.0.3/24", "dev", net.clientIf]);
    }
  });

  test("udhcpc in another namespace gets the host's reservation, and the DHCP exchange joins the trace", async () => {
    if (!net) throw new Error("no network");
    const s = await start(
      [
        "--sot",
        "sot",
        "--data-dir",
        "data-dhcp",
        "--http-addr",
        "10.0.0.2:8080",
        "--tftp-addr",
        "10.0.0.2:69",
        "--dhcp-iface",
        net.serverIf,
      ],
      ["ip", "netns", "exec", net.server],
    );
    expect(s.exited).toBe(false);
    const lease = await udhcpc(net, work, MAC, ["-V", "PXEClient:Arch:00000:UNDI:002001"]);
    expect([lease.ip, lease.boot_file]).toEqual(["10.0.0.11", "undionly.kpxe"]);
    const trace = await net.exec(net.server, ["curl", "-s", `http://10.0.0.2:8080/status/machines/${MAC}`]);
    const events = (JSON.parse(trace.out) as { events: { source: string; type: string }[] }).events.map((e) => `${e.source}:${e.type}`);
    expect(events).toEqual(["dhcp:offer", "dhcp:ack"]);
    expect(await stop(s.p)).toBe(0);
  });

  test("pool leases survive a restart: an address bound before is not offered to another machine after", async () => {
    if (!net) throw new Error("no network");
    const args = ["--sot", "sot", "--data-dir", "data-leases", "--http-addr", "10.0.0.2:8080", "--tftp-addr", "10.0.0.2:69"];
    const first = await start([...args, "--dhcp-iface", net.serverIf], ["ip", "netns", "exec", net.server]);
    expect(first.log).not.toContain('"level":50');
    expect(first.exited).toBe(false);
    expect((await udhcpc(net, work, "52:54:00:00:77:01")).ip).toBe("10.0.0.200");
    expect(await stop(first.p)).toBe(0);
    const second = await start([...args, "--dhcp-iface", net.serverIf], ["ip", "netns", "exec", net.server]);
    expect((await udhcpc(net, work, "52:54:00:00:77:02")).ip).toBe("10.0.0.201");
    expect((await udhcpc(net, work, "52:54:00:00:77:01")).ip).toBe("10.0.0.200");
    expect(await stop(second.p)).toBe(0);
  }, 60_000);
});
