/**
 * The compiler: model → findings → one canonical bundle per site → a release. Every template is rendered for
 * every host that uses it, with the same renderer the agent serves from, so a valid release renders.
 */
import { type Bundle, buildBundle } from "./_bundle.ts";
import { canonicalJson, sha256Hex } from "./_canonical.ts";
import { type CheckResult, checkHosts, type RenderFault } from "./_check.ts";
import { type Finding, type FindingCode, finding, sortFindings, type Where } from "./_findings.ts";
import { fileStart, loadModel, type Model, whereAt } from "./_load.ts";
import { createRenderPool, PARALLEL_MIN_HOSTS, type RenderPool } from "./_pool.ts";
import type { RenderFailure, TemplateRef } from "./_render.ts";
import type { SourceTree } from "./_tree.ts";
import { validateCmdlines, validateModel } from "./_validate.ts";

/** A compiled site: its bundle, canonical bytes and SHA-256 name. */
export interface CompiledSite {
  bundle: Bundle;
  /** Canonical JSON (RFC 8785) of the bundle. */
  canonical: string;
  /** SHA-256 of `canonical`, lower-case hex. */
  hash: string;
  /** Set when the site is pinned with `release:`. */
  pinned?: { ref: string; commit: string };
}

/** The release summary stored and served by the server. */
export interface Release {
  /** Commit SHA; `<sha>+<12 hex>` with pins; `dir-<12 hex>` for a plain directory. */
  id: string;
  commit?: string;
  ref?: string;
  source: string;
  sites: Record<string, { bundle: string; hosts: number; pinned?: { ref: string; commit: string } }>;
}

/** What a compile produced. */
export interface CompileResult {
  /** Sorted findings, errors and warnings. */
  findings: Finding[];
  /** True when no finding is an error. */
  valid: boolean;
  /** Compiled sites (present for every site whose env loaded, even when the SoT has findings). */
  sites: Map<string, CompiledSite>;
  /** The release; undefined when the SoT is invalid. */
  release?: Release;
  /** Hosts checked by rendering. */
  hostsRendered: number;
  /** Milliseconds spent in each phase: parse and schema, cross-document rules, rendering, bundling and hashing. */
  timings: { load: number; validate: number; render: number; bundle: number };
}

/** Reads the whole tree at another ref, for sites pinned with `release:`. */
export type PinReader = (ref: string) => Promise<SourceTree>;

/** Options of {@link compileTree}. */
export interface CompileOptions {
  /** Reader for pinned sites; absent for plain directories. */
  readPin?: PinReader;
  /** Render large sites on a second thread too (default true; results are the same either way). */
  parallel?: boolean;
  /** Compile pinned sites from their pinned release (default true); false compiles every site as it is here. */
  followPins?: boolean;
}

const FAILURE_CODE: Record<RenderFailure, FindingCode> = {
  syntax: "TEMPLATE_SYNTAX",
  undefined: "TEMPLATE_UNDEFINED",
  render: "TEMPLATE_RENDER",
  "ignition-yaml": "IGNITION_YAML",
  ignition: "IGNITION_INVALID",
  "cmdline-too-long": "CMDLINE_TOO_LONG",
};

