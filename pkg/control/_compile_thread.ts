/**
 * The server's compile thread: one worker (pkg/control/_compile_worker.ts), started at the first compile and kept
 * for the next ones, that fetches, compiles and bundles while the main thread keeps renewing the leader's lease
 * and answering HTTP; the main thread then only publishes. Compiles are serialized by the releaser, so the worker
 * runs one at a time. If the worker cannot start (no workers here, or its code is missing), compiles run on the
 * calling thread, with a warning, and give the same results. A worker that dies mid-compile fails that compile
 * with `COMPILE_WORKER`; the next compile starts a new one. The worker is unreferenced while idle, so it never
 * keeps a process alive, and {@link CompileThread.close} terminates it.
 */
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { type CompileJob, fromWire, type JobSpec, openJob } from "./_compile_job.ts";
import type { WorkerReply, WorkerRequest } from "./_compile_wire.ts";
import type { Publishable } from "./_releases.ts";

/** Where compiles run. */
export interface CompileThread {
  /** Opens the SoT (on the worker when there is one); the job compiles there too. */
  open(spec: JobSpec): Promise<CompileJob>;
  /** True while compiles run on a worker (false before the first one and after a failed start). */
  readonly onWorker: boolean;
  /** Terminates the worker; a compile in flight fails with `COMPILE_WORKER`. */
  close(): Promise<void>;
}

/** Options of {@link createCompileThread}. */
export interface CompileThreadOptions {
  log: Logger;
  /** "main" compiles on the calling thread (tests, and the fallback); default "worker". */
  on?: "worker" | "main";
}

/** Longest wait for a new worker to load its code before compiling on the calling thread instead. */
const START_TIMEOUT_MS = 30_000;

type Waiter = { resolve(r: WorkerReply): void; reject(e: Error): void };

/** A compile thread. */
export function createCompileThread(o: CompileThreadOptions): CompileThread {
  let worker: Worker | undefined;
  let starting: Promise<Worker | undefined> | undefined;
  let unavailable = o.on === "main";
  let closed = false;
  let next = 0;
  const pending = new Map<number, Waiter>();

  const failAll = (e: Error): void => {
    for (const w of pending.values()) w.reject(e);
    pending.clear();
  };
  const drop = (w: Worker, why: string): void => {
    if (worker === w) worker = undefined;
    w.terminate();
    failAll(new VaqueroError("COMPILE_WORKER", `compile worker: ${why}`));
  };

  const start = (): Promise<Worker | undefined> => {
    if (unavailable || closed) return Promise.resolve(undefined);
    if (worker) return Promise.resolve(worker);
    starting ??= new Promise<Worker | undefined>((resolve) => {
      let w: Worker | undefined;
      const giveUp = (why: string): void => {
        clearTimeout(timer);
        unavailable = true;
        w?.terminate();
        o.log.warn({ err: why }, "compile worker cannot start; compiling on the main thread");
        resolve(undefined);
      };
      const timer = setTimeout(() => giveUp("it did not load in time"), START_TIMEOUT_MS);
      try {
        w = new Worker(workerUrl());
      } catch (e) {
        giveUp(describeError(e));
        return;
      }
      const started = w;
      started.onerror = (event) => giveUp(event.message);
      started.onmessage = (event: MessageEvent<WorkerReply>) => {
        if (event.data.id !== -1) return;
        clearTimeout(timer);
        const w = started;
        w.onmessage = (ev: MessageEvent<WorkerReply>) => {
          const waiter = pending.get(ev.data.id);
          if (!waiter) return;
          pending.delete(ev.data.id);
          if (pending.size === 0) w.unref();
          waiter.resolve(ev.data);
        };
        w.onerror = (ev) => drop(w, ev.message || "failed");
        w.addEventListener("close", () => drop(w, "exited"));
        w.unref();
        worker = w;
        resolve(w);
      };
    }).finally(() => {
      starting = undefined;
    });
    return starting;
  };

  const ask = (w: Worker, req: WorkerRequest): Promise<Extract<WorkerReply, { ok: true }>> =>
    new Promise<WorkerReply>((resolve, reject) => {
      pending.set(req.id, { resolve, reject });
      w.ref();
      w.postMessage(req);
    }).then((r) => {
      if (!r.ok) throw fromWire(r.error);
      return r;
    });

  return {
    async open(spec) {
      const w = await start();
      if (!w) return await openJob(spec);
      const opened = (await ask(w, { id: next++, op: "open", spec })).opened;
      if (!opened) throw new VaqueroError("COMPILE_WORKER", "compile worker: no answer to open");
      let disposed: Promise<void> | undefined;
      return {
        location: opened.location,
        ...(opened.commit ? { commit: opened.commit } : {}),
        async compile(): Promise<Publishable> {
          const r = await ask(w, { id: next++, op: "compile" });
          if (!r.result) throw new VaqueroError("COMPILE_WORKER", "compile worker: no result");
          return r.result;
        },
        dispose() {
          // A worker already gone cannot remove its temporary clone; it stays in the OS temp directory.
          disposed ??= worker === w ? ask(w, { id: next++, op: "dispose" }).then(() => undefined) : Promise.resolve();
          return disposed.catch(() => undefined);
        },
      };
    },
    get onWorker() {
      return worker !== undefined;
    },
    async close() {
      closed = true;
      const w = worker ?? (await starting);
      if (w) drop(w, "closed");
    },
  };
}

/**
 * Where the worker's code is: next to this file when running from source; inside a compiled binary, at the path
 * `bun build --compile` gave its entry point (relative to the repository root, `.ts` becoming `.js`). A compiled
 * binary is told by `Bun.main`, which lies under `/$bunfs/` there (and in each of its workers); `import.meta.url`
 * keeps the source path in a bytecode build, so it cannot tell.
 */
function workerUrl(): string {
  if (Bun.main.includes("/$bunfs/")) return "/$bunfs/root/pkg/control/_compile_worker.js";
  return new URL("./_compile_worker.ts", import.meta.url).href;
}
