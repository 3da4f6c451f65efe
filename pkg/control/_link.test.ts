import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeJson, openEmbeddedStore, type Store } from "../store/index.ts";
import { putBundle } from "./_blobs.ts";
import { appendCommand, commandsAfter } from "./_commands.ts";
import { createLink, LINK_KEYS, type Link, type LinkEntry } from "./_link.ts";

const dirs: string[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function setup(): Promise<{ store: Store; link: Link }> {
  const d = mkdtempSync(join(tmpdir(), "vq-link-"));
  dirs.push(d);
  const store = await openEmbeddedStore({ path: join(d, "vaquero.db"), leaseCheckMs: false });
  closers.push(() => store.close());
  const link = createLink({ store, sweepMs: 5 });
  closers.push(() => link.close());
  return { store, link };
}
const desire = (store: Store, site: string, bundle: string) =>
  store.put(LINK_KEYS.desired(site), encodeJson({ release: `rel-${bundle.slice(0, 4)}`, bundle, staged_at: "2026-01-01T00:00:00.000Z" }));
const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 1000 && !cond(); i++) await Bun.sleep(1);
  expect(cond()).toBe(true);
};

describe("site commands", () => {
  test("concurrent appends get distinct, gapless seqs (compare-and-swap), read back in order", async () => {
    const { store } = await setup();
    const got = await Promise.all(
      Array.from({ length: 20 }, (_, i) => appendCommand(store, "lab", { id: `c${i}`, kind: "pause", rollout: "r-1", by: "op" })),
    );
    expect(got.map((c) => c.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const after5 = await commandsAfter(store, "lab", 5);
    expect(after5.map((c) => c.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 6));
    expect(await commandsAfter(store, "other", 0)).toEqual([]);
  });
});

describe("desired long poll", () => {
  test("answers at once when the desired release differs, or commands wait", async () => {
    const { store, link } = await setup();
    await desire(store, "lab", "a".repeat(64));
    expect((await link.poll("lab", "ag", undefined, 0, 30_000)).bundle).toBe("a".repeat(64));
    await appendCommand(store, "lab", { id: "c1", kind: "execute", rollout: "r-1", by: "op" });
    const a = await link.poll("lab", "ag", "rel-aaaa", 0, 30_000);
    expect(a.commands.map((c) => c.seq)).toEqual([1]);
    // A new release that leaves this site's bundle unchanged is still news for its agents.
    await store.put(
      LINK_KEYS.desired("lab"),
      encodeJson({ release: "rel-next", bundle: "a".repeat(64), staged_at: "2026-01-02T00:00:00.000Z" }),
    );
    const b = await link.poll("lab", "ag", "rel-aaaa", 1, 30_000);
    expect([b.release, b.bundle]).toEqual(["rel-next", "a".repeat(64)]);
  });

  test("wakes every waiting poll of the site when desired changes, and on a new command; not other sites", async () => {
    const { store, link } = await setup();
    await desire(store, "lab", "a".repeat(64));
    const polls = Array.from({ length: 50 }, () => link.poll("lab", "ag", "rel-aaaa", 0, 60_000));
    const other = link.poll("far", "ag", undefined, 0, 60_000);
    await waitFor(() => link.waiting() === 51);
    await desire(store, "lab", "b".repeat(64));
    for (const a of await Promise.all(polls)) expect(a.bundle).toBe("b".repeat(64));
    expect(link.waiting()).toBe(1);
    const cmd = link.poll("lab", "ag", "rel-bbbb", 0, 60_000);
    await waitFor(() => link.waiting() === 2);
    await appendCommand(store, "lab", { id: "c1", kind: "execute", rollout: "r-1", by: "op" });
    expect((await cmd).commands.length).toBe(1);
    await appendCommand(store, "far", { id: "c2", kind: "execute", rollout: "r-2", by: "op" });
    expect((await other).commands.length).toBe(1);
  });

  test("answers unchanged at its deadline (one shared sweep timer, not one per poll)", async () => {
    const { store, link } = await setup();
    await desire(store, "lab", "a".repeat(64));
    const a = await link.poll("lab", "ag", "rel-aaaa", 0, 20);
    expect(a).toEqual({ release: "rel-aaaa", bundle: "a".repeat(64), staged_at: "2026-01-01T00:00:00.000Z", commands: [] });
    expect(link.waiting()).toBe(0);
  });
});

describe("events ingest", () => {
  const entry = (seq: number, mac = "52:54:00:00:00:01"): LinkEntry => ({
    seq,
    at: "2026-01-01T00:00:00.000Z",
    kind: "machine",
    machine: { mac, state: `s${seq}` },
  });

  test("stores each (agent, seq) once, answers the contiguous mark, updates the machine record", async () => {
    const { store, link } = await setup();
    expect(await link.ingest("lab", "ag", [entry(1), entry(2), entry(3)])).toBe(3);
    expect(await link.ingest("lab", "ag", [entry(2), entry(3), entry(4)])).toBe(4);
    // A gap: only the run after the mark is stored; the agent sends the rest again.
    expect(await link.ingest("lab", "ag", [entry(6), entry(7)])).toBe(4);
    expect(await link.ingest("lab", "ag2", [entry(1)])).toBe(1);
    const keys = (await store.range("/vaquero/sites/lab/events/ag/")).kvs.map((kv) => Number(kv.key.split("/").pop()));
    expect(keys).toEqual([1, 2, 3, 4]);
    const m = await store.get(LINK_KEYS.machine("lab", "52:54:00:00:00:01"));
    expect(JSON.parse(new TextDecoder().decode(m?.value)).state).toBe("s1");
  });

  test("the same batch posted twice at once is stored once", async () => {
    const { store, link } = await setup();
    const batch = Array.from({ length: 300 }, (_, i) => entry(i + 1));
    const [a, b] = await Promise.all([link.ingest("lab", "ag", batch), link.ingest("lab", "ag", batch)]);
    expect([a, b]).toEqual([300, 300]);
    expect((await store.range("/vaquero/sites/lab/events/ag/")).kvs.length).toBe(300);
  });
});

describe("bundles", () => {
  test("only the site's desired bundle is served, checked against its name", async () => {
    const { store, link } = await setup();
    const bytes = new TextEncoder().encode(JSON.stringify({ format: 1, site: { id: "lab" } }));
    const { manifest } = await putBundle(store, bytes);
    expect(await link.bundle("lab", manifest.sha256)).toBeUndefined();
    await desire(store, "lab", manifest.sha256);
    expect(new TextDecoder().decode(await link.bundle("lab", manifest.sha256))).toBe(new TextDecoder().decode(bytes));
    expect(await link.bundle("far", manifest.sha256)).toBeUndefined();
  });
});
