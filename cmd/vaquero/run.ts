/**
 * The whole command line as one testable function: `run(argv, io)` picks the verb and returns the exit code.
 * Only `main.ts` touches the process.
 */

import { type Io, reportError } from "../../internal/cli/index.ts";
import { helpText, parseConfig } from "../../internal/config/index.ts";
import pkg from "../../package.json" with { type: "json" };
import { PENDING } from "./_pending.ts";

/** The version printed by `vaquero version` (package.json; read here so that `version` loads no verb). */
export const VERSION: string = pkg.version;

type Verb = (argv: readonly string[], io: Io) => Promise<number>;

/**
 * Each verb is loaded when it runs, so a verb pays only for its own modules: `vaquero bmc` starts without the
 * SoT compiler, the HTTP server or the git client (operators script it once per BMC call).
 */
const VERBS: Record<string, () => Promise<Verb>> = {
  validate: async () => (await import("../validate/index.ts")).runValidate,
  preview: async () => (await import("../preview/index.ts")).runPreview,
  server: async () => (await import("../server/index.ts")).runServer,
  standalone: async () => (await import("../standalone/index.ts")).runStandalone,
  bmc: async () => (await import("../bmc/index.ts")).runBmc,
  migrate: async () => (await import("../migrate/index.ts")).runMigrate,
  agent: async () => (await import("../agent/index.ts")).runAgent,
};

const USAGE = `usage: vaquero <verb> [flags]

Bare-metal provisioning from a git Source of Truth.

verbs:
  standalone   serve one site: HTTP boot, TFTP, DHCP, status (no rollouts yet)
  server       control plane: webhooks, compile, releases, staging, fleet status
  agent        one datacenter: DHCP, TFTP, HTTP boot, IPMI, state engine, staged by the server
  validate     load, check and render a whole SoT; exit 0 valid, 1 findings, 2 unreadable
  preview      what one machine would be served: iPXE script, cmdline or unattended config
  bmc          one IPMI operation on one BMC: power status|on|off|cycle|reset|soft, bootdev pxe|disk|bios
  migrate      copy server state between the embedded store and etcd
  version      print the version

Run 'vaquero <verb> --help' for a verb's flags. Exit codes: 0 ok, 1 invalid input or failed, 2 usage or environment.
`;

/** Runs the command line; never throws. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
      (verb === undefined ? io.err : io.out)(USAGE);
      return verb === undefined ? 2 : 0;
    }
    if (verb === "version" || verb === "--version") {
      io.out(`vaquero ${VERSION}\n`);
      return 0;
    }
    const load = VERBS[verb];
    if (load) return await (await load())(rest, io);
    const pending = PENDING[verb];
    if (pending) {
      const parsed = parseConfig(verb, rest, pending.flags, { env: io.env });
      if (parsed.help) {
        io.out(helpText(verb, pending.synopsis, `${pending.description}\n(Not built yet: running it exits 2.)`, pending.flags));
        return 0;
      }
      io.err(`vaquero ${verb}: not built yet in vaquero ${VERSION}\n`);
      return 2;
    }
    io.err(`vaquero: unknown verb "${verb}"; run 'vaquero --help' for the list\n`);
    return 2;
  } catch (e) {
    return reportError(io, e);
  }
}
