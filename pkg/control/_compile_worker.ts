/**
 * Worker entry of the server's compiles (pkg/control/_compile_thread.ts): holds at most one opened SoT and
 * answers `open`, `compile` and `dispose`, one message each, so fetching, loading, validating, rendering and
 * bundling never run on the thread that renews the leader's lease and answers HTTP. A compile's site bundles come
 * back as transferred buffers. Listed as an entry point of the compiled binary (see package.json "build").
 */
import { type CompileJob, openJob, toWire } from "./_compile_job.ts";
import type { WorkerReply, WorkerRequest } from "./_compile_wire.ts";

declare const self: Worker;

let job: CompileJob | undefined;

/** Answers one request. */
async function handle(req: WorkerRequest): Promise<void> {
  try {
    if (req.op === "open") {
      await job?.dispose();
      job = undefined;
      job = await openJob(req.spec);
      const reply: WorkerReply = {
        id: req.id,
        ok: true,
        opened: { location: job.location, ...(job.commit ? { commit: job.commit } : {}) },
      };
      self.postMessage(reply);
    } else if (req.op === "compile") {
      if (!job) throw new Error("nothing opened");
      const result = await job.compile();
      const reply: WorkerReply = { id: req.id, ok: true, result };
      self.postMessage(
        reply,
        result.sites.map(([, s]) => s.bytes.buffer as ArrayBuffer),
      );
    } else {
      await job?.dispose();
      job = undefined;
      const reply: WorkerReply = { id: req.id, ok: true };
      self.postMessage(reply);
    }
  } catch (e) {
    const reply: WorkerReply = { id: req.id, ok: false, error: toWire(e) };
    self.postMessage(reply);
  }
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  void handle(event.data);
};
const ready: WorkerReply = { id: -1, ok: true, ready: true };
self.postMessage(ready);
