import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLeasePool } from "../../pkg/dhcp/index.ts";
import { decodeJson, openEmbeddedStore } from "../../pkg/store/index.ts";
import { openLeaseStore } from "./serve_leases.ts";

const dir = mkdtempSync(join(tmpdir(), "vaquero-leases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const A = "52:54:00:00:00:0a";
const B = "52:54:00:00:00:0b";

test("pool leases go to the store under the site's prefix and come back after a restart", async () => {
  const path = join(dir, "vaquero.db");
  let t = 1_000_000;
  const now = () => t;
  const store = await openEmbeddedStore({ path, now, leaseCheckMs: false });
  const leases = openLeaseStore(store, "lab");
  const pool = createLeasePool({
    start: "10.0.0.10",
    end: "10.0.0.20",
    leaseSeconds: 60,
    now,
    leases: await leases.load(),
    onChange: leases.onChange,
  });
  expect(pool.offer(A)).toBe("10.0.0.10");
  pool.bind(A, "10.0.0.10");
  pool.bind(B, "10.0.0.15");
  pool.decline(B, "10.0.0.11");
  pool.release(B, "10.0.0.15");
  await leases.flush();
  expect((await store.range("/vaquero/sites/lab/dhcp/leases/")).kvs.map((kv) => kv.key)).toEqual([
    "/vaquero/sites/lab/dhcp/leases/10.0.0.10",
    "/vaquero/sites/lab/dhcp/leases/10.0.0.11",
  ]);
  const kv = await store.get("/vaquero/sites/lab/dhcp/leases/10.0.0.10");
  expect(kv && decodeJson(kv)).toEqual({ mac: A, ip: "10.0.0.10", expires: 1_060_000, state: "bound" });
  await store.close();

  t += 1000;
  const again = await openEmbeddedStore({ path, now, leaseCheckMs: false });
  const leases2 = openLeaseStore(again, "lab");
  const restored = await leases2.load();
  expect(restored.map((l) => [l.ip, l.state])).toEqual([
    ["10.0.0.10", "bound"],
    ["10.0.0.11", "declined"],
  ]);
  const pool2 = createLeasePool({
    start: "10.0.0.10",
    end: "10.0.0.20",
    leaseSeconds: 60,
    now,
    leases: restored,
    onChange: leases2.onChange,
  });
  expect(pool2.offer(B, "10.0.0.10")).not.toBe("10.0.0.10");
  expect(pool2.offer(B, "10.0.0.11")).not.toBe("10.0.0.11");
  expect(pool2.offer(A)).toBe("10.0.0.10");
  t += 60_000;
  expect(pool2.leases().map((l) => l.ip)).not.toContain("10.0.0.10");
  await leases2.flush();
  expect((await leases2.load()).map((l) => l.ip)).not.toContain("10.0.0.10");
  await again.close();
});

test("many changes to one address coalesce; malformed entries are reported and skipped; other sites are apart", async () => {
  const store = await openEmbeddedStore({ path: join(dir, "coalesce.db"), leaseCheckMs: false });
  const errors: unknown[] = [];
  const leases = openLeaseStore(store, "lab", { onError: (_e, what) => errors.push(what) });
  const before = (await store.status()).revision;
  for (let i = 0; i < 500; i++) leases.onChange({ mac: A, ip: "10.0.0.10", state: "bound", expires: i });
  await leases.flush();
  expect((await store.status()).revision - before).toBeLessThan(5);
  expect((await leases.load()).map((l) => l.expires)).toEqual([499]);
  await store.put("/vaquero/sites/lab/dhcp/leases/10.0.0.99", "{not json");
  await store.put("/vaquero/sites/other/dhcp/leases/10.0.0.10", JSON.stringify({ mac: B, ip: "10.0.0.10", state: "bound", expires: 1 }));
  expect((await leases.load()).map((l) => l.ip)).toEqual(["10.0.0.10"]);
  expect(errors).toEqual([{ key: "/vaquero/sites/lab/dhcp/leases/10.0.0.99" }]);
  expect(() => openLeaseStore(store, "a/b")).toThrow(/cannot be part of a store key/);
  await store.close();
});
