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
const sot: FlagSpec = { name: "sot", kind: "string", arg: "DIR|GIT-URL", help: "the Source of Truth" };
const ref: FlagSpec = { name: "ref", kind: "string", arg: "REF", help: "branch, tag or commit (default HEAD)" };
const dhcpIface: FlagSpec = { name: "dhcp-iface", kind: "list", arg: "IF,…", help: "interfaces to serve DHCP on" };
const tftpAddr: FlagSpec = { name: "tftp-addr", kind: "string", arg: "H:P", default: "0.0.0.0:69", help: "TFTP listen address" };
const sotPoll: FlagSpec = { name: "sot-poll", kind: "string", arg: "DURATION", help: "poll --sot for new commits this often" };
const ipxeDir: FlagSpec = {
  name: "ipxe-dir",
  kind: "string",
  arg: "DIR",
  default: "/usr/lib/ipxe",
  help: "where iPXE builds are read from",
};

/** The pending verbs and their flags (ARCHITECTURE.md "Command line"). */
export const PENDING: Record<string, PendingVerb> = {
  server: {
    synopsis: "--sot GIT-URL|DIR [--ref REF] --data-dir DIR [--http-addr H:P] [--etcd-endpoints URL,…] [--lease-ttl 2s]",
    description: "The control plane: webhooks, git fetch, compile, releases, staging, rollouts, fleet status.",
    flags: [
      sot,
      ref,
      dataDir,
      http("0.0.0.0:8443"),
      { name: "etcd-endpoints", kind: "list", arg: "URL,…", help: "etcd cluster for several servers (default: embedded store)" },
      { name: "lease-ttl", kind: "string", arg: "DURATION", default: "2s", help: "leader election lease TTL" },
      sotPoll,
      { name: "webhook-secret-file", kind: "string", arg: "FILE", help: "secret that signs /postreceive deliveries" },
      { name: "webhook-repo", kind: "string", arg: "OWNER/NAME", help: "repository whose deliveries are accepted" },
      { name: "tokens-file", kind: "string", arg: "FILE", help: "API tokens managed as code (YAML)" },
      { name: "auto-execute", kind: "bool", help: "roll out every valid release of the branch on its own" },
      { name: "tls-cert", kind: "string", arg: "FILE", help: "TLS certificate of the listener" },
      { name: "tls-key", kind: "string", arg: "FILE", help: "TLS key of the listener" },
      { name: "client-ca", kind: "string", arg: "FILE", help: "CA that signs agent client certificates (mTLS)" },
    ],
  },
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
