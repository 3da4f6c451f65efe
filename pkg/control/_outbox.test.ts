import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedStore, type Store } from "../store/index.ts";
import type { LinkEntry } from "./_link.ts";
import { OUTBOX_ACKED_KEY, OUTBOX_PREFIX, openOutbox } from "./_outbox.ts";

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function open(dir?: string): Promise<{ store: Store; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), "vq-outbox-"));
  if (!dir) dirs.push(d);
  const s = await openEmbeddedStore({ path: join(d, "vaquero.db"), leaseCheckMs: false });
  stores.push(s);
  return { store: s, dir: d };
}

/** A server that stores each seq once and answers its contiguous mark; `down` makes it unreachable. */
function fakeServer() {
  const stored = new Map<number, LinkEntry>();
  let mark = 0;
  const s = {
    down: false,
    posts: 0,
    seen: [] as number[],
    stored,
    send: async (entries: LinkEntry[]) => {
      s.posts++;
      if (s.down) throw new Error("connection refused");
      for (const e of entries) {
        s.seen.push(e.seq);
        if (e.seq === mark + 1) {
          stored.set(e.seq, e);
          mark = e.seq;
        }
      }
      return { acked: mark };
    },
  };
  return s;
}
const machine = (i: number) => ({ kind: "machine" as const, machine: { mac: "52:54:00:00:00:01", state: `s${i}` } });
const instant = async () => {};

describe("outbox", () => {
  test("numbers entries in order, sends them in batches, deletes what was acknowledged", async () => {
    const { store } = await open();
    const server = fakeServer();
    const box = await openOutbox({ store, send: server.send, batch: 3, sleep: instant });
    for (let i = 0; i < 7; i++) expect(box.push(machine(i))).toBe(i + 1);
    await box.flush();
    expect((await box.stats()).pending).toBe(7);
    expect(await box.drain()).toBe(7);
    expect(server.posts).toBe(3);
    expect([...server.stored.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect((await store.range(OUTBOX_PREFIX)).kvs.length).toBe(0);
    expect(new TextDecoder().decode((await store.get(OUTBOX_ACKED_KEY))?.value)).toBe("7");
  });

  test("keeps entries while the server is down and replays them in order, each stored once", async () => {
    const { store } = await open();
    const server = fakeServer();
    const box = await openOutbox({ store, send: server.send, batch: 2, sleep: instant });
    for (let i = 0; i < 3; i++) box.push(machine(i));
    expect(await box.drain()).toBe(3);
    server.down = true;
    for (let i = 3; i < 8; i++) box.push(machine(i));
    await box.flush();
    await expect(box.drain()).rejects.toThrow("connection refused");
    expect((await box.stats()).pending).toBe(5);
    server.down = false;
    expect(await box.drain()).toBe(5);
    expect([...server.stored.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(server.seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("after a restart: replays what was not acknowledged and goes on with the seq, never reusing one", async () => {
    const { store, dir } = await open();
    const server = fakeServer();
    const box = await openOutbox({ store, send: server.send, sleep: instant });
    for (let i = 0; i < 4; i++) box.push(machine(i));
    expect(await box.drain()).toBe(4);
    box.push(machine(4));
    box.push(machine(5));
    await box.stop();
    await store.close();
    stores.splice(0);
    const again = await open(dir);
    const box2 = await openOutbox({ store: again.store, send: server.send, sleep: instant });
    expect(box2.push(machine(6))).toBe(7);
    expect(await box2.drain()).toBe(3);
    expect([...server.stored.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // All acknowledged and deleted: a restart still continues after the mark.
    await box2.stop();
    const box3 = await openOutbox({ store: again.store, send: server.send, sleep: instant });
    expect(box3.push(machine(7))).toBe(8);
  });

  test("an answer the server already had (a lost response) is not sent as new: the mark skips it", async () => {
    const { store } = await open();
    const server = fakeServer();
    let lose = true;
    const box = await openOutbox({
      store,
      sleep: instant,
      send: async (e) => {
        const r = await server.send(e);
        if (lose) {
          lose = false;
          throw new Error("response lost");
        }
        return r;
      },
    });
    box.push(machine(0));
    box.push(machine(1));
    await expect(box.drain()).rejects.toThrow("response lost");
    expect(await box.drain()).toBe(2);
    expect(server.stored.size).toBe(2);
    expect(server.seen).toEqual([1, 2, 1, 2]);
  });

  test("the sender backs off with jitter while the server is down, and delivers once it is back", async () => {
    const { store } = await open();
    const server = fakeServer();
    server.down = true;
    const waits: number[] = [];
    let release: () => void = () => {};
    const back = new Promise<void>((r) => (release = r));
    const box = await openOutbox({
      store,
      send: server.send,
      random: () => 0.5,
      minBackoffMs: 100,
      maxBackoffMs: 400,
      sleep: async (ms, wake) => {
        waits.push(ms);
        if (waits.length === 5) {
          server.down = false;
          release();
        }
        if (ms >= 60_000) await wake;
      },
    });
    box.push(machine(0));
    await box.flush();
    box.start();
    await back;
    for (let i = 0; i < 100 && server.stored.size === 0; i++) await Bun.sleep(1);
    await box.stop();
    expect(waits.slice(0, 5)).toEqual([100, 200, 400, 400, 400]);
    expect(server.stored.size).toBe(1);
  });
});
