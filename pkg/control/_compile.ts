/**
 * The server's compiler: fetches `--sot` at the branch, compiles it and publishes the release, one compile at a
 * time (a webhook, `POST /releases` and the poll share one queue). A commit is compiled once: a delivery id or a
 * commit already seen answers with its release and `duplicate: true`, re-running nothing. The branch's tip is
 * compiled, not the commit a payload names, so deliveries arriving out of order never move the branch's latest
 * release backwards; the payload's commit only lets a replay be answered before anything is fetched. Fetching and
 * compiling run on the compile worker (_compile_thread.ts); this thread checks the store and publishes.
 */
import { describeError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { decodeJson, encodeJson, type Store } from "../store/index.ts";
import { createCompileThread } from "./_compile_thread.ts";
import { createPublisher, getRelease, type ReleaseRecord, releaseOfCommit } from "./_releases.ts";

/** Why a compile runs. */
export interface CompileRequest {
  trigger: "webhook" | "api" | "poll" | "start";
  /** The delivery id of a webhook (remembered, so a replay is a duplicate). */
  delivery?: string;
  /** The commit a webhook names (a known one is answered at once). */
  after?: string;
}

/** A compile's answer. */
export interface CompileOutcome {
  release: ReleaseRecord;
  /** True when nothing was compiled: the delivery or commit had been seen. */
  duplicate: boolean;
}

/** Options of {@link createReleaser}. */
export interface ReleaserOptions {
  store: Store;
  /** `--sot`: a git URL or path, or a plain directory. */
  sot: string;
  /** The branch compiled (`--ref`). */
  ref: string;
  timeoutMs: number;
  log: Logger;
  now?: () => Date;
  /** Called once per new release (after it is stored), e.g. to stage it (`--auto-execute`). */
  onRelease?: (r: ReleaseRecord) => Promise<void>;
  /** Where the SoT is fetched and compiled: a worker (default; the main thread if none starts) or this thread. */
  compileOn?: "worker" | "main";
}

/** Compiles and publishes, one at a time. */
export interface Releaser {
  compile(r: CompileRequest): Promise<CompileOutcome>;
  /** Compiles in flight or waiting. */
  readonly pending: number;
  /** Releases published since start. */
  readonly published: number;
  /** Stops the compile worker (a compile in flight fails); call once, at shutdown. */
  close(): Promise<void>;
}

const DELIVERY_PREFIX = "/vaquero/deliveries/";

/** A releaser over `o.store`. */
export function createReleaser(o: ReleaserOptions): Releaser {
  const publisher = createPublisher(o.store);
  const thread = createCompileThread({ log: o.log, on: o.compileOn ?? "worker" });
  const now = o.now ?? (() => new Date());
  let chain: Promise<unknown> = Promise.resolve();
  let pending = 0;
  let published = 0;

  const seen = async (id: string | undefined): Promise<ReleaseRecord | undefined> => (id ? await getRelease(o.store, id) : undefined);
  const remember = async (delivery: string | undefined, release: string): Promise<void> => {
    if (delivery) await o.store.put(DELIVERY_PREFIX + delivery, encodeJson({ release, at: now().toISOString() }));
  };

  const run = async (r: CompileRequest): Promise<CompileOutcome> => {
    if (r.delivery) {
      const kv = await o.store.get(DELIVERY_PREFIX + r.delivery);
      const rel = kv ? await seen(decodeJson<{ release: string }>(kv).release) : undefined;
      if (rel) return { release: rel, duplicate: true };
    }
    const known = await seen(r.after ? await releaseOfCommit(o.store, r.after) : undefined);
    if (known) {
      await remember(r.delivery, known.id);
      return { release: known, duplicate: true };
    }
    const t0 = performance.now();
    const job = await thread.open({ sot: o.sot, ref: o.ref, timeoutMs: o.timeoutMs });
    let release: ReleaseRecord;
    try {
      const again = job.commit ? await seen(await releaseOfCommit(o.store, job.commit)) : undefined;
      if (again) {
        await remember(r.delivery, again.id);
        return { release: again, duplicate: true };
      }
      o.log.info({ trigger: r.trigger, ...(job.commit ? { commit: job.commit } : {}), worker: thread.onWorker }, "compiling");
      const result = await job.compile();
      o.log.info({ ...(job.commit ? { commit: job.commit } : {}), ms: Math.round(performance.now() - t0) }, "compiled; publishing");
      release = await publisher.publish({
        result,
        source: job.location,
        ref: o.ref,
        ...(job.commit ? { commit: job.commit } : {}),
        now: now(),
      });
    } finally {
      await job.dispose();
    }
    await remember(r.delivery, release.id);
    published++;
    const changed = Object.values(release.sites).reduce((n, s) => n + s.hosts_changed.length, 0);
    o.log.info(
      {
        release: release.id,
        status: release.status,
        trigger: r.trigger,
        sites: Object.keys(release.sites).length,
        changed,
        ms: Math.round(performance.now() - t0),
      },
      "release stored",
    );
    if (o.onRelease) {
      await o
        .onRelease(release)
        .catch((e: unknown) => o.log.error({ release: release.id, err: describeError(e) }, "after-release step failed"));
    }
    return { release, duplicate: false };
  };

  return {
    compile(r) {
      pending++;
      const next = chain.then(() => run(r));
      chain = next.catch(() => undefined);
      return next.finally(() => {
        pending--;
      });
    },
    get pending() {
      return pending;
    },
    get published() {
      return published;
    },
    close: () => thread.close(),
  };
}
