/**
 * Wiring shared by the verbs that read a SoT (validate, preview): open it, compile it, log what happened, close
 * it. Each verb decides what to print.
 */

import type { Io } from "../../internal/cli/index.ts";
import { useColor } from "../../internal/cli/index.ts";
import { createLogger } from "../../internal/log/index.ts";
import pkg from "../../package.json" with { type: "json" };
import { type CompileResult, compileTree, openSource, type SourceTree } from "../../pkg/sot/index.ts";

/** The version of this build (package.json). */
export const VERSION: string = pkg.version;

/** What {@link compileSource} needs from a verb's configuration. */
export interface SourceConfig {
  ref?: string | undefined;
  timeout: number;
  "log-level": "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
}

/**
 * Opens `location` (path or URL) at `cfg.ref`, compiles it and hands the result to `use` while the source is
 * open; the source is closed afterwards whatever happens. Open errors propagate (exit 2).
 */
export async function compileSource<T>(
  location: string,
  cfg: SourceConfig,
  io: Io,
  use: (result: CompileResult, tree: SourceTree) => T | Promise<T>,
): Promise<T> {
  const log = createLogger({ level: cfg["log-level"], pretty: io.errIsTTY, color: useColor(io, io.errIsTTY) });
  const src = await openSource(location, { ...(cfg.ref ? { ref: cfg.ref } : {}), timeoutMs: cfg.timeout * 1000 });
  try {
    const { tree } = src;
    log.debug({ source: tree.location, kind: tree.kind, commit: tree.commit, files: tree.files.length }, "source read");
    const result = await compileTree(tree, src.readPin ? { readPin: src.readPin } : {});
    const { release, sites, hostsRendered: hosts, findings, timings } = result;
    log.info({ source: tree.location, release: release?.id, sites: sites.size, hosts, findings: findings.length, timings }, "compiled");
    return await use(result, tree);
  } finally {
    await src.dispose();
  }
}
