/** pkg/coord on a real etcd: leader failover across processes, and sessions that lose their lease. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { createElection, createMutex, createSession } from "../pkg/coord/index.ts";
import { openEtcdStore } from "../pkg/store/index.ts";
import { ETCD_SKIP, type EtcdCluster, startEtcd } from "./_helpers/etcd.ts";

setDefaultTimeout(60_000);
const CONTENDER = join(import.meta.dir, "..", "bench", "store", "contender.ts");

/** A contender process and the lines it printed. */
function contender(endpoints: string[], name: string) {
  const proc = Bun.spawn([process.execPath, CONTENDER, endpoints.join(","), name, "2", "/test/leader/"], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += decoder.decode(chunk);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) if (w.re.test(line)) w.resolve(line);
      }
    }
  })();
  /** The first line matching `re` (already printed or to come), or an error after `ms`. */
  const line = (re: RegExp, ms: number): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${name}: no line ${re} within ${ms} ms; got ${JSON.stringify(lines)}`)), ms);
      waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  };
  return { proc, name, lines, line };
}

if (ETCD_SKIP) {
  test.skip(`coord on etcd: ${ETCD_SKIP}`, () => {});
} else {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd(3);
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  describe("coord on a three-member etcd", () => {
    test("the leader's process killed with SIGKILL: the other contender becomes leader", async () => {
      const a = contender(etcd.endpoints, "a");
      await a.line(/^LEADER a/, 20_000);
      const b = contender(etcd.endpoints, "b");
      await b.line(/^READY b/, 20_000);
      const store = await openEtcdStore({ endpoints: etcd.endpoints });
      const session = await createSession(store, { ttlSeconds: 2 });
      expect((await createElection(session, "/test/leader/").leader())?.value).toBe("a");
      a.proc.kill("SIGKILL");
      await a.proc.exited;
      await b.line(/^LEADER b/, 20_000);
      expect((await createElection(session, "/test/leader/").leader())?.value).toBe("b");
      b.proc.kill("SIGKILL");
      await b.proc.exited;
      await session.close();
      await store.close();
    });

    test("a revoked session lease resolves done at once (lease-lost), and the mutex passes on", async () => {
      const store = await openEtcdStore({ endpoints: etcd.endpoints });
      const s1 = await createSession(store, { ttlSeconds: 10 });
      const s2 = await createSession(store, { ttlSeconds: 10 });
      const m1 = createMutex(s1, "/test/lock/");
      await m1.lock();
      const second = createMutex(s2, "/test/lock/").lock();
      await store.revoke(s1.lease);
      expect((await s1.done).reason).toBe("lease-lost");
      await second;
      expect(m1.held()).toBe(false);
      await s2.close();
      await store.close();
    });
  });

  describe("coord on a single etcd that stops", () => {
    test("etcd stopped: the session ends within its TTL, so leader work stops", async () => {
      const one = await startEtcd(1);
      try {
        const store = await openEtcdStore({ endpoints: one.endpoints, requestTimeoutMs: 500 });
        const session = await createSession(store, { ttlSeconds: 2 });
        await createElection(session, "/test/solo/").campaign("me");
        await one.members[0]?.kill();
        const end = await session.done;
        expect(end.reason).toBe("expired");
        await store.close();
      } finally {
        await one.stop();
      }
    });
  });
}
