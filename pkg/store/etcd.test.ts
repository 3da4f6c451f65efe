/**
 * The store conformance suite, unchanged, on a real single-member etcd (skipped when etcd is not installed); and
 * what only the etcd backend has. It lives beside the code because `_conformance.ts` is private to pkg/store.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ETCD_SKIP, type EtcdCluster, startEtcd } from "../../test/_helpers/etcd.ts";
import { freePort } from "../../test/_helpers/ports.ts";
import { describeStoreConformance } from "./_conformance.ts";
import { isStoreError, openEtcdStore, type Store } from "./index.ts";

// Lease expiry on etcd takes real seconds (TTL plus the leader's expiry pass).
setDefaultTimeout(60_000);

let etcd: EtcdCluster | undefined;
beforeAll(async () => {
  if (!ETCD_SKIP) etcd = await startEtcd(1);
});
afterAll(async () => {
  await etcd?.stop();
});

const open = (): Promise<Store> => {
  if (!etcd) throw new Error("etcd did not start");
  return openEtcdStore({ endpoints: etcd.endpoints, prefix: "/test" });
};

if (ETCD_SKIP) {
  test.skip(`etcd store: ${ETCD_SKIP}`, () => {});
} else {
  describeStoreConformance("etcd", open, {
    // etcd's leader checks lease expiry every 500 ms.
    advance: async (_s, ms) => Bun.sleep(ms + 700),
    async reopen(store) {
      await store.close();
      return open();
    },
    waitMs: 10_000,
  });

  describe("etcd store", () => {
    test("no member answering is STORE_UNAVAILABLE with exit code 2", async () => {
      const port = await freePort();
      const e = await openEtcdStore({ endpoints: [`http://127.0.0.1:${port}`], dialTimeoutMs: 500 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isStoreError(e, "STORE_UNAVAILABLE") && e.exitCode).toBe(2);
    });

    test("a namespace prefix is invisible to its user and isolates it", async () => {
      if (!etcd) throw new Error("etcd did not start");
      const a = await openEtcdStore({ endpoints: etcd.endpoints, prefix: "/ns-a" });
      const b = await openEtcdStore({ endpoints: etcd.endpoints, prefix: "/ns-b" });
      await a.put("/k", "a");
      await b.put("/k", "b");
      expect((await a.range("/")).kvs.map((kv) => [kv.key, new TextDecoder().decode(kv.value)])).toEqual([["/k", "a"]]);
      expect((await b.get("/k"))?.key).toBe("/k");
      await a.close();
      await b.close();
    });
  });
}
