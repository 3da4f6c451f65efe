/** The messages between the server and its compile worker (pkg/control/_compile_worker.ts). */
import type { JobSpec, WireError } from "./_compile_job.ts";
import type { Publishable } from "./_releases.ts";

/** A request to the worker; `id` is echoed in the reply. */
export type WorkerRequest = { id: number; op: "open"; spec: JobSpec } | { id: number; op: "compile" } | { id: number; op: "dispose" };

/** A reply of the worker: `id` -1 with `ready` once it has loaded; otherwise the answer to request `id`. */
export type WorkerReply =
  | { id: number; ok: true; ready?: true; opened?: { location: string; commit?: string }; result?: Publishable }
  | { id: number; ok: false; error: WireError };
