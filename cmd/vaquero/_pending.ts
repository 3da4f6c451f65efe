/**
 * Verbs of the command-line contract that are not built yet. Their flags and help are real, so scripts and
 * docs can rely on them; running one says so in one line and exits 2.
 */
import type { FlagSpec } from "../../internal/config/index.ts";

/** A verb that parses its flags and answers --help, but does not run yet. */
export interface PendingVerb {
  synopsis: string;
  description: string;
  flags: FlagSpec[];
}

const http = (def: string): FlagSpec => ({ name: "http-addr", kind: "string", arg: "H:P", default: def, help: "HTTP listen address" });
const dataDir: FlagSpec = { name: "data-dir", kind: "string", arg: "DIR", help: "state directory (created, mode 0700)" };
const dhcpIface: FlagSpec = { name: "dhcp-iface", kind: "list", arg: "IF,…", help: "interfaces to serve DHCP on" };
const tftpAddr: FlagSpec = { name: "tftp-addr", kind: "string", arg: "H:P", default: "0.0.0.0:69", help: "TFTP listen address" };
const ipxeDir: FlagSpec = {
  name: "ipxe-dir",
  kind: "string",
  arg: "DIR",
  default: "/usr/lib/ipxe",
  help: "where iPXE builds are read from",
};

/** The pending verbs and their flags (ARCHITECTURE.md "Command line"). */
export const PENDING: Record<string, PendingVerb> = {
  agent: {
    synopsis:
      "--server URL --site ID --token-file FILE --data-dir DIR [--name NAME] [--http-addr H:P] [--dhcp-iface IF,…] [--tftp-addr H:P]",
    description: "One datacenter: DHCP, TFTP, HTTP boot and assets, IPMI lifecycle and the state engine.",
    flags: [
      { name: "server", kind: "string", arg: "URL", help: "control plane URL" },
      { name: "site", kind: "string", arg: "ID", help: "site this agent serves" },
      { name: "token-file", kind: "string", arg: "FILE", help: "file holding the agent's bearer token" },
      dataDir,
      { name: "name", kind: "string", arg: "NAME", help: "agent name (default: host name)" },
      http("0.0.0.0:8080"),
      dhcpIface,
      tftpAddr,
      ipxeDir,
    ],
  },
};
