/**
 * A one-worker render pool, so that rendering a large site uses both cores of a small machine: the compiler
 * renders the first half of a site's hosts while the worker renders the second. If the worker cannot start or
 * fails, the caller renders that half itself; results never depend on whether the worker ran.
 */
import type { Bundle } from "./_bundle.ts";
import type { CheckResult } from "./_check.ts";

/** Hosts below which a site is rendered on the calling thread alone (a worker costs ~50 ms to start). */
export const PARALLEL_MIN_HOSTS = 1000;

/** Renders host ranges on another thread. */
export interface RenderPool {
  run(bundle: Bundle, from: number, to: number): Promise<CheckResult>;
  close(): void;
}

/** Starts the pool's worker; undefined when workers are unavailable here. */
export function createRenderPool(): RenderPool | undefined {
  let worker: Worker;
  try {
    worker = new Worker(workerUrl());
  } catch {
    return undefined;
  }
  let next = 0;
  const pending = new Map<number, { resolve(r: CheckResult): void; reject(e: Error): void }>();
  let broken: Error | undefined;
  const failAll = (e: Error): void => {
    broken = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.onmessage = (event: MessageEvent<{ id: number; result?: CheckResult; error?: string }>) => {
    const p = pending.get(event.data.id);
    if (!p) return;
    pending.delete(event.data.id);
    if (event.data.result) p.resolve(event.data.result);
    else p.reject(new Error(event.data.error ?? "render worker failed"));
  };
  worker.onerror = (event) => failAll(new Error(`render worker: ${event.message}`));
  return {
    run(bundle, from, to) {
      if (broken) return Promise.reject(broken);
      const id = next++;
      return new Promise<CheckResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, bundle, from, to });
      });
    },
    close() {
      failAll(new Error("render pool closed"));
      worker.terminate();
    },
  };
}

/**
 * Where the worker's code is: next to this file when running from source; inside a compiled binary, at the path
 * `bun build --compile` gave the second entry point (relative to the repository root, `.ts` becoming `.js`). A
 * compiled binary is told by `Bun.main`, which lies under `/$bunfs/` there (and in each of its workers, so the
 * compile worker's render pool finds this one too); `import.meta.url` keeps the source path in a bytecode build.
 */
function workerUrl(): string {
  if (Bun.main.includes("/$bunfs/")) return "/$bunfs/root/pkg/sot/_render_worker.js";
  return new URL("./_render_worker.ts", import.meta.url).href;
}
