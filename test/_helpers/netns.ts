import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Test networks: two network namespaces joined by a veth pair, made and removed by the test (root only).
 * Nothing here touches the host's own interfaces; every name carries the test's PID so runs never collide.
 */

/** A pair of namespaces: `server` holds `serverIf` with `serverIp`, `client` holds `clientIf` (no address). */
export interface NetnsPair {
  server: string;
  client: string;
  serverIf: string;
  clientIf: string;
  serverIp: string;
  /** Runs a command inside a namespace and waits for it (bounded by `timeoutMs`). */
  exec(ns: string, cmd: string[], timeoutMs?: number): Promise<{ code: number; out: string; err: string }>;
  /** Starts a long-running command inside a namespace. */
  spawn(ns: string, cmd: string[]): Bun.Subprocess<"ignore", "pipe", "pipe">;
  remove(): void;
}

function ip(...args: string[]): { code: number; err: string } {
  const r = Bun.spawnSync(["ip", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? 1, err: r.stderr.toString().trim() };
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespace tests need root (CI runs as root)";
  if (Bun.spawnSync(["ip", "-V"], { stdout: "pipe", stderr: "pipe" }).exitCode !== 0) return "`ip` (iproute2) is not installed";
  return undefined;
}

/** Creates the pair with `serverIp/24` on the server side. Throws with `ip`'s message on failure. */
export function createNetnsPair(tag: string, serverIp = "10.99.0.2"): NetnsPair {
  const star = createNetnsStar(tag, [serverIp]);
  return star[0] as NetnsPair;
}

/**
 * One server namespace joined to one client namespace per address in `serverIps`, each by its own veth pair
 * (`serverIps[k]/24` on the server side of link k): an agent with several provisioning segments. Every pair's
 * `remove` removes them all.
 */
export function createNetnsStar(tag: string, serverIps: readonly string[]): NetnsPair[] {
  const id = `${tag}${process.pid}`.slice(0, 9);
  const server = `vq-${id}-s`;
  const links = serverIps.map((serverIp, k) => ({
    serverIp,
    client: `vq-${id}-c${k || ""}`,
    serverIf: `vs${id}${k || ""}`.slice(0, 15),
    clientIf: `vc${id}${k || ""}`.slice(0, 15),
  }));
  // Whatever still runs in a namespace (a client daemon a failed test left behind) is killed by PID first:
  // deleting a namespace does not stop its processes.
  const remove = (): void => {
    for (const ns of [server, ...links.map((l) => l.client)]) {
      const pids = Bun.spawnSync(["ip", "netns", "pids", ns], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
      for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      ip("netns", "del", ns);
    }
  };
  remove();
  const steps: string[][] = [
    ["netns", "add", server],
    ["-n", server, "link", "set", "lo", "up"],
  ];
  for (const l of links) {
    steps.push(
      ["netns", "add", l.client],
      ["link", "add", l.serverIf, "type", "veth", "peer", "name", l.clientIf],
      ["link", "set", l.serverIf, "netns", server],
      ["link", "set", l.clientIf, "netns", l.client],
      ["-n", server, "addr", "add", `${l.serverIp}/24`, "dev", l.serverIf],
      ["-n", server, "link", "set", l.serverIf, "up"],
      ["-n", l.client, "link", "set", l.clientIf, "up"],
      ["-n", l.client, "link", "set", "lo", "up"],
    );
  }
  for (const s of steps) {
    const r = ip(...s);
    if (r.code !== 0) {
      remove();
      throw new Error(`ip ${s.join(" ")}: ${r.err}`);
    }
  }
  return links.map((l) => ({
    server,
    ...l,
    async exec(ns, cmd, timeoutMs = 20_000) {
      const p = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], { stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => p.kill(), timeoutMs);
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      clearTimeout(timer);
      return { code, out, err };
    },
    spawn(ns, cmd) {
      return Bun.spawn(["ip", "netns", "exec", ns, ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    },
    remove,
  }));
}

/**
 * Sets the client side's MAC, runs busybox udhcpc once (4 tries, 1 s apart) and returns the variables its
 * script saw on `bound` (ip, subnet, router, dns, domain, hostname, serverid, boot_file, siaddr …), or
 * `{exit, stderr}` when it got no lease. `scratch` is a folder for the script and its output.
 */
export async function udhcpc(net: NetnsPair, scratch: string, mac: string, extra: string[] = []): Promise<Record<string, string>> {
  await net.exec(net.client, ["ip", "link", "set", net.clientIf, "address", mac]);
  const out = join(scratch, `udhcpc-${mac.replaceAll(":", "")}.env`);
  const script = join(scratch, "udhcpc.sh");
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > ${out}\nexit 0\n`, { mode: 0o755 });
  rmSync(out, { force: true });
  const args = ["-i", net.clientIf, "-n", "-q", "-f", "-t", "4", "-T", "1", "-O", "hostname", "-s", script, ...extra];
  const r = await net.exec(net.client, ["busybox", "udhcpc", ...args]);
  if (r.code !== 0) return { exit: String(r.code), stderr: r.err };
  return Object.fromEntries(
    readFileSync(out, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}
