/**
 * OpenIPMI's `ipmi_sim` as a BMC for tests and benchmarks, on 127.0.0.1 and a free port: user `admin` /
 * `password` (administrator), cipher suites as ipmi_sim offers them (3, not 17), and a chassis-control script
 * that keeps the power state and boot device in files and logs every call. Stopped by PID.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.ts";

/** A running simulated BMC. */
export interface IpmiSim {
  port: number;
  /** The chassis-control calls so far, one per line (`set power 1`, `set boot pxe` …). */
  calls(): string[];
  /** Power state as the chassis holds it (with a VM: as last set). */
  power(): "on" | "off";
  /** The chassis-control script (for quoting in failures). */
  script: string;
  /** Stops answering (SIGSTOP) / answers again (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Kills and starts it again on the same port (a BMC reset: every session is forgotten). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Why ipmi_sim cannot run here, or undefined. */
export function ipmiSimUnavailable(): string | undefined {
  return Bun.which("ipmi_sim") ? undefined : "ipmi_sim (Debian openipmi) is not installed";
}

/** Options of {@link startIpmiSim}. */
export interface IpmiSimOptions {
  /** Runs ipmi_sim (and so its chassis script) under this prefix, e.g. `["ip", "netns", "exec", ns]`. */
  wrap?: string[];
  /** Readiness check (default: an RMCP presence ping from this process, which needs the same namespace). */
  ready?: (port: number) => Promise<boolean>;
  /**
   * A real machine behind the BMC: power on runs `start` in the background (it must write `pidFile`), power
   * off kills that PID, and the power state is whether it runs. Without it, the power state is a file.
   */
  vm?: { start: string; pidFile: string };
}

/** Starts ipmi_sim with its configuration under `dir`. */
export async function startIpmiSim(dir: string, o: IpmiSimOptions = {}): Promise<IpmiSim> {
  mkdirSync(join(dir, "state"), { recursive: true });
  const port = await freePort();
  const script = join(dir, "chassis.sh");
  const state = join(dir, "power");
  writeFileSync(state, "0\n");
  const vm = o.vm;
  // With a VM: "power" is whether its PID is alive; on starts it (setsid, so ipmi_sim does not wait), off kills it.
  const power = vm
    ? [
        `alive() { p=$(cat ${vm.pidFile} 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }`,
        `on() { alive || { rm -f ${vm.pidFile}; setsid sh -c '${vm.start.replaceAll("'", "'\\''")}' >/dev/null 2>&1 < /dev/null & }; echo 1 > ${state}; }`,
        `off() { alive && kill -9 "$(cat ${vm.pidFile})"; rm -f ${vm.pidFile}; echo 0 > ${state}; }`,
        "getp() { if alive; then echo 1; else echo 0; fi; }",
      ]
    : [`on() { echo 1 > ${state}; }`, `off() { echo 0 > ${state}; }`, `getp() { cat ${state}; }`];
  writeFileSync(
    script,
    [
      "#!/bin/sh",
      `echo "$*" >> ${join(dir, "calls.log")}`,
      ...power,
      "op=$1; shift",
      'case "$op" in',
      `  get) for p in "$@"; do case $p in power) echo "power:$(getp)";; boot) echo "boot:$(cat ${state}.boot 2>/dev/null || echo default)";; esac; done;;`,
      `  set) while [ $# -gt 1 ]; do case $1 in power) if [ "$2" = 1 ]; then on; else off; fi;; boot) echo $2 > ${state}.boot;; reset) :;; esac; shift 2; done;;`,
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(
    join(dir, "lan.conf"),
    [
      'name "vq"',
      "set_working_mc 0x20",
      "  startlan 1",
      `    addr 127.0.0.1 ${port}`,
      "    priv_limit admin",
      "    allowed_auths_callback none md2 md5 straight",
      "    allowed_auths_user none md2 md5 straight",
      "    allowed_auths_operator none md2 md5 straight",
      "    allowed_auths_admin none md2 md5 straight",
      "    guid a123456789abcdefa123456789abcdef",
      "  endlan",
      `  chassis_control "${script}"`,
      '  user 2 true "admin" "password" admin 10 none md2 md5 straight',
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "bmc.emu"),
    "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
  );
  appendFileSync(join(dir, "calls.log"), "");
  let proc: Bun.Subprocess | undefined;
  const launch = async (): Promise<void> => {
    proc = Bun.spawn(
      [...(o.wrap ?? []), "ipmi_sim", "-c", join(dir, "lan.conf"), "-f", join(dir, "bmc.emu"), "-s", join(dir, "state"), "-n"],
      {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "ignore",
      },
    );
    // Ready when it answers a presence check on its port; bounded.
    for (let i = 0; i < 50; i++) {
      if (await (o.ready ?? answers)(port)) return;
      await Bun.sleep(100);
    }
    throw new Error(`ipmi_sim did not start on 127.0.0.1:${port}`);
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p) return;
    p.kill("SIGCONT");
    p.kill("SIGKILL");
    await p.exited;
  };
  await launch();
  return {
    port,
    calls: () => readFileSync(join(dir, "calls.log"), "utf8").split("\n").filter(Boolean),
    power: () => (readFileSync(state, "utf8").trim() === "1" ? "on" : "off"),
    script,
    pause: () => proc?.kill("SIGSTOP"),
    resume: () => proc?.kill("SIGCONT"),
    restart: async () => {
      await kill();
      await launch();
    },
    stop: kill,
  };
}

/** True when something answers an RMCP presence ping (ASF) on 127.0.0.1:port within 200 ms. */
async function answers(port: number): Promise<boolean> {
  const ping = Uint8Array.of(0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x00, 0x00, 0x00);
  let got = false;
  const s = await Bun.udpSocket({
    socket: {
      data: () => {
        got = true;
      },
      error: () => {},
    },
  });
  s.send(ping, port, "127.0.0.1");
  for (let i = 0; i < 10 && !got; i++) await Bun.sleep(20);
  s.close();
  return got;
}
