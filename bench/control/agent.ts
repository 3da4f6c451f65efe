/**
 * bench/control (agent link): in one process, on 127.0.0.1, the agent link app over an embedded store served by
 * Bun.serve, and link clients as agents. Measures (1) switch time: desired written → the waiting agent's long poll
 * answers → bundle downloaded and verified → ack stored; (2) event ingest at the server: 10 agents posting batches
 * of 1000 entries at once. Run: `npx bun bench/control/agent.ts [--rounds 20] [--events 50000]`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../internal/log/index.ts";
import { createAgentLinkApp, createTokenStore } from "../../pkg/api/index.ts";
import { createLink, createLinkClient, LINK_KEYS, type LinkEntry, putBundle } from "../../pkg/control/index.ts";
import { encodeJson, openEmbeddedStore } from "../../pkg/store/index.ts";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const rounds = arg("rounds", 20);
const perAgent = arg("events", 50_000);
const dir = mkdtempSync(join(tmpdir(), "vq-bench-link-"));
const store = await openEmbeddedStore({ path: join(dir, "server.db"), leaseCheckMs: false });
const tokens = createTokenStore(store);
const link = createLink({ store });
const app = createAgentLinkApp({ store, tokens, log: silentLogger(), link });
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (r) => app.handle(r) });
const url = `http://127.0.0.1:${server.port}`;

// (1) Switch time, one agent, bundles of ~1 MB (a few hundred hosts).
const token = (await tokens.issue({ name: "agent-lab", role: "agent", site: "lab" })).token;
const client = createLinkClient({ server: url, token, site: "lab", name: "a1", version: "bench" });
await client.register();
const times: number[] = [];
let staged: string | undefined;
for (let r = 0; r < rounds; r++) {
  const bytes = new TextEncoder().encode(JSON.stringify({ format: 1, site: { id: "lab" }, round: r, pad: "x".repeat(1_000_000) }));
  const { manifest } = await putBundle(store, bytes);
  const poll = client.poll(staged, 0, 30);
  await Bun.sleep(20); // the poll is waiting
  const t0 = performance.now();
  await store.put(LINK_KEYS.desired("lab"), encodeJson({ release: `r${r}`, bundle: manifest.sha256, staged_at: new Date().toISOString() }));
  const a = await poll;
  await client.bundle(a.bundle ?? "");
  await client.ack(a.release ?? "");
  times.push(performance.now() - t0);
  staged = a.bundle;
}
times.sort((a, b) => a - b);
const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]?.toFixed(1);
console.log(`switch (desired written → 1 MB bundle verified → ack stored): p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, n=${rounds}`);

// (2) Ingest: 10 agents at once, batches of 1000.
const agents = await Promise.all(
  Array.from({ length: 10 }, async (_, i) => {
    const t = (await tokens.issue({ name: `agent-${i}`, role: "agent", site: `site-${i}` })).token;
    return createLinkClient({ server: url, token: t, site: `site-${i}`, name: `a${i}`, version: "bench" });
  }),
);
const t1 = performance.now();
await Promise.all(
  agents.map(async (c) => {
    for (let seq = 1; seq <= perAgent; seq += 1000) {
      const batch: LinkEntry[] = Array.from({ length: Math.min(1000, perAgent - seq + 1) }, (_, k) => ({
        seq: seq + k,
        at: new Date().toISOString(),
        kind: "event",
        mac: `52:54:00:00:${String((k >> 8) % 100).padStart(2, "0")}:${String(k % 100).padStart(2, "0")}`,
        event: { at: new Date().toISOString(), source: "state", type: "log", detail: { n: seq + k } },
      }));
      const { acked } = await c.events(batch);
      if (acked !== seq + batch.length - 1) throw new Error(`acked ${acked}`);
    }
  }),
);
const secs = (performance.now() - t1) / 1000;
console.log(
  `ingest: 10 agents × ${perAgent} events in ${secs.toFixed(2)} s = ${Math.round((10 * perAgent) / secs)} events/s (embedded store)`,
);
link.close();
server.stop(true);
await store.close();
rmSync(dir, { recursive: true, force: true });
