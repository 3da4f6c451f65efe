/**
 * The agent's staged bundles: each kept as `<data-dir>/bundles/<sha256>.json` (written to a temporary file, synced,
 * renamed), the one staged recorded in the agent's store at `/vaquero/agent/staged`. At start the agent serves its
 * last staged bundle before it talks to anyone, so a restart without the server still boots machines.
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { VaqueroError } from "../../internal/errors/index.ts";
import { BUNDLE_FORMAT, type Bundle } from "../../pkg/sot/index.ts";
import { decodeJson, encodeJson, type Store } from "../../pkg/store/index.ts";

/** What is staged here. */
export interface StagedRecord {
  release: string;
  bundle: string;
  staged_at: string;
}

/** Where the agent records its staged bundle. */
export const STAGED_KEY = "/vaquero/agent/staged";

const sha256 = (b: Uint8Array): string => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** The bundle `bytes` parsed and checked: its SHA-256 is `sha`, its format ours, its site `site`. */
export function parseBundle(bytes: Uint8Array, sha: string, site: string): Bundle {
  const got = sha256(bytes);
  if (got !== sha) throw new VaqueroError("BUNDLE_MISMATCH", `bundle ${sha}: its bytes hash to ${got}`);
  let b: Bundle;
  try {
    b = JSON.parse(new TextDecoder().decode(bytes)) as Bundle;
  } catch (e) {
    throw new VaqueroError("BUNDLE_INVALID", `bundle ${sha}: not JSON: ${(e as Error).message}`);
  }
  if (typeof b !== "object" || b === null || b.format !== BUNDLE_FORMAT || !Array.isArray(b.hosts)) {
    throw new VaqueroError("BUNDLE_INVALID", `bundle ${sha}: not a bundle of format ${BUNDLE_FORMAT}`);
  }
  if (b.site?.id !== site) throw new VaqueroError("BUNDLE_INVALID", `bundle ${sha} is for site ${String(b.site?.id)}, not ${site}`);
  return b;
}

/** Writes the bundle file atomically (temporary file, fsync, rename). */
export async function writeBundleFile(dataDir: string, sha: string, bytes: Uint8Array): Promise<void> {
  const dir = join(dataDir, "bundles");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${sha}.${process.pid}.tmp`);
  const f = await open(tmp, "w", 0o600);
  try {
    await f.writeFile(bytes);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, join(dir, `${sha}.json`)).catch(async (e) => {
    await rm(tmp, { force: true });
    throw e;
  });
}

/** The staged record and its bundle, checked again; undefined when nothing is staged or the file is damaged. */
export async function loadStaged(
  store: Store,
  dataDir: string,
  site: string,
): Promise<{ record: StagedRecord; bundle: Bundle } | { record: StagedRecord; error: string } | undefined> {
  const kv = await store.get(STAGED_KEY);
  if (!kv) return undefined;
  const record = decodeJson<StagedRecord>(kv);
  try {
    const bytes = new Uint8Array(await readFile(join(dataDir, "bundles", `${record.bundle}.json`)));
    return { record, bundle: parseBundle(bytes, record.bundle, site) };
  } catch (e) {
    return { record, error: (e as Error).message };
  }
}

/** Records `r` as staged. */
export async function recordStaged(store: Store, r: StagedRecord): Promise<void> {
  await store.put(STAGED_KEY, encodeJson(r));
}
