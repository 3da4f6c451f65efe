/**
 * The network-boot image of the end-to-end PXE test: Debian's cloud kernel and a tiny busybox initramfs that
 * loads virtio_net, takes a DHCP lease with udhcpc, reports `mac=<mac>&event=<event>&ip=<lease>` to the URL
 * named by `vaquero.report=` on the kernel command line for each event of `vaquero.events=` (comma-separated,
 * default `booted`), and powers the machine off.
 *
 * Built once into a cache folder (`.cache/pxe/` under the repository, gitignored) and reused by later runs: the
 * downloaded .debs are kept, and the kernel and initramfs are rebuilt only when the recipe below changes.
 * Nothing is installed: the kernel and the static busybox come from `apt-get download` + `dpkg-deb -x`
 * (installing `busybox-static` would replace Debian's `busybox`, which the DHCP tests use).
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

/** The default cache folder: `.cache/pxe/` at the repository root. */
export const PXE_CACHE_DIR = resolve(import.meta.dir, "../../.cache/pxe");

/** What {@link buildPxeImage} produced. */
export interface PxeImage {
  /** The folder holding `vmlinuz` and `initrd.img` (serve it as the site's `agent.assets.dir`). */
  dir: string;
  /** Absolute path of the kernel (`<dir>/vmlinuz`). */
  kernel: string;
  /** Absolute path of the gzipped newc initramfs (`<dir>/initrd.img`). */
  initrd: string;
  /** The kernel's .deb file name, e.g. `linux-image-6.1.0-56-cloud-amd64-unsigned_6.1.192-2_amd64.deb`. */
  kernelDeb: string;
  /** `uname -r` of the kernel, e.g. `6.1.0-56-cloud-amd64`. */
  kernelRelease: string;
  /** The kernel modules packed into the initramfs, in dependency order. */
  modules: string[];
  /** True when the image was taken from the cache as it was. */
  cached: boolean;
}

/** Options of {@link buildPxeImage}. */
export interface PxeImageOptions {
  /** Cache folder (default {@link PXE_CACHE_DIR}). */
  cacheDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The modules the NIC needs: virtio_net for the device, virtio_pci for the bus it sits on; their dependencies are added. */
const ROOT_MODULES = ["virtio_net", "virtio_pci"];

/** `/init` of the initramfs. Every line it prints starts with `vaquero-pxe:` so that serial logs are easy to read. */
const INIT = `#!/bin/busybox sh
# Vaquero e2e PXE initramfs: NIC up, DHCP lease, report to the agent, power off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
say() { echo "vaquero-pxe: $*"; }
fail() { say "FAILED: $*"; sleep 1; poweroff -f; sleep 30; }
say "init started, kernel $(uname -r)"

# Load the NIC modules in passes until virtio_net is in: their order changes between builds of the same series.
for pass in 1 2 3 4 5 6 7 8; do
  grep -q '^virtio_net ' /proc/modules && break
  for m in $(cat /lib/modules/order); do
    grep -q "^$m " /proc/modules || insmod "/lib/modules/$m.ko" 2>/dev/null
  done
done
grep -q '^virtio_net ' /proc/modules || fail "virtio_net did not load: $(cat /proc/modules | cut -d' ' -f1 | tr '\\n' ' ')"
say "modules: $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"

iface=""
for i in $(seq 1 50); do
  for d in /sys/class/net/*; do
    n="\${d##*/}"
    [ "$n" = lo ] || { iface="$n"; break; }
  done
  [ -n "$iface" ] && break
  usleep 200000
done
[ -n "$iface" ] || fail "no network interface"
mac="$(cat /sys/class/net/$iface/address)"
ip link set lo up
ip link set "$iface" up
say "interface $iface mac $mac"

udhcpc -i "$iface" -f -q -n -t 6 -T 3 -s /etc/udhcpc.script || fail "udhcpc got no lease on $iface"
lease="$(cat /tmp/lease.ip)"
say "lease $lease from $(cat /tmp/lease.server)"

url=""
events="booted"
for w in $(cat /proc/cmdline); do
  case "$w" in
    vaquero.report=*) url="\${w#vaquero.report=}" ;;
    vaquero.events=*) events="\${w#vaquero.events=}" ;;
  esac
done
[ -n "$url" ] || fail "no vaquero.report= on the kernel command line: $(cat /proc/cmdline)"

# Each event of vaquero.events= (comma-separated, default booted) in order, then power off.
for ev in $(echo "$events" | tr ',' ' '); do
  sent=""
  for try in 1 2 3 4 5; do
    # No wget -T: it segfaults in busybox-static 1.35 (Debian 12); busybox timeout bounds the request instead.
    if timeout 15 wget -q -O /tmp/report.out --post-data "mac=$mac&event=$ev&ip=$lease&iface=$iface" "$url"; then
      say "REPORTED $ev ip=$lease to $url"
      sent=1
      break
    fi
    say "report $ev to $url failed (try $try)"
    sleep 2
  done
  [ -n "$sent" ] || fail "could not report $ev to $url"
done
sync
poweroff -f
sleep 30
`;

/** udhcpc's hook: configures the leased address (no default route: the agent is on the segment). */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    echo "$ip" > /tmp/lease.ip
    echo "\${serverid:-unknown}" > /tmp/lease.server
    ;;
esac
exit 0
`;

/** Changes whenever the initramfs would come out different. */
const RECIPE = createHash("sha256")
  .update(JSON.stringify({ v: 1, INIT, UDHCPC_SCRIPT, ROOT_MODULES }))
  .digest("hex")
  .slice(0, 16);

interface Manifest {
  recipe: string;
  kernelDeb: string;
  busyboxDeb: string;
  kernelRelease: string;
  modules: string[];
}

/** Tools the build runs, each with the Debian package that provides it. */
const TOOLS: [string, string][] = [
  ["apt-get", "apt"],
  ["apt-cache", "apt"],
  ["dpkg-deb", "dpkg"],
  ["cpio", "cpio"],
  ["gzip", "gzip"],
  ["find", "findutils"],
];

/** Tools the image build needs that are missing here, as `tool (Debian package pkg)`; empty when all are there. */
export function pxeImageToolsMissing(): string[] {
  return TOOLS.filter(([tool]) => Bun.which(tool) === null).map(([tool, pkg]) => `${tool} (Debian package ${pkg})`);
}

function run(cmd: string[], cwd: string, timeoutMs = 300_000): string {
  const r = Bun.spawnSync(cmd, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.exitCode !== 0) {
    throw new Error(`pxe-image: \`${cmd.join(" ")}\` failed (exit ${r.exitCode ?? "killed"}): ${r.stderr.toString().trim().slice(-2000)}`);
  }
  return r.stdout.toString();
}