/** Validates and compiles a tree. Never throws on content; pinned trees that cannot be read become findings. */
export async function compileTree(tree: SourceTree, options: CompileOptions = {}): Promise<CompileResult> {
  const timings = { load: 0, validate: 0, render: 0, bundle: 0 };
  let t = performance.now();
  const lap = (phase: keyof typeof timings): void => {
    const now = performance.now();
    timings[phase] += now - t;
    t = now;
  };
  const { model, findings } = loadModel(tree);
  lap("load");
  findings.push(...validateModel(model), ...validateCmdlines(model));
  lap("validate");
  const sites = new Map<string, CompiledSite>();
  const pinCache = new Map<string, Promise<{ tree: SourceTree; result: CompileResult } | Error>>();
  let hostsRendered = 0;
  const hostsTotal = [...model.sites.values()].reduce((n, s) => n + s.hosts.length, 0);
  const pool =
    options.parallel !== false && hostsTotal >= PARALLEL_MIN_HOSTS && navigator.hardwareConcurrency > 1 ? createRenderPool() : undefined;
  try {
    for (const [id, site] of [...model.sites].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const env = site.env;
      if (!env) continue;
      const pin = env.value.release;
      if (pin !== undefined && options.followPins !== false) {
        const where = whereAt(env.file, env.doc, ["release"]);
        const pinned = await compilePinned(id, String(pin), where, tree, options, findings, pinCache);
        if (pinned) {
          sites.set(id, pinned);
          hostsRendered += pinned.bundle.hosts.length;
        }
        lap("bundle");
        continue;
      }
      const bundle = buildBundle(model, id);
      lap("bundle");
      hostsRendered += await renderAll(model, bundle, findings, pool);
      lap("render");
      const canonical = canonicalJson(bundle);
      sites.set(id, { bundle, canonical, hash: sha256Hex(canonical) });
      lap("bundle");
    }
  } finally {
    pool?.close();
  }
  const sorted = sortFindings(dedupe(findings));
  const valid = !sorted.some((f) => f.severity === "error");
  for (const k of Object.keys(timings) as (keyof typeof timings)[]) timings[k] = Math.round(timings[k]);
  return { findings: sorted, valid, sites, hostsRendered, timings, ...(valid ? { release: releaseOf(tree, sites) } : {}) };
}

/**
 * Compiles site `id` from the whole tree at `ref` (configuration and the site's folder as they were), once per
 * ref for all sites pinned to it. Pins inside the old tree are not followed again. Errors of the old tree are
 * reported when they concern the pinned site or the shared documents, not other sites' folders.
 */
