/**
 * `vaquero migrate --from embedded:DIR|etcd:URL[,URL…] --to embedded:DIR|etcd:URL[,URL…] [--force]`: copies a
 * server's state (every key under `/vaquero/`) from one store to another, e.g. from the embedded store to etcd when
 * growing to several servers. Refuses a destination that already holds state (unless `--force`, which replaces it)
 * and a destination that is the source. One line on stdout: `migrated N keys (M bytes) from … to …`. Exit 2 for
 * bad flags, unreachable or unopenable stores and refusals; 1 when the copy itself fails.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import * as v from "valibot";
import type { Io } from "../../internal/cli/index.ts";
import { type FlagSpec, helpText, parseConfig, validateConfig } from "../../internal/config/index.ts";
import { describeError, isVaqueroError, VaqueroError } from "../../internal/errors/index.ts";
import { openEmbeddedStore, openEtcdStore, type Store } from "../../pkg/store/index.ts";
import { clearDestination, copyKeys, countKeys, digest } from "./_copy.ts";

/** Flags of `migrate`. */
export const MIGRATE_FLAGS: FlagSpec[] = [
  { name: "from", kind: "string", arg: "STORE", help: "source: embedded:DIR (its vaquero.db) or etcd:URL[,URL…]" },
  { name: "to", kind: "string", arg: "STORE", help: "destination, same forms" },
  { name: "force", kind: "bool", help: "replace what the destination holds under /vaquero/" },
  { name: "dial-timeout", kind: "number", arg: "SECONDS", default: 5, help: "how long to wait for an etcd member" },
];

const Schema = v.object({
  from: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  to: v.pipe(v.string("is required"), v.minLength(1, "must not be empty")),
  force: v.optional(v.boolean()),
  "dial-timeout": v.pipe(v.number(), v.minValue(0.1, "must be at least 0.1"), v.maxValue(300, "must be at most 300")),
});

const SYNOPSIS = "--from embedded:DIR|etcd:URL[,URL…] --to embedded:DIR|etcd:URL[,URL…] [--force]";
const DESCRIPTION = `Copies a server's state (every key under /vaquero/) from one store to another, read at one
revision of the source. Keys attached to a lease (elections, locks) are not copied. The destination must hold
nothing under /vaquero/ unless --force, which deletes what it holds there first. Stop the servers using the
source first: writes made after the copy's revision are not copied.`;

/** A parsed `embedded:DIR` or `etcd:URL,…`. */
export type StoreSpec = { kind: "embedded"; dir: string } | { kind: "etcd"; endpoints: string[] };

/** Parses a store flag; throws a usage error (exit 2). */
export function parseStoreSpec(flag: string, text: string): StoreSpec {
  const m = /^(embedded|etcd):(.+)$/.exec(text);
  if (!m) throw usage(`--${flag} "${text}": want embedded:DIR or etcd:URL[,URL…]`);
  if (m[1] === "embedded") return { kind: "embedded", dir: resolve(m[2] as string) };
  const endpoints = (m[2] as string).split(",").map((u) => u.trim());
  for (const u of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) throw usage(`--${flag}: "${u}" is not an etcd client URL (http://HOST:PORT)`);
  }
  return { kind: "etcd", endpoints: endpoints.map((u) => u.replace(/\/$/, "")) };
}

/** The spec as printed in the summary. */
const show = (s: StoreSpec): string => (s.kind === "embedded" ? `embedded:${s.dir}` : `etcd:${s.endpoints.join(",")}`);

/** True when both specs name the same store (the same directory, or an etcd endpoint in common). */
export function sameStore(a: StoreSpec, b: StoreSpec): boolean {
  if (a.kind === "embedded" && b.kind === "embedded") return a.dir === b.dir;
  if (a.kind === "etcd" && b.kind === "etcd") return a.endpoints.some((u) => b.endpoints.includes(u));
  return false;
}

async function open(spec: StoreSpec, dialMs: number): Promise<Store> {
  if (spec.kind === "embedded") return openEmbeddedStore({ path: join(spec.dir, "vaquero.db") });
  return openEtcdStore({ endpoints: spec.endpoints, dialTimeoutMs: dialMs });
}

/** Runs `migrate`; returns the exit code. */
export async function runMigrate(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseConfig("migrate", argv, MIGRATE_FLAGS, { env: io.env });
  if (parsed.help) {
    io.out(helpText("migrate", SYNOPSIS, DESCRIPTION, MIGRATE_FLAGS));
    return 0;
  }
  if (parsed.positionals.length) throw usage(`unexpected argument "${parsed.positionals[0]}"`);
  const cfg = validateConfig("migrate", Schema, parsed);
  const from = parseStoreSpec("from", cfg.from);
  const to = parseStoreSpec("to", cfg.to);
  if (sameStore(from, to)) throw usage(`--from and --to are the same store (${show(from)})`);
  const dialMs = Math.round(cfg["dial-timeout"] * 1000);
  if (from.kind === "embedded" && !existsSync(join(from.dir, "vaquero.db"))) {
    throw new VaqueroError("MIGRATE_NO_SOURCE", `vaquero migrate: no store in ${from.dir} (no vaquero.db)`, { exitCode: 2 });
  }
  const source = await open(from, dialMs);
  let dest: Store | undefined;
  try {
    dest = await open(to, dialMs);
    if ((await countKeys(dest, 1)) > 0) {
      if (!cfg.force) {
        throw new VaqueroError(
          "MIGRATE_DEST_NOT_EMPTY",
          `vaquero migrate: ${show(to)} already holds state under /vaquero/; --force replaces it`,
          {
            exitCode: 2,
          },
        );
      }
      await clearDestination(dest);
    }
    const r = await copyKeys(source, dest).catch((e: unknown) => {
      throw failed(`copying to ${show(to)} failed: ${describeError(e)}`, e);
    });
    const [a, b] = await Promise.all([digest(source), digest(dest)]);
    if (a.keys !== r.keys || a.sha256 !== b.sha256 || a.keys !== b.keys) {
      throw failed(`the destination differs from the source after the copy (the source changed meanwhile?): ${a.keys} vs ${b.keys} keys`);
    }
    const skipped = r.leased ? `, ${r.leased} lease-bound keys left out` : "";
    io.out(`migrated ${r.keys} keys (${r.bytes} bytes) from ${show(from)} to ${show(to)}${skipped}\n`);
    return 0;
  } finally {
    await source.close();
    await dest?.close();
  }
}

function usage(message: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero migrate: ${message}`, { exitCode: 2 });
}

function failed(message: string, cause?: unknown): VaqueroError {
  if (isVaqueroError(cause) && cause.exitCode === 2) return cause;
  return new VaqueroError("MIGRATE_FAILED", `vaquero migrate: ${message}`, { exitCode: 1, ...(cause === undefined ? {} : { cause }) });
}