function readManifest(file: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

/** The kernel package `linux-image-cloud-amd64` depends on today, e.g. `linux-image-6.1.0-56-cloud-amd64`. */
function currentCloudKernel(cwd: string): string {
  const show = run(["apt-cache", "show", "--no-all-versions", "linux-image-cloud-amd64"], cwd, 60_000);
  const depends = /^Depends:(.*)$/m.exec(show)?.[1] ?? "";
  const pkg = /linux-image-[0-9][^\s,(|]*-cloud-amd64/.exec(depends)?.[0];
  if (!pkg) throw new Error(`pxe-image: cannot find the kernel package in linux-image-cloud-amd64's Depends: "${depends.trim()}"`);
  return pkg.replace(/-unsigned$/, "");
}

/** The newest `.deb` in `dir` whose name starts with `prefix_`, or undefined. */
function findDeb(dir: string, prefix: string): string | undefined {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${prefix}_`) && f.endsWith(".deb"))
    .sort()
    .at(-1);
}

/** Downloads the kernel and busybox-static .debs into `debs` unless they are there already. */
function ensureDebs(debs: string, log: (line: string) => void): { kernelDeb: string; busyboxDeb: string } {
  mkdirSync(debs, { recursive: true });
  let kernelDeb = readdirSync(debs)
    .filter((f) => /^linux-image-.*-cloud-amd64(-unsigned)?_.*\.deb$/.test(f))
    .sort()
    .at(-1);
  if (!kernelDeb) {
    const signed = currentCloudKernel(debs);
    const unsigned = `${signed}-unsigned`;
    log(`downloading ${unsigned}`);
    try {
      run(["apt-get", "download", unsigned], debs);
      kernelDeb = findDeb(debs, unsigned);
    } catch (e) {
      log(`${unsigned} is not downloadable (${(e as Error).message.slice(0, 200)}); taking ${signed}`);
      run(["apt-get", "download", signed], debs);
      kernelDeb = findDeb(debs, signed);
    }
    if (!kernelDeb) throw new Error(`pxe-image: apt-get download of ${unsigned} left no .deb in ${debs}`);
  }
  let busyboxDeb = findDeb(debs, "busybox-static");
  if (!busyboxDeb) {
    log("downloading busybox-static");
    run(["apt-get", "download", "busybox-static"], debs);
    busyboxDeb = findDeb(debs, "busybox-static");
    if (!busyboxDeb) throw new Error(`pxe-image: apt-get download of busybox-static left no .deb in ${debs}`);
  }
  return { kernelDeb, busyboxDeb };
}

/** The `depends=` list of a module's .modinfo section (the .deb ships no modules.dep). */
function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf("\0depends=");
  if (at < 0) return [];
  const end = ko.indexOf(0, at + 1);
  return ko
    .subarray(at + "\0depends=".length, end)
    .toString("latin1")
    .split(",")
    .filter(Boolean);
}

/** Every `.ko` under `root`, by module name (`-` read as `_`, as the kernel does). */
function indexModules(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ko")) out.set(e.name.slice(0, -3).replaceAll("-", "_"), p);
    }
  };
  walk(root);
  return out;
}

/** The root modules and their dependencies, dependencies first. */
function moduleClosure(index: Map<string, string>, roots: string[]): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (seen.has(name)) return;
    if (path.includes(name)) throw new Error(`pxe-image: module dependency cycle ${[...path, name].join(" -> ")}`);
    const file = index.get(name);
    if (!file) throw new Error(`pxe-image: module ${name} (needed by ${path.at(-1) ?? "the NIC"}) is not in the kernel package`);
    for (const d of moduleDepends(readFileSync(file))) visit(d, [...path, name]);
    seen.add(name);
    order.push(name);
  };
  for (const r of roots) visit(r, []);
  return order;
}

/**
 * Returns the cached image, or builds it: downloads the current cloud kernel and busybox-static (once), unpacks
 * them, and packs `/init`, busybox and the NIC modules into `initrd.img`. Throws with the failing command's
 * output when a step fails (no network to the Debian mirror, a package not found, a tool missing).
 */
export function buildPxeImage(o: PxeImageOptions = {}): PxeImage {
  const dir = o.cacheDir ?? PXE_CACHE_DIR;
  const log = o.log ?? ((): void => {});
  const kernel = join(dir, "vmlinuz");
  const initrd = join(dir, "initrd.img");
  const manifestFile = join(dir, "manifest.json");
  mkdirSync(dir, { recursive: true });
  const cachedManifest = readManifest(manifestFile);
  if (cachedManifest?.recipe === RECIPE && existsSync(kernel) && existsSync(initrd)) {
    return { dir, kernel, initrd, ...cachedManifest, cached: true };
  }
  const missing = pxeImageToolsMissing();
  if (missing.length) throw new Error(`pxe-image: missing ${missing.join(", ")}`);

  const debs = join(dir, "debs");
  const { kernelDeb, busyboxDeb } = ensureDebs(debs, log);
  const work = join(dir, `work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const kx = join(work, "kernel");
    const bx = join(work, "busybox");
    mkdirSync(work, { recursive: true });
    run(["dpkg-deb", "-x", join(debs, kernelDeb), kx], dir);
    run(["dpkg-deb", "-x", join(debs, busyboxDeb), bx], dir);
    const vmlinuz = readdirSync(join(kx, "boot")).find((f) => f.startsWith("vmlinuz-"));
    if (!vmlinuz) throw new Error(`pxe-image: ${kernelDeb} has no boot/vmlinuz-*`);
    const kernelRelease = vmlinuz.slice("vmlinuz-".length);
    const modRoot = join(kx, "lib/modules", kernelRelease);
    if (!existsSync(modRoot)) throw new Error(`pxe-image: ${kernelDeb} has no lib/modules/${kernelRelease}`);
    const index = indexModules(modRoot);
    const modules = moduleClosure(index, ROOT_MODULES);
    const busybox = join(bx, "bin/busybox");
    if (!existsSync(busybox)) throw new Error(`pxe-image: ${busyboxDeb} has no bin/busybox`);

    const root = join(work, "root");
    for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "lib/modules"]) {
      mkdirSync(join(root, d), { recursive: true });
    }
    writeFileSync(join(root, "bin/busybox"), readFileSync(busybox), { mode: 0o755 });
    symlinkSync("busybox", join(root, "bin/sh"));
    writeFileSync(join(root, "init"), INIT, { mode: 0o755 });
    writeFileSync(join(root, "etc/udhcpc.script"), UDHCPC_SCRIPT, { mode: 0o755 });
    for (const m of modules) writeFileSync(join(root, "lib/modules", `${m}.ko`), readFileSync(index.get(m) as string));
    writeFileSync(join(root, "lib/modules/order"), `${modules.join("\n")}\n`);
    chmodSync(join(root, "tmp"), 0o1777);

    const packed = join(work, "initrd.img");
    run(["sh", "-c", `find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9 > '${packed}'`], root);
    renameSync(packed, initrd);
    renameSync(join(kx, "boot", vmlinuz), kernel);
    const manifest: Manifest = { recipe: RECIPE, kernelDeb, busyboxDeb, kernelRelease, modules };
    writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    log(`built ${basename(kernel)} (${kernelRelease}) and ${basename(initrd)} with ${modules.join(", ")}`);
    return { dir, kernel, initrd, ...manifest, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
