/**
 * The etcd store against a three-member cluster losing members: watches resume from the revision after the last
 * event on another member (nothing lost, nothing repeated), and requests go on while a quorum stands. The
 * conformance suite on etcd runs beside the code (pkg/store/etcd.test.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { openEtcdStore, type WatchEvent } from "../pkg/store/index.ts";
import { ETCD_SKIP, type EtcdCluster, startEtcd } from "./_helpers/etcd.ts";

setDefaultTimeout(90_000);

if (ETCD_SKIP) {
  test.skip(`etcd cluster: ${ETCD_SKIP}`, () => {});
} else {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd(3);
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  describe("etcd store on a three-member cluster", () => {
    test("a watch survives each member being killed and restarted in turn, losing and repeating nothing", async () => {
      const store = await openEtcdStore({ endpoints: etcd.endpoints, requestTimeoutMs: 2000 });
      const first = await store.put("/w/0", "0");
      const w = store.watch("/w/", { fromRevision: first });
      const seen: WatchEvent[] = [];
      const reading = (async () => {
        for await (const ev of w) {
          seen.push(ev);
          if (seen.length === 1 + 3 * 5) return;
        }
      })();
      let n = 1;
      for (const m of etcd.members) {
        await m.kill();
        for (let i = 0; i < 5; i++) await store.put(`/w/${n++}`, String(n));
        await m.start();
      }
      await reading;
      expect(seen.map((e) => e.kv.key)).toEqual(Array.from({ length: n }, (_, i) => `/w/${i}`));
      expect(seen.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: n }, (_, i) => first + i));
      const lease = await store.grant(5);
      expect(await store.keepAlive(lease)).toBe(5);
      await store.close();
    });
  });
}
