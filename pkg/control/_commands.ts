/**
 * Site commands (the server side of rollout control): `execute`, `pause`, `resume`, `cancel`, appended under
 * `/vaquero/sites/<site>/commands/<seq, 12 digits>` with `seq` allocated by a compare-and-swap on
 * `/vaquero/sites/<site>/commands-seq`, so concurrent writers (several server instances on etcd) never take the
 * same number and a site's agents apply them in one order.
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";

/** What a command asks of the site's agent. */
export type CommandKind = "execute" | "pause" | "resume" | "cancel";

/** A policy override of `/execute` (the workflows' policy fields). */
export interface CommandPolicy {
  max_concurrent?: number;
  max_fail?: number;
  min_standing?: number | null;
  stage_timeout?: number;
}

/** One site command, as stored and as the desired poll hands it to agents. */
export interface SiteCommand {
  seq: number;
  /** A unique id of the command. */
  id: string;
  kind: CommandKind;
  /** The rollout it starts (`execute`) or steers. */
  rollout: string;
  hosts?: string[];
  changed?: true;
  policy?: CommandPolicy;
  /** ISO 8601 time of the append. */
  at: string;
  /** Name of the token that asked. */
  by: string;
}

/** Most commands one read returns. */
export const MAX_COMMANDS_READ = 100;
/** Attempts of the sequence compare-and-swap before giving up (each loses only to another append). */
const CAS_ATTEMPTS = 50;

/** `/vaquero/sites/<site>/`. */
export const sitePrefix = (site: string): string => `/vaquero/sites/${site}/`;
/** The key of command `seq` of `site`. */
export const commandKey = (site: string, seq: number): string => `${sitePrefix(site)}commands/${String(seq).padStart(12, "0")}`;
/** The prefix of a site's commands. */
export const commandsPrefix = (site: string): string => `${sitePrefix(site)}commands/`;
/** The key holding a site's last allocated command seq. */
export const commandsSeqKey = (site: string): string => `${sitePrefix(site)}commands-seq`;

/** Appends a command to `site`'s list; returns it with its seq. Throws `COMMAND_CONFLICT` after too many lost races. */
export async function appendCommand(
  store: Store,
  site: string,
  cmd: Omit<SiteCommand, "seq" | "at">,
  now: () => number = Date.now,
): Promise<SiteCommand> {
  const seqKey = commandsSeqKey(site);
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const cur = await store.get(seqKey);
    const last = cur ? Number(new TextDecoder().decode(cur.value)) || 0 : 0;
    const full: SiteCommand = { ...cmd, seq: last + 1, at: new Date(now()).toISOString() };
    const t = await store.txn({
      compare: [
        cur
          ? { key: seqKey, target: "modRevision", op: "=", value: cur.modRevision }
          : { key: seqKey, target: "version", op: "=", value: 0 },
      ],
      success: [{ put: { key: seqKey, value: String(full.seq) } }, { put: { key: commandKey(site, full.seq), value: encodeJson(full) } }],
    });
    if (t.succeeded) return full;
  }
  throw new VaqueroError("COMMAND_CONFLICT", `site ${site}: the command sequence kept changing; try again`);
}

/** The commands of `site` with seq greater than `after`, oldest first, at most `limit`. */
export async function commandsAfter(store: Store, site: string, after: number, limit = MAX_COMMANDS_READ): Promise<SiteCommand[]> {
  const prefix = commandsPrefix(site);
  // Keys are zero-padded, so key order is seq order; `commands0` is the first key after every `commands/…`.
  const r = await store.range({ start: commandKey(site, after + 1), end: `${prefix.slice(0, -1)}0` }, { limit });
  const out: SiteCommand[] = [];
  for (const kv of r.kvs) {
    try {
      out.push(decodeJson<SiteCommand>(kv));
    } catch {
      // A value that is not JSON is no command of ours; skipped.
    }
  }
  return out;
}
