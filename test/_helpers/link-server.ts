/**
 * A control plane for agent tests, in the test process: the agent link app over an embedded store seeded the way
 * `vaquero server` lays it out (chunked bundles, `/vaquero/sites/<site>/desired`), on 127.0.0.1. It can be stopped
 * and started again on the same port and store (an outage), and told to serve wrong bytes for a bundle.
 */
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createAgentLinkApp, createTokenStore, type TokenStore } from "../../pkg/api/index.ts";
import { createLink, LINK_KEYS, type Link, putBundle } from "../../pkg/control/index.ts";
import { compileTree, openSource } from "../../pkg/sot/index.ts";
import { decodeJson, encodeJson, openEmbeddedStore, type Store } from "../../pkg/store/index.ts";

/** A control plane for tests. */
export interface LinkServer {
  store: Store;
  tokens: TokenStore;
  port: number;
  url: string;
  /** Bundles whose download answers these bytes instead. */
  tamper: Map<string, Uint8Array>;
  start(): void;
  stop(): void;
  close(): Promise<void>;
  /** Compiles `sotDir`, stores its site bundle and makes it the site's desired release. */
  prepare(sotDir: string, site: string): Promise<{ release: string; bundle: string }>;
  json<T>(key: string): Promise<T | undefined>;
}

/** Opens the store in `dir` and serves the link on `port` (0: any). */
export async function linkServer(dir: string, port = 0): Promise<LinkServer> {
  const store = await openEmbeddedStore({ path: join(dir, "server.db"), leaseCheckMs: false });
  const tokens = createTokenStore(store);
  const log = silentLogger();
  let link: Link = createLink({ store });
  let server: ReturnType<typeof Bun.serve> | undefined;
  const tamper = new Map<string, Uint8Array>();
  const s: LinkServer = {
    store,
    tokens,
    port,
    url: "",
    tamper,
    start() {
      link = createLink({ store });
      const app = createAgentLinkApp({ store, tokens, log, link });
      server = Bun.serve({
        hostname: "127.0.0.1",
        port: s.port,
        fetch: (req) => {
          const sha = /\/v1\/agent\/bundles\/([0-9a-f]{64})$/.exec(new URL(req.url).pathname)?.[1];
          const bad = sha ? tamper.get(sha) : undefined;
          return bad ? new Response(bad) : app.handle(req);
        },
      });
      s.port = server.port ?? 0;
      s.url = `http://127.0.0.1:${s.port}`;
    },
    stop() {
      link.close();
      server?.stop(true);
      server = undefined;
    },
    async close() {
      s.stop();
      await store.close();
    },
    async prepare(sotDir, site) {
      const src = await openSource(sotDir);
      try {
        const r = await compileTree(src.tree);
        const c = r.sites.get(site);
        if (!c || !r.release) throw new Error(`site ${site} did not compile`);
        await putBundle(store, new TextEncoder().encode(c.canonical));
        await store.put(
          LINK_KEYS.desired(site),
          encodeJson({ release: r.release.id, bundle: c.hash, staged_at: new Date().toISOString(), by: "test" }),
        );
        return { release: r.release.id, bundle: c.hash };
      } finally {
        await src.dispose();
      }
    },
    async json<T>(key: string) {
      const kv = await store.get(key);
      return kv ? decodeJson<T>(kv) : undefined;
    },
  };
  s.start();
  return s;
}
