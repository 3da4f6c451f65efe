/**
 * The compile queue and `--auto-execute` over the embedded store (leadership itself needs pkg/coord:
 * test/ha-leader.test.ts; the servers on etcd: test/ha.test.ts): a queued delivery is one entry however often it
 * arrives; `--auto-execute` appends each site's command once, however often it runs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../internal/log/index.ts";
import { encodeJson, openEmbeddedStore, type Store } from "../store/index.ts";
import { commandsAfter } from "./_commands.ts";
import type { Releaser } from "./_compile.ts";
import { getDesired } from "./_desired.ts";
import { leaderName } from "./_leader.ts";
import { autoExecute, autoRolloutId } from "./_leader_auto.ts";
import { COMPILE_QUEUE_PREFIX, drainQueue, enqueueCompile } from "./_queue.ts";
import type { ReleaseRecord } from "./_releases.ts";

const dir = mkdtempSync(join(tmpdir(), "vq-leader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger({ level: "silent" });
let n = 0;
const open = (): Promise<Store> => openEmbeddedStore({ path: join(dir, `s${++n}.db`) });

test("leaderName puts the host name in place of a wildcard address", () => {
  expect(leaderName("127.0.0.1", 8443)).toBe("127.0.0.1:8443");
  expect(leaderName("0.0.0.0", 8443)).not.toStartWith("0.0.0.0");
});

describe("compile queue", () => {
  test("a delivery queued twice is one entry; the drain compiles it and removes it", async () => {
    const store = await open();
    const first = await enqueueCompile(store, { trigger: "webhook", delivery: "d1" }, "b");
    const again = await enqueueCompile(store, { trigger: "webhook", delivery: "d1" }, "c");
    expect(first).toEqual({ queued: expect.any(String), duplicate: false });
    expect(again).toEqual({ queued: "queued" in first ? first.queued : "", duplicate: true });
    await enqueueCompile(store, { trigger: "api" }, "b");
    expect((await store.range(COMPILE_QUEUE_PREFIX)).kvs.length).toBe(2);
    const asked: string[] = [];
    const rel = { id: "a".repeat(40), status: "valid" } as ReleaseRecord;
    const releaser: Releaser = {
      compile: async (r) => {
        asked.push(r.delivery ?? r.trigger);
        return { release: rel, duplicate: false };
      },
      pending: 0,
      published: 0,
      close: async () => {},
    };
    const stop = new AbortController();
    const drained = drainQueue({ store, releaser, signal: stop.signal, log, idleMs: 10 });
    for (let i = 0; i < 200 && (await store.range(COMPILE_QUEUE_PREFIX)).kvs.length > 0; i++) await Bun.sleep(10);
    stop.abort();
    await drained;
    expect(asked.sort()).toEqual(["api", "d1"]);
    expect((await store.range(COMPILE_QUEUE_PREFIX)).kvs.length).toBe(0);
    await store.close();
  });
});

describe("--auto-execute", () => {
  test("stages the release and appends one execute command per changed site, once however often it runs", async () => {
    const store = await open();
    const id = "b".repeat(40);
    const rel: ReleaseRecord = {
      id,
      ref: "main",
      source: "test",
      created_at: new Date(0).toISOString(),
      status: "valid",
      findings: [],
      findings_total: 0,
      sites: {
        s1: { bundle: "1".repeat(64), hosts: 2, hosts_changed: ["a"], hosts_removed: [] },
        s2: { bundle: "2".repeat(64), hosts: 1, hosts_changed: [], hosts_removed: [] },
        s3: { bundle: "3".repeat(64), hosts: 1, hosts_changed: ["x", "y"], hosts_removed: [] },
      },
    };
    await store.put(`/vaquero/releases/${id}`, encodeJson(rel));
    const first = await autoExecute(store, rel, { log });
    expect(first.staged).toBe(true);
    expect(Object.keys(first.started).sort()).toEqual(["s1", "s3"]);
    const again = await autoExecute(store, rel, { log });
    expect(again).toEqual({ staged: false, started: {} });
    expect((await getDesired(store, "s2"))?.release).toBe(id);
    for (const [site, hosts] of [
      ["s1", ["a"]],
      ["s3", ["x", "y"]],
    ] as const) {
      const cmds = await commandsAfter(store, site, 0);
      expect(cmds.map((c) => [c.kind, c.rollout, c.hosts])).toEqual([["execute", autoRolloutId(id, site), [...hosts]]]);
    }
    expect(await commandsAfter(store, "s2", 0)).toEqual([]);
    await store.close();
  });
});
