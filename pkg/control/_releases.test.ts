import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVaqueroError } from "../../internal/errors/index.ts";
import { compileTree, type SourceTree } from "../sot/index.ts";
import { openEmbeddedStore, type Store } from "../store/index.ts";
import { CHUNK_BYTES, getBundle, putBundle } from "./_blobs.ts";
import { getDesired, prepareRelease } from "./_desired.ts";
import { fleetStatus } from "./_fleet.ts";
import { createPublisher, getRelease, latestOf, listReleases, releaseOfCommit } from "./_releases.ts";

const dir = mkdtempSync(join(tmpdir(), "vq-control-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open = (): Promise<Store> => openEmbeddedStore({ path: join(dir, `s${++n}.db`) });

const BASE: Record<string, string> = {
  "os/flatcar.yml":
    "id: flatcar\nfamily: flatcar\nversion: 1.0.0\nkernel: http://x/k\ninitrd: [http://x/i]\ncmdline: {ignition.config.url: '{{ boot.config_url }}'}\n",
  "boot/install.yml": "id: install\nos: flatcar\nunattended: {type: ignition, use: node.yml}\n",
  "boot/other.yml": "id: other\nos: flatcar\n",
  "assets/ignition/node.yml":
    "ignition:\n  version: 3.3.0\nstorage:\n  files:\n    - path: /etc/hostname\n      contents: {source: 'data:,{{ host.name }}'}\n",
  "workflows/node.yml": "id: node\nstages: [install]\n",
  "workflows/other.yml": "id: other\nstages: [other]\n",
  "sites/s1/env.yml":
    "id: s1\nagent: {url: 'http://10.0.0.2:8080', dhcp: server}\nsubnets:\n  - {id: prov, cidr: 10.0.0.0/24, gateway: 10.0.0.1}\n",
  "sites/s2/env.yml":
    "id: s2\nagent: {url: 'http://10.1.0.2:8080', dhcp: server}\nsubnets:\n  - {id: prov, cidr: 10.1.0.0/24, gateway: 10.1.0.1}\n",
};
const host = (name: string, i: number, net = "10.0.0", wf = "node") =>
  `  - name: ${name}\n    workflow: ${wf}\n    interfaces: [{mac: "52:54:00:00:${net === "10.0.0" ? "00" : "01"}:${String(i).padStart(2, "0")}", subnet: prov, ipv4: ${net}.${10 + i}}]\n`;
const S1 = `hosts:\n${host("a", 1)}${host("b", 2)}${host("c", 3, "10.0.0", "other")}`;
const S2 = `hosts:\n${host("x", 1, "10.1.0")}`;

function tree(files: Record<string, string>, commit: string): SourceTree {
  const enc = new TextEncoder();
  const list = Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, text]) => ({ path, size: text.length, data: enc.encode(text) }));
  return { kind: "git", location: "test", commit, ref: "main", files: list };
}

async function publish(store: Store, files: Record<string, string>, commit: string, at = 0) {
  const result = await compileTree(tree(files, commit), { parallel: false });
  return await createPublisher(store).publish({
    result,
    source: "test",
    ref: "main",
    commit,
    now: new Date(Date.UTC(2024, 0, 1, 0, 0, at)),
  });
}

const sha = (c: string): string => c.repeat(40);

describe("bundle blobs", () => {
  test("a bundle over several chunks reads back verified; a stored chunk is not written again", async () => {
    const store = await open();
    const bytes = new Uint8Array(CHUNK_BYTES * 2 + 17).map((_, i) => i % 251);
    const first = await putBundle(store, bytes);
    expect(first.manifest.chunks.length).toBe(3);
    expect(first.written).toBe(3);
    expect((await putBundle(store, bytes)).written).toBe(0);
    expect(await getBundle(store, first.manifest.sha256)).toEqual(bytes);
    expect(await getBundle(store, "0".repeat(64))).toBeUndefined();
    await store.put(`/vaquero/blobs/sha256/${first.manifest.chunks[1]}`, "broken");
    const err = await getBundle(store, first.manifest.sha256).catch((e: unknown) => e);
    expect(isVaqueroError(err, "BUNDLE_CORRUPT")).toBe(true);
    await store.close();
  });
});

