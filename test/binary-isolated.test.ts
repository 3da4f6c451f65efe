/**
 * The binary carries its own worker threads: run from a folder of its own while the build tree is hidden (an
 * empty tmpfs mounted over it in a private mount namespace), `vaquero standalone` compiles in its compile worker,
 * serves DHCP through its device-socket worker and TFTP through its transfer workers — none of them may reach for
 * a file of the machine it was built on. Root only (unshare, mount).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { freePort } from "./_helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const why =
  process.getuid?.() !== 0
    ? "needs root (unshare --mount)"
    : Bun.which("unshare") === null
      ? "unshare (util-linux) is not installed"
      : Bun.which("curl") === null
        ? "curl is not installed"
        : undefined;

describe.skipIf(why !== undefined)(`the binary with its build tree hidden${why ? ` (skipped: ${why})` : ""}`, () => {
  const work = mkdtempSync(join(tmpdir(), "vq-isolated-"));
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let log = "";

  beforeAll(async () => {
    cpSync(builtBinary(), join(work, "vaquero"));
    // A one-host site in proxy mode on loopback: DHCP binds lo through the device socket without probing for rivals.
    const files: Record<string, string> = {
      "os/x.yml": "id: x\nfamily: flatcar\nversion: 1.0.0\nkernel: /assets/vmlinuz\ninitrd: [/assets/initrd]\n",
      "boot/b.yml": "id: b\nos: x\n",
      "workflows/w.yml": "id: w\nstages: [b]\n",
      "sites/s1/env.yml": "id: s1\nagent: {url: http://127.0.0.1:8080, dhcp: proxy}\nsubnets:\n  - {id: lo, cidr: 127.0.0.0/8}\n",
      "sites/s1/cluster-a.yml":
        'hosts:\n  - {name: h1, workflow: w, interfaces: [{mac: "52:54:00:00:00:01", subnet: lo, ipv4: 127.0.0.11}]}\n',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(work, "sot", path, ".."), { recursive: true });
      writeFileSync(join(work, "sot", path), text);
    }
  });
  afterAll(async () => {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  test("compile, DHCP and TFTP run in the binary's own workers", async () => {
    const [http, tftp] = [await freePort(), await freePort()];
    const args = [
      "standalone",
      "--sot",
      "sot",
      "--data-dir",
      "data",
      "--http-addr",
      `127.0.0.1:${http}`,
      "--tftp-addr",
      `127.0.0.1:${tftp}`,
    ];
    args.push("--dhcp-iface", "lo", "--log-level", "debug");
    const inner = `mount -t tmpfs vq-hidden '${ROOT}' && exec ./vaquero ${args.join(" ")}`;
    proc = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], {
      cwd: work,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    const p = proc;
    void (async () => {
      const d = new TextDecoder();
      for await (const chunk of p.stderr) log = (log + d.decode(chunk)).slice(-300_000);
    })();
    for (let i = 0; i < 300 && !log.includes('"serving DHCP"'); i++) {
      if (p.exitCode !== null) break;
      await Bun.sleep(100);
    }
    expect(log).toContain('"serving DHCP"');
    expect(log).toMatch(/"worker":true[^\n]*"msg":"compiling"/);
    const out = join(work, "got.kpxe");
    const t = Bun.spawnSync(["curl", "-s", "-o", out, `tftp://127.0.0.1:${tftp}/undionly.kpxe`], { timeout: 20_000 });
    expect(t.exitCode).toBe(0);
    for (let i = 0; i < 50 && !log.includes('"msg":"tftp: transfer start"'); i++) await Bun.sleep(100);
    expect(log).toMatch(/"worker":true[^\n]*"msg":"tftp: transfer start"/);
    expect(log).not.toContain("transfers run on the main thread");
    expect(log).not.toContain("Cannot find");
    expect(p.exitCode).toBeNull();
  });
});
