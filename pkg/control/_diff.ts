/**
 * Which hosts a release changes (API.md `hosts_changed`). A host changes when anything that determines what it
 * is served changes: its own entry, its workflow, the boots, operating systems, templates and snippets its stages
 * use, or the site's agent, subnets and metadata. Each host gets a fingerprint, the SHA-256 of those parts'
 * canonical JSON; two bundles are compared fingerprint by fingerprint. Parts shared by many hosts (a workflow and
 * everything under it, the site) are hashed once per bundle, so 10,000 hosts cost 10,000 small hashes.
 */
import { type Bundle, canonicalJson, sha256Hex } from "../sot/index.ts";

/** Host name → fingerprint (lower-case hex). */
export type Fingerprints = Map<string, string>;

/** Hosts that changed between two bundles of one site. */
export interface HostsDiff {
  /** Hosts whose fingerprint differs, and new hosts; sorted. */
  changed: string[];
  /** Hosts of the previous bundle that are gone; sorted. */
  removed: string[];
}

/** Includes in templates and snippets (`{% include "name" %}`, `{% render "name" %}`), as the compiler reads them. */
const INCLUDE_RE = /\{%-?\s*(?:include|render)\s+["']([^"']+)["']/g;
/** Most include hops followed from one template (snippets may include snippets). */
const MAX_INCLUDE_DEPTH = 32;

/** Snippet keys `text` (of template type `type`) includes, followed through the bundle's snippets. */
function snippetsOf(type: string, text: string, b: Bundle, out: Set<string>, depth = 0): void {
  if (depth > MAX_INCLUDE_DEPTH) return;
  for (const m of text.matchAll(INCLUDE_RE)) {
    const want = `${type}/${m[1] ?? ""}`;
    // Exactly, or by dropping the extension (resolveName's rule).
    const keys = Object.keys(b.snippets).filter((k) => k === want || k.replace(/\.[^./]+$/, "") === want);
    for (const k of keys) {
      if (out.has(k)) continue;
      out.add(k);
      snippetsOf(type, b.snippets[k] ?? "", b, out, depth + 1);
    }
  }
}

/** Fingerprint of a workflow and everything its stages use (boots, os, templates, snippets). */
function workflowPart(id: string, b: Bundle): string {
  const wf = b.workflows[id];
  const boots: Record<string, unknown> = {};
  const os: Record<string, unknown> = {};
  const templates: Record<string, string> = {};
  const snippets = new Set<string>();
  for (const stage of wf?.stages ?? []) {
    const boot = b.boots[stage];
    boots[stage] = boot ?? null;
    if (!boot) continue;
    os[boot.os] = b.os[boot.os] ?? null;
    const key = boot.unattended?.template;
    if (key !== undefined) {
      templates[key] = b.templates[key] ?? "";
      snippetsOf(boot.unattended?.type ?? "", templates[key], b, snippets);
    }
  }
  const snippetText = Object.fromEntries([...snippets].sort().map((k) => [k, b.snippets[k] ?? ""]));
  return sha256Hex(canonicalJson({ workflow: wf ?? null, boots, os, templates, snippets: snippetText }));
}

/** Every host's fingerprint in a bundle. */
export function hostFingerprints(b: Bundle): Fingerprints {
  const site = sha256Hex(canonicalJson(b.site));
  const workflows = new Map<string, string>();
  const out: Fingerprints = new Map();
  for (const h of b.hosts) {
    let wf = workflows.get(h.workflow);
    if (wf === undefined) {
      wf = workflowPart(h.workflow, b);
      workflows.set(h.workflow, wf);
    }
    out.set(h.name, sha256Hex(`${site}\n${wf}\n${canonicalJson(h)}`));
  }
  return out;
}

/** Compares two sets of fingerprints; with no previous set, every host is changed. */
export function diffHosts(previous: Fingerprints | undefined, next: Fingerprints): HostsDiff {
  const changed: string[] = [];
  for (const [name, fp] of next) if (previous?.get(name) !== fp) changed.push(name);
  const removed = previous ? [...previous.keys()].filter((n) => !next.has(n)) : [];
  return { changed: changed.sort(), removed: removed.sort() };
}