async function compilePinned(
  id: string,
  ref: string,
  where: Where,
  tree: SourceTree,
  options: CompileOptions,
  findings: Finding[],
  cache: Map<string, Promise<{ tree: SourceTree; result: CompileResult } | Error>>,
): Promise<CompiledSite | undefined> {
  const readPin = options.readPin;
  if (tree.kind !== "git" || !readPin) {
    findings.push(finding("RELEASE_PIN_NOT_GIT", where, `site "${id}" is pinned to release "${ref}", but the SoT is not a git repository`));
    return undefined;
  }
  let pending = cache.get(ref);
  if (!pending) {
    pending = readPin(ref).then(
      async (old) => ({
        tree: old,
        result: await compileTree(old, { followPins: false, ...(options.parallel === false ? { parallel: false } : {}) }),
      }),
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    cache.set(ref, pending);
  }
  const outcome = await pending;
  if (outcome instanceof Error) {
    findings.push(
      finding("RELEASE_PIN_UNKNOWN", where, `site "${id}" is pinned to release "${ref}", which cannot be read: ${outcome.message}`),
    );
    return undefined;
  }
  const { tree: old, result } = outcome;
  const at = `at release ${ref} (${old.commit?.slice(0, 12)})`;
  for (const f of result.findings) {
    const concerns = !f.file.startsWith("sites/") || f.file.startsWith(`sites/${id}/`);
    if (f.severity === "error" && concerns) findings.push({ ...f, message: `${at}: ${f.message}` });
  }
  const site = result.sites.get(id);
  if (!site) {
    findings.push(finding("RELEASE_PIN_UNKNOWN", where, `site "${id}" is pinned to release "${ref}", which has no site "${id}"`));
    return undefined;
  }
  return { ...site, pinned: { ref, commit: old.commit ?? "" } };
}

async function renderAll(model: Model, bundle: Bundle, findings: Finding[], pool: RenderPool | undefined): Promise<number> {
  const n = bundle.hosts.length;
  const parts: CheckResult[] = [];
  if (pool && n >= PARALLEL_MIN_HOSTS) {
    const mid = Math.floor(n / 2);
    const remote = pool.run(bundle, mid, n);
    parts.push(checkHosts(bundle, 0, mid));
    parts.push(await remote.catch(() => checkHosts(bundle, mid, n)));
  } else parts.push(checkHosts(bundle, 0, n));
  const groups = new Map<string, { err: RenderFault; hosts: string[] }>();
  let rendered = 0;
  for (const part of parts) {
    rendered += part.rendered;
    for (const err of part.faults) {
      const key = `${err.failure}|${err.template.kind}|${err.template.id}|${err.template.field}|${err.line}|${err.message.replaceAll(`"${err.host}"`, "")}`;
      const g = groups.get(key);
      if (g) g.hosts.push(err.host);
      else groups.set(key, { err, hosts: [err.host] });
    }
  }
  for (const { err, hosts } of groups.values()) {
    // An include of a missing snippet in an asset is REF_UNKNOWN_SNIPPET already (os and boot fields have no snippets).
    const inAsset = err.template.kind === "template" || err.template.kind === "snippet";
    if (inAsset && err.failure === "render" && /Failed to lookup|snippet ".*" not found/.test(err.message)) continue;
    const where = templateWhere(model, err.template, err.line, err.column);
    const shown = hosts
      .slice(0, 5)
      .map((h) => `"${h}"`)
      .join(", ");
    const more = hosts.length > 5 ? ` and ${hosts.length - 5} more` : "";
    const what = inAsset ? where.file : `${err.template.kind} "${err.template.id}"${err.template.field ? ` ${err.template.field}` : ""}`;
    // Ignition messages name their asset already.
    const prefix = err.message.includes(err.template.id) ? "" : `${what}: `;
    findings.push(
      finding(FAILURE_CODE[err.failure], where, `${prefix}${err.message}; hosts affected: ${shown}${more} (site "${bundle.site.id}")`),
    );
  }
  return rendered;
}

/** Maps a template reference and a line inside it to the SoT file and line. */
function templateWhere(model: Model, ref: TemplateRef, line: number, column: number): Where {
  if (ref.kind === "template" || ref.kind === "snippet") {
    const a = (ref.kind === "template" ? model.assets : model.snippets).get(ref.id);
    return a ? { file: a.file, line, column } : fileStart(`assets/${ref.id}`);
  }
  const located = ref.kind === "os" ? model.os.get(ref.id) : model.boots.get(ref.id);
  if (!located) return fileStart(ref.kind);
  const field = ref.field ?? "";
  let path: (string | number)[] = [field];
  let key = false;
  if (field.startsWith("initrd.")) path = ["initrd", Number(field.slice(7))];
  else if (field === "cmdline") {
    path = ["cmdline"];
    key = true;
  } else if (field.startsWith("cmdline.")) {
    const name = field.slice(8);
    const cmd = (located.value as { cmdline?: unknown }).cmdline;
    if (Array.isArray(cmd)) {
      const i = cmd.findIndex((m) => typeof m === "object" && m !== null && name in m);
      path = ["cmdline", Math.max(i, 0), name];
    } else path = ["cmdline", name];
  }
  const w = whereAt(located.file, located.doc, path, key);
  return key ? w : { file: w.file, line: w.line + line - 1, column: line === 1 ? w.column + column - 1 : column };
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.code}|${f.file}|${f.line}|${f.column}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function releaseOf(tree: SourceTree, sites: Map<string, CompiledSite>): Release {
  const summary: Release["sites"] = {};
  const pins: Record<string, string> = {};
  for (const [id, s] of sites) {
    summary[id] = { bundle: s.hash, hosts: s.bundle.hosts.length, ...(s.pinned ? { pinned: s.pinned } : {}) };
    if (s.pinned) pins[id] = s.pinned.commit;
  }
  let id: string;
  if (tree.commit) id = Object.keys(pins).length ? `${tree.commit}+${sha256Hex(canonicalJson(pins)).slice(0, 12)}` : tree.commit;
  else id = `dir-${sha256Hex(canonicalJson(summary)).slice(0, 12)}`;
  return {
    id,
    source: tree.location,
    sites: summary,
    ...(tree.commit ? { commit: tree.commit } : {}),
    ...(tree.ref ? { ref: tree.ref } : {}),
  };
}
