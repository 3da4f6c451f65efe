/**
 * Watches of the etcd backend (private). Each {@link Watch} is one etcd watch on its own gRPC stream (streams
 * share the client's HTTP/2 connection). Events are buffered in order; the watch remembers the revision after the
 * last one it delivered, so when the stream breaks (a member stopped, a connection reset) it opens a new one from
 * that revision on another member: no event is lost or repeated. When etcd says the history it needs is
 * compacted, iteration fails with `STORE_COMPACTED` and etcd's compact revision.
 */
import type { Etcd3, IEvent, IWatchResponse } from "etcd3";
import { describeError } from "../../internal/errors/index.ts";
import { compactedError, StoreError } from "./_errors.ts";
import { unavailable } from "./_etcd_errors.ts";
import type { KeyValue, Watch, WatchEvent } from "./_types.ts";

/** What a watch needs from its store. */
export interface EtcdWatchSource {
  client: Etcd3;
  /** Namespaced byte bounds `[start, end)` of the watched keys. */
  start: Buffer;
  end: Buffer;
  /** First revision to report; undefined: changes after the revision at which etcd creates the watch. */
  fromRevision: number | undefined;
  /** An etcd key-value as the store's {@link KeyValue} (strips the namespace). */
  toKv(kv: IEvent["kv"]): KeyValue;
  /** Reconnection attempts after a broken stream before the watch fails with `STORE_UNAVAILABLE`. */
  maxReconnects: number;
  /** Called once when the watch ends, whatever ends it. */
  onEnd(): void;
}

/** The stream object etcd3 gives, with grpc-js' `cancel` (not in etcd3's declared type). */
interface WatchStream {
  write(req: object): void;
  end(): void;
  on(event: string, fn: (arg: never) => void): unknown;
  cancel?: () => void;
}

/** Opens a watch; the stream is requested at once, so a change right after this call is seen. */
export function openEtcdWatch(src: EtcdWatchSource): Watch {
  const queue: WatchEvent[] = [];
  let next = src.fromRevision;
  let failure: StoreError | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  let stream: WatchStream | undefined;
  let reconnects = 0;

  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const finish = (error?: StoreError): void => {
    if (ended) return;
    ended = true;
    failure = error;
    const s = stream;
    stream = undefined;
    try {
      s?.cancel?.();
      s?.end();
    } catch {
      // The stream is already gone.
    }
    src.onEnd();
    signal();
  };

  const onData = (res: IWatchResponse): void => {
    if (ended) return;
    reconnects = 0;
    const compact = Number(res.compact_revision ?? 0);
    if (compact > 0) {
      finish(compactedError(next ?? 0, compact));
      return;
    }
    if (res.canceled) {
      finish(unavailable(`watch cancelled by etcd: ${res.cancel_reason || "no reason given"}`));
      return;
    }
    if (res.created && next === undefined) next = Number(res.header.revision) + 1;
    for (const ev of res.events ?? []) {
      const kv = src.toKv(ev.kv);
      queue.push({ type: String(ev.type).toUpperCase() === "DELETE" ? "delete" : "put", kv });
      next = kv.modRevision + 1;
    }
    if (res.events?.length) signal();
  };

  const connect = async (): Promise<void> => {
    // Bounded: each failure counts, and a response resets the count.
    if (ended) return;
    try {
      // etcd3 declares a narrower stream type than grpc-js returns; WatchStream names what is used of it.
      const s = (await src.client.watchClient.watch()) as unknown as WatchStream;
      if (ended) {
        s.cancel?.();
        return;
      }
      stream = s;
      s.on("data", (res: never) => onData(res as IWatchResponse));
      const broken = (e?: unknown): void => {
        if (ended || stream !== s) return;
        stream = undefined;
        retry(e);
      };
      s.on("error", (e: never) => broken(e));
      s.on("end", () => broken());
      s.write({
        create_request: { key: src.start, range_end: src.end, start_revision: next ?? 0 },
      });
    } catch (e) {
      retry(e);
    }
  };
  const retry = (e: unknown): void => {
    if (ended) return;
    reconnects++;
    if (reconnects > src.maxReconnects) {
      finish(unavailable(`watch: the stream broke ${reconnects} times in a row: ${describeError(e)}`, e));
      return;
    }
    setTimeout(() => void connect(), Math.min(1000, 25 * 2 ** Math.min(reconnects, 6)));
  };
  void connect();

  const iterator: AsyncIterator<WatchEvent> = {
    async next() {
      // Each pass returns or waits for a response, an error or a cancel.
      for (let pass = 0; pass < Number.MAX_SAFE_INTEGER; pass++) {
        const head = queue.shift();
        if (head) return { done: false, value: head };
        if (failure) {
          const f = failure;
          failure = undefined;
          throw f;
        }
        if (ended) return { done: true, value: undefined };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      throw new StoreError("STORE_CLOSED", "watch loop ended");
    },
    async return() {
      finish();
      queue.length = 0;
      return { done: true, value: undefined };
    },
  };
  return {
    cancel() {
      finish();
      queue.length = 0;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}