describe("releases", () => {
  test("the first release changes every host; the next one exactly what changed, per site", async () => {
    const store = await open();
    const r1 = await publish(store, { ...BASE, "sites/s1/cluster-a.yml": S1, "sites/s2/cluster-a.yml": S2 }, sha("1"), 1);
    expect(r1.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(r1.status).toBe("valid");
    expect(r1.sites.s1?.hosts_changed).toEqual(["a", "b", "c"]);
    expect(r1.sites.s2?.hosts_changed).toEqual(["x"]);
    const bundle = await getBundle(store, r1.sites.s1?.bundle ?? "");
    expect(JSON.parse(new TextDecoder().decode(bundle)).site.id).toBe("s1");

    // One host's entry.
    const r2 = await publish(
      store,
      { ...BASE, "sites/s1/cluster-a.yml": S1.replace("10.0.0.12", "10.0.0.42"), "sites/s2/cluster-a.yml": S2 },
      sha("2"),
      2,
    );
    expect(r2.previous).toBe(r1.id);
    expect(r2.sites.s1?.hosts_changed).toEqual(["b"]);
    expect(r2.sites.s2?.hosts_changed).toEqual([]);
    expect(r2.sites.s2?.bundle).toBe(r1.sites.s2?.bundle ?? "");

    // The template of the hosts of workflow node: a and b, on both sites' node hosts; not c (workflow other).
    const tmpl = { ...BASE, "assets/ignition/node.yml": `${BASE["assets/ignition/node.yml"]}      mode: 420\n` };
    const r3 = await publish(
      store,
      { ...tmpl, "sites/s1/cluster-a.yml": S1.replace("10.0.0.12", "10.0.0.42"), "sites/s2/cluster-a.yml": S2 },
      sha("3"),
      3,
    );
    expect(r3.sites.s1?.hosts_changed).toEqual(["a", "b"]);
    expect(r3.sites.s2?.hosts_changed).toEqual(["x"]);

    // A host removed and one added; the site's subnets changing changes all of the site.
    const S1b = `hosts:\n${host("a", 1)}${host("d", 4)}${host("c", 3, "10.0.0", "other")}`;
    const r4 = await publish(store, { ...tmpl, "sites/s1/cluster-a.yml": S1b, "sites/s2/cluster-a.yml": S2 }, sha("4"), 4);
    expect(r4.sites.s1?.hosts_changed).toEqual(["d"]);
    expect(r4.sites.s1?.hosts_removed).toEqual(["b"]);
    const env2 = BASE["sites/s2/env.yml"]?.replace("gateway: 10.1.0.1", "gateway: 10.1.0.254") ?? "";
    const r5 = await publish(
      store,
      { ...tmpl, "sites/s1/cluster-a.yml": S1b, "sites/s2/cluster-a.yml": S2, "sites/s2/env.yml": env2 },
      sha("5"),
      5,
    );
    expect(r5.sites.s1?.hosts_changed).toEqual([]);
    expect(r5.sites.s2?.hosts_changed).toEqual(["x"]);

    expect(await latestOf(store, "main")).toBe(r5.id);
    expect(await releaseOfCommit(store, sha("3"))).toBe(r3.id);
    expect((await listReleases(store)).map((r) => r.id)).toEqual([r5.id, r4.id, r3.id, r2.id, r1.id]);
    await store.close();
  });

  test("a rejected release keeps its findings, stores no bundle, is never the diff base, and cannot be prepared", async () => {
    const store = await open();
    const r1 = await publish(store, { ...BASE, "sites/s1/cluster-a.yml": S1 }, sha("1"), 1);
    const bad = await publish(store, { ...BASE, "sites/s1/cluster-a.yml": S1.replace("workflow: other", "workflow: nope") }, sha("2"), 2);
    expect(bad.status).toBe("rejected");
    expect(bad.findings.length).toBeGreaterThan(0);
    expect(bad.sites).toEqual({});
    expect(await latestOf(store, "main")).toBe(r1.id);
    const err = await prepareRelease(store, { release: bad.id, by: "t", now: new Date() }).catch((e: unknown) => e);
    expect(isVaqueroError(err, "RELEASE_REJECTED")).toBe(true);
    const r3 = await publish(store, { ...BASE, "sites/s1/cluster-a.yml": S1.replace("10.0.0.11", "10.0.0.51") }, sha("3"), 3);
    expect(r3.previous).toBe(r1.id);
    expect(r3.sites.s1?.hosts_changed).toEqual(["a"]);
    await store.close();
  });

  test("prepare writes the desired release of the named sites, or of all; unknown release or site is refused", async () => {
    const store = await open();
    const r1 = await publish(store, { ...BASE, "sites/s1/cluster-a.yml": S1, "sites/s2/cluster-a.yml": S2 }, sha("1"), 1);
    const now = new Date(Date.UTC(2024, 1, 1));
    const one = await prepareRelease(store, { release: r1.id, sites: ["s2"], by: "ops", now });
    expect(Object.keys(one)).toEqual(["s2"]);
    expect(await getDesired(store, "s1")).toBeUndefined();
    expect(await getDesired(store, "s2")).toEqual({
      release: r1.id,
      bundle: r1.sites.s2?.bundle ?? "",
      staged_at: now.toISOString(),
      by: "ops",
    });
    await prepareRelease(store, { release: r1.id, by: "ops", now });
    expect((await getDesired(store, "s1"))?.release).toBe(r1.id);
    for (const [req, code] of [
      [{ release: sha("9") }, "RELEASE_UNKNOWN"],
      [{ release: "not an id" }, "RELEASE_UNKNOWN"],
      [{ release: r1.id, sites: ["s9"] }, "SITE_UNKNOWN"],
    ] as const) {
      const err = await prepareRelease(store, { ...req, by: "ops", now }).catch((e: unknown) => e);
      expect(isVaqueroError(err, code)).toBe(true);
    }
    expect(await getRelease(store, r1.id)).toBeDefined();
    // The fleet: both sites, desired, machines counted by state from what agents reported.
    await store.put(
      "/vaquero/sites/s1/machines/52:54:00:00:00:01",
      JSON.stringify({ mac: "52:54:00:00:00:01", host: "a", state: "provisioned" }),
    );
    await store.put("/vaquero/sites/s1/agents/dc1-a", JSON.stringify({ name: "dc1-a", version: "0.1.0", last_seen: now.toISOString() }));
    const fleet = await fleetStatus(store, "main");
    expect(fleet.map((s) => s.id)).toEqual(["s1", "s2"]);
    expect(fleet[0]?.desired?.release).toBe(r1.id);
    expect(fleet[0]?.machines).toEqual({ total: 1, by_state: { provisioned: 1 } });
    expect(fleet[0]?.agents.map((a) => a.name)).toEqual(["dc1-a"]);
    await store.close();
  });
});
