/**
 * An agent with several provisioning segments: the compiled `vaquero standalone` serves DHCP on two of the three
 * interfaces of its namespace (--dhcp-iface a,b). Each segment's machines are answered with that interface's
 * address as server identifier, next-server and script host; a machine on the wrong segment, and every machine
 * on the interface not named, gets nothing. Real busybox udhcpc clients, one namespace per segment (root only).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { createNetnsStar, type NetnsPair, netnsUnavailable, udhcpc } from "./_helpers/netns.ts";

const ROOT = resolve(import.meta.dir, "..");
const A = "52:54:00:00:0a:01";
const B = "52:54:00:00:0b:01";
const C = "52:54:00:00:0c:01";
const UNKNOWN = "52:54:00:00:0b:99";
const PXE = ["-V", "PXEClient:Arch:00000:UNDI:002001"];

/** A site with three subnets; the agent serves the first two. Segment b has a pool for unknown machines. */
function writeSot(dir: string): void {
  const files: Record<string, string> = {
    "os/flatcar.yml": "id: flatcar\nfamily: flatcar\nversion: 4081.2.0\nkernel: /assets/vmlinuz\ninitrd: [/assets/initrd]\n",
    "boot/live.yml": "id: live\nos: flatcar\n",
    "workflows/node.yml": "id: node\nstages: [live]\n",
    "sites/s1/env.yml": [
      "id: s1",
      "agent: {url: http://10.30.0.2:8080, dhcp: server}",
      "subnets:",
      "  - {id: a, cidr: 10.30.0.0/24}",
      "  - {id: b, cidr: 10.31.0.0/24, pool: {start: 10.31.0.200, end: 10.31.0.210}}",
      "  - {id: c, cidr: 10.32.0.0/24}",
      "",
    ].join("\n"),
    "sites/s1/cluster-hosts.yml": [
      "hosts:",
      `  - {name: on-a, workflow: node, interfaces: [{mac: "${A}", subnet: a, ipv4: 10.30.0.11}]}`,
      `  - {name: on-b, workflow: node, interfaces: [{mac: "${B}", subnet: b, ipv4: 10.31.0.11}]}`,
      `  - {name: on-c, workflow: node, interfaces: [{mac: "${C}", subnet: c, ipv4: 10.32.0.11}]}`,
      "",
    ].join("\n"),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

const why = netnsUnavailable();
describe.skipIf(why !== undefined)(`DHCP on several interfaces of one agent${why ? ` (skipped: ${why})` : ""}`, () => {
  const work = mkdtempSync(join(tmpdir(), "vq-multinic-"));
  let links: NetnsPair[] = [];
  let agent: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let log = "";

  beforeAll(async () => {
    builtBinary();
    cpSync(join(ROOT, "dist/vaquero"), join(work, "vaquero"));
    writeSot(join(work, "sot"));
    links = createNetnsStar("mn", ["10.30.0.2", "10.31.0.2", "10.32.0.2"]);
    const [a, b2] = links as [NetnsPair, NetnsPair, NetnsPair];
    const args = ["--sot", join(work, "sot"), "--data-dir", join(work, "data"), "--http-addr", "0.0.0.0:8080"];
    args.push("--tftp-addr", "0.0.0.0:69", "--ipxe-dir", work, "--dhcp-iface", `${a.serverIf},${b2.serverIf}`);
    agent = a.spawn(a.server, [join(work, "vaquero"), "standalone", ...args]);
    const reader = agent.stderr.getReader();
    const deadline = Date.now() + 20_000;
    // Ready when both interfaces say they serve (or the process ends, which the tests then report).
    while ((log.match(/"serving DHCP"/g) ?? []).length < 2 && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ done: true, value: undefined }))]);
      if (next.done) break;
      log += new TextDecoder().decode(next.value);
    }
    if ((log.match(/"serving DHCP"/g) ?? []).length < 2) throw new Error(`standalone did not serve both interfaces:\n${log}`);
    void (async () => {
      for (let i = 0; i < 100_000; i++) {
        const { done, value } = await reader.read();
        if (done) return;
        log += new TextDecoder().decode(value);
      }
    })();
  }, 90_000);

  afterAll(async () => {
    if (agent) {
      agent.kill("SIGKILL");
      await agent.exited;
    }
    links[0]?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  const link = (k: number): NetnsPair => {
    const l = links[k];
    if (!l) throw new Error(`no link ${k}`);
    return l;
  };

  test("both named interfaces are served, each under its own address", () => {
    expect(log).toContain(`"iface":"${link(0).serverIf}","serverId":"10.30.0.2"`);
    expect(log).toContain(`"iface":"${link(1).serverIf}","serverId":"10.31.0.2"`);
  });

  test("a machine on segment a gets its reservation from the agent's address on a", async () => {
    const lease = await udhcpc(link(0), work, A, PXE);
    expect([lease.ip, lease.serverid, lease.siaddr, lease.boot_file]).toEqual(["10.30.0.11", "10.30.0.2", "10.30.0.2", "undionly.kpxe"]);
  });

  test("a machine on segment b gets its reservation from the agent's address on b; iPXE is sent to b's address", async () => {
    const lease = await udhcpc(link(1), work, B, [...PXE, "-x", "0x4d:69505845"]);
    expect([lease.ip, lease.serverid]).toEqual(["10.31.0.11", "10.31.0.2"]);
    expect(lease.boot_file).toBe("http://10.31.0.2:8080/boot.ipxe");
  });

  test("an unknown machine on b draws from b's pool", async () => {
    const lease = await udhcpc(link(1), work, UNKNOWN);
    expect([lease.ip, lease.serverid]).toEqual(["10.31.0.200", "10.31.0.2"]);
  });

  test("a host of segment a that shows up on b is not answered", async () => {
    const lease = await udhcpc(link(1), work, A, PXE);
    expect(lease.ip).toBeUndefined();
    expect(lease.exit).toBe("1");
  });

  test("nothing is answered on the interface not named, not even its own hosts", async () => {
    const lease = await udhcpc(link(2), work, C, PXE);
    expect(lease.ip).toBeUndefined();
    expect(lease.exit).toBe("1");
  });

  test("the agent is still running, and the traces hold only what it answered", async () => {
    expect(agent?.exitCode).toBeNull();
    const events = async (mac: string): Promise<string[]> => {
      const r = await link(0).exec(link(0).server, ["curl", "-s", `http://10.30.0.2:8080/status/machines/${mac}`]);
      return (JSON.parse(r.out) as { events: { source: string; type: string }[] }).events.map((e) => `${e.source}:${e.type}`);
    };
    expect(await events(A)).toEqual(["dhcp:offer", "dhcp:ack"]);
    expect(await events(C)).toEqual([]);
  });
});
