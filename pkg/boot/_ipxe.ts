/** iPXE scripts as pure functions (SOT.md "Boot translation"). */
import type { Bundle, BundleHost, NicDoc, RenderedBoot, RenderedConfig, Renderer } from "../sot/index.ts";

/** Seconds an unknown machine waits before asking again. */
export const UNKNOWN_RETRY_SECONDS = 30;

/** First contact: chain to the per-host script with the machine's MAC, UUID and build architecture. */
export function firstContactScript(agentUrl: string): string {
  return `#!ipxe\nchain ${agentUrl}/boot.ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}\n`;
}

/** The script that boots a rendered boot: kernel with its command line, each initrd, boot. */
export function hostScript(r: RenderedBoot): string {
  const lines = ["#!ipxe", `kernel ${r.kernel}${r.cmdline ? ` ${r.cmdline}` : ""}`, ...r.initrd.map((i) => `initrd ${i}`), "boot", ""];
  return lines.join("\n");
}

/** Boot from local disk: what a provisioned or skipped host gets. */
export function exitScript(reason: string): string {
  return `#!ipxe\necho Vaquero: ${sanitize(reason)}; booting from local disk\nexit\n`;
}

/** A machine the site does not know: say why and ask again after a delay. */
export function unknownMachineScript(agentUrl: string, mac: string, siteId: string): string {
  return [
    "#!ipxe",
    `echo Vaquero: MAC ${sanitize(mac)} is not a host of site ${sanitize(siteId)}; retrying in ${UNKNOWN_RETRY_SECONDS}s`,
    `sleep ${UNKNOWN_RETRY_SECONDS}`,
    `chain ${agentUrl}/boot.ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}`,
    "",
  ].join("\n");
}

/** Keeps text safe inside an iPXE `echo`: printable ASCII only, no settings expansion. */
function sanitize(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?").replace(/\$/g, "");
}

/** What a machine is served for one boot: its script, command line and unattended config. */
export interface HostBoot {
  host: BundleHost;
  iface: NicDoc;
  boot: string;
  rendered: RenderedBoot;
  script: string;
  config?: RenderedConfig;
}

/** Errors of {@link bootFor}. */
export type BootLookupError = { code: "UNKNOWN_MAC" } | { code: "UNKNOWN_BOOT"; boots: string[] };

/**
 * Renders what the agent serves the machine with `mac` for `bootId` (default: the first stage of its workflow,
 * as for a machine never provisioned). Throws the renderer's RenderError when a template fails.
 */
export function bootFor(bundle: Bundle, renderer: Renderer, mac: string, bootId?: string): HostBoot | BootLookupError {
  const found = renderer.lookup(mac);
  if (!found) return { code: "UNKNOWN_MAC" };
  const { host, iface } = found;
  const boot = bootId ?? bundle.workflows[host.workflow]?.stages[0];
  if (boot === undefined || !bundle.boots[boot]) return { code: "UNKNOWN_BOOT", boots: Object.keys(bundle.boots).sort() };
  const rendered = renderer.renderBoot(host, iface, boot);
  const config = renderer.renderConfig(host, iface, boot);
  return { host, iface, boot, rendered, script: hostScript(rendered), ...(config ? { config } : {}) };
}
