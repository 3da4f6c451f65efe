/**
 * A verb's data directory: created (mode 0700) when missing, and its embedded store (`<data-dir>/vaquero.db`),
 * whose lock refuses a second process on the same directory.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type EmbeddedStore, openEmbeddedStore } from "../../pkg/store/index.ts";

/** Creates `dir` (exit 2 with the reason when it cannot be). */
export async function makeDataDir(verb: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    throw new VaqueroError("DATA_DIR", `vaquero ${verb}: cannot create --data-dir ${dir}: ${e.code ?? e.message}`, { exitCode: 2 });
  });
}

/** Opens the embedded store of the data directory `dir`. */
export function openLocalStore(dir: string, log: Logger): Promise<EmbeddedStore> {
  return openEmbeddedStore({
    path: join(dir, "vaquero.db"),
    onError: (e) => log.warn({ err: describeError(e) }, "store: lease expiry check failed"),
  });
}
