/**
 * Dependency rules as tests (HOUSE-STYLE 1): a package's only public face is its index.ts, imports only go down
 * the floors (cmd → pkg → internal), and neither packages nor files import each other in a cycle.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const SCANNED = ["cmd", "pkg", "internal", "test", "bench", "scripts"];

function listTs(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (n === "node_modules" || n === "fixtures" || n.startsWith(".")) continue;
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (/\.tsx?$/.test(n)) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/g;
/** Dynamic imports count too: `import("../x.ts")` is an edge like any other. */
const DYNAMIC_RE = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
/**
 * Test kits: code that exists for tests, kept beside what it fakes or drives (a fake BMC speaking the real
 * protocol, a DHCP packet kit, a TFTP test client). Tests and test helpers may import them directly.
 */
const TEST_KIT = /^pkg\/[a-z]+\/_(fakebmc|fakebmc_wire|testkit|testclient)\.ts$/;
const files = SCANNED.flatMap((d) => listTs(join(ROOT, d))).map((f) => relative(ROOT, f));
const edges = new Map<string, string[]>();
for (const f of files) {
  const text = readFileSync(join(ROOT, f), "utf8");
  const targets: string[] = [];
  for (const m of [...text.matchAll(IMPORT_RE), ...text.matchAll(DYNAMIC_RE)]) {
    const spec = m[1] ?? "";
    if (!spec.startsWith(".")) continue;
    targets.push(relative(ROOT, resolve(ROOT, dirname(f), spec)));
  }
  edges.set(f, targets);
}

/** `pkg/sot` for `pkg/sot/_load.ts`; `cmd/vaquero` for `cmd/vaquero/run.ts`; undefined for top-level dirs. */
const packageOf = (f: string): string | undefined => {
  const parts = f.split("/");
  return parts.length >= 3 && ["pkg", "internal", "cmd"].includes(parts[0] ?? "") ? `${parts[0]}/${parts[1]}` : undefined;
};
const FLOOR: Record<string, number> = { cmd: 3, pkg: 2, internal: 1 };

describe("architecture", () => {
  test("the scan sees the code", () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files).toContain("pkg/sot/index.ts");
  });

  test("outsiders import a package only through its index.ts", () => {
    const bad: string[] = [];
    for (const [from, targets] of edges) {
      for (const t of targets) {
        const pkg = packageOf(t);
        if (!pkg || pkg.startsWith("cmd/") || packageOf(from) === pkg) continue;
        if (from.startsWith("test/") && TEST_KIT.test(t)) continue;
        if (t !== `${pkg}/index.ts`) bad.push(`${from} → ${t}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("imports only go down the floors: cmd → pkg → internal", () => {
    const bad: string[] = [];
    for (const [from, targets] of edges) {
      const ff = FLOOR[from.split("/")[0] ?? ""];
      if (ff === undefined) continue;
      for (const t of targets) {
        const tf = FLOOR[t.split("/")[0] ?? ""];
        if (tf === undefined) {
          // Tests beside the code may use the shared test helpers; nothing else leaves the code floors.
          const testHelper = from.endsWith(".test.ts") && t.startsWith("test/_helpers/");
          if (!t.startsWith("package.json") && !testHelper) bad.push(`${from} → ${t} (outside the code floors)`);
        } else if (tf > ff) bad.push(`${from} → ${t}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("inside pkg/, imports go down: api → domain (state, boot, lifecycle, coord) → ground (sot, dhcp, tftp, ipmi, store)", () => {
    const level: Record<string, number> = {
      api: 3,
      state: 2,
      boot: 2,
      lifecycle: 2,
      coord: 2,
      control: 2,
      sot: 1,
      dhcp: 1,
      tftp: 1,
      ipmi: 1,
      store: 1,
    };
    const bad: string[] = [];
    for (const [from, targets] of edges) {
      const a = packageOf(from);
      if (!a?.startsWith("pkg/")) continue;
      for (const t of targets) {
        const b = packageOf(t);
        if (!b?.startsWith("pkg/") || a === b) continue;
        const la = level[a.slice(4)] ?? 0;
        const lb = level[b.slice(4)] ?? 0;
        if (lb >= la) bad.push(`${from} → ${t}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("no import cycles between packages", () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, targets] of edges) {
      const a = packageOf(from);
      if (!a) continue;
      for (const t of targets) {
        const b = packageOf(t);
        if (b && b !== a) {
          if (!graph.has(a)) graph.set(a, new Set());
          graph.get(a)?.add(b);
        }
      }
    }
    expect(findCycle(graph)).toBeUndefined();
  });

  test("no import cycles between files", () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, targets] of edges) graph.set(from, new Set(targets.filter((t) => edges.has(t))));
    expect(findCycle(graph)).toBeUndefined();
  });

  test("codecs and the state engine know no sockets or HTTP", () => {
    const bad: string[] = [];
    for (const f of files) {
      // The codecs and the pure policies; the servers beside them (_server.ts, _transfer.ts) own the sockets.
      if (!/^pkg\/(sot|boot|state)\/|^pkg\/(dhcp|tftp)\/_(codec|options|handler|pool|encapsulated|describe|bytes)/.test(f)) continue;
      const text = readFileSync(join(ROOT, f), "utf8");
      if (/from\s+["'](node:)?(dgram|net|http|https)["']|from\s+["']elysia["']/.test(text)) bad.push(f);
    }
    expect(bad).toEqual([]);
  });
});

function findCycle(graph: Map<string, Set<string>>): string | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m].join(" → ");
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of graph.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}
