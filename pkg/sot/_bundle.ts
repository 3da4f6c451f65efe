/**
 * The site bundle: everything an agent needs to serve one site, compiled from a model. A bundle holds only
 * what the site's hosts use (their workflows, boots, os, templates), so a change elsewhere leaves its bytes
 * and its SHA-256 name unchanged.
 */
import { normalizeMac } from "../../internal/net/index.ts";
import type { Model } from "./_load.ts";
import type { BmcDoc, NicDoc, SubnetDoc } from "./_schema.ts";
import { INCLUDE_RE, resolveName } from "./_validate.ts";

/** Format version of bundles this code writes and reads. */
export const BUNDLE_FORMAT = 1;

/** One kernel command-line entry: `[key, value]`, value `null` for a bare key. */
export type CmdEntry = [string, string | null];

/** A host as an agent sees it. MACs are lower-case with colons. */
export interface BundleHost {
  name: string;
  workflow: string;
  interfaces: NicDoc[];
  bmc?: BmcDoc;
  metadata: Record<string, unknown>;
  never_provision: boolean;
  selectors?: { uuid?: string; serial?: string };
}

/** Workflow with its policy defaults filled in. */
export interface BundleWorkflow {
  stages: string[];
  policy: {
    max_concurrent: number;
    max_fail: number;
    after: string[];
    /** `null`: all of its hosts in the rollout. */
    min_standing: number | null;
    /** Seconds. */
    stage_timeout: number;
  };
}

/** A boot: os reference, unattended template key (`<type>/<name>`), metadata and extra cmdline. */
export interface BundleBoot {
  name?: string;
  os: string;
  unattended?: { type: string; template: string };
  metadata: Record<string, unknown>;
  cmdline: CmdEntry[];
}

/** An operating system: kernel, initrds and cmdline, all still templates. */
export interface BundleOs {
  name?: string;
  family: string;
  version: string;
  release?: string;
  kernel: string;
  initrd: string[];
  cmdline: CmdEntry[];
  arch: "x86_64" | "arm64";
}

/** The compiled form of one site. */
export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  site: {
    id: string;
    name?: string;
    metadata: Record<string, unknown>;
    agent: {
      url: string;
      dhcp: "server" | "proxy" | "off";
      interfaces: string[];
      assets: { dir?: string; upstream?: string };
    };
    subnets: SubnetDoc[];
  };
  hosts: BundleHost[];
  workflows: Record<string, BundleWorkflow>;
  boots: Record<string, BundleBoot>;
  os: Record<string, BundleOs>;
  /** Unattended templates by `<type>/<name>`. */
  templates: Record<string, string>;
  /** Snippets by `<type>/<name>`. */
  snippets: Record<string, string>;
}

/** Seconds of a duration like `1h30m`. */
export function durationSeconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m) return Number.NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** Cmdline as written (map or list of maps) to entries; nested maps are skipped (reported by the validator). */
export function cmdEntries(cmdline: unknown): CmdEntry[] {
  const out: CmdEntry[] = [];
  const maps = Array.isArray(cmdline) ? cmdline : cmdline ? [cmdline] : [];
  for (const m of maps) {
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      const vals = Array.isArray(v) ? v : [v];
      for (const x of vals) {
        if (x === "" || x === null) out.push([k, null]);
        else if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out.push([k, String(x)]);
      }
    }
  }
  return out;
}

/** Builds the bundle of one site from a model whose findings had no errors for that site. */
export function buildBundle(model: Model, siteId: string): Bundle {
  const site = model.sites.get(siteId);
  const env = site?.env?.value;
  if (!site || !env) throw new Error(`bundle: site "${siteId}" has no env document`);
  const hosts: BundleHost[] = [];
  const workflows: Record<string, BundleWorkflow> = {};
  const boots: Record<string, BundleBoot> = {};
  const os: Record<string, BundleOs> = {};
  const templates: Record<string, string> = {};
  const snippets: Record<string, string> = {};

  const addWorkflow = (id: string): void => {
    const w = model.workflows.get(id)?.value;
    if (!w || workflows[id]) return;
    const p = w.policy ?? {};
    workflows[id] = {
      stages: [...w.stages],
      policy: {
        max_concurrent: p.max_concurrent ?? 0,
        max_fail: p.max_fail ?? 0,
        after: [...(p.after ?? [])],
        min_standing: p.min_standing ?? null,
        stage_timeout: durationSeconds(p.stage_timeout ?? "30m"),
      },
    };
    for (const a of p.after ?? []) addWorkflow(a);
    for (const s of w.stages) addBoot(s);
  };
  const addBoot = (id: string): void => {
    const b = model.boots.get(id)?.value;
    if (!b || boots[id]) return;
    let unattended: BundleBoot["unattended"];
    if (b.unattended) {
      const { type, use } = b.unattended;
      const names = [...model.assets.values()].filter((a) => a.type === type).map((a) => a.name);
      const name = resolveName(use, names);
      if (name !== undefined) {
        const key = `${type}/${name}`;
        unattended = { type, template: key };
        addTemplate(key, model.assets.get(key)?.text ?? "");
      }
    }
    boots[id] = {
      os: b.os,
      metadata: b.metadata ?? {},
      cmdline: cmdEntries(b.cmdline),
      ...(b.name ? { name: b.name } : {}),
      ...(unattended ? { unattended } : {}),
    };
    const o = model.os.get(b.os)?.value;
    if (o && !os[b.os]) {
      os[b.os] = {
        family: o.family,
        version: String(o.version),
        kernel: o.kernel,
        initrd: [...o.initrd],
        cmdline: cmdEntries(o.cmdline),
        arch: o.arch ?? "x86_64",
        ...(o.name ? { name: o.name } : {}),
        ...(o.release !== undefined ? { release: String(o.release) } : {}),
      };
    }
  };
  const addTemplate = (key: string, text: string): void => {
    if (templates[key] !== undefined) return;
    templates[key] = text;
    addIncludes(key, text);
  };
  const addIncludes = (key: string, text: string): void => {
    const type = key.slice(0, key.indexOf("/"));
    const names = [...model.snippets.values()].filter((s) => s.type === type).map((s) => s.name);
    for (const m of text.matchAll(INCLUDE_RE)) {
      const name = resolveName(m[1] ?? "", names);
      const skey = `${type}/${name}`;
      if (name === undefined || snippets[skey] !== undefined) continue;
      snippets[skey] = model.snippets.get(skey)?.text ?? "";
      addIncludes(skey, snippets[skey]);
    }
  };

  for (const { value: h } of site.hosts) {
    const nics: NicDoc[] = [];
    let bmc: BmcDoc | undefined;
    for (const i of h.interfaces) {
      if ("type" in i) bmc ??= { ...i, ...(i.mac ? { mac: normalizeMac(i.mac) ?? i.mac } : {}) };
      else nics.push({ ...i, mac: normalizeMac(i.mac) ?? i.mac });
    }
    hosts.push({
      name: h.name,
      workflow: h.workflow,
      interfaces: nics,
      metadata: h.metadata ?? {},
      never_provision: h.never_provision ?? false,
      ...(bmc ? { bmc } : {}),
      ...(h.selectors ? { selectors: h.selectors } : {}),
    });
    addWorkflow(h.workflow);
  }
  hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    format: BUNDLE_FORMAT,
    site: {
      id: env.id,
      ...(env.name ? { name: env.name } : {}),
      metadata: env.metadata ?? {},
      agent: {
        url: env.agent.url.replace(/\/+$/, ""),
        dhcp: env.agent.dhcp ?? "server",
        interfaces: env.agent.interfaces ?? [],
        assets: env.agent.assets ?? {},
      },
      subnets: env.subnets.map((s) => ({ ...s, dns: s.dns ?? [], ntp: s.ntp ?? [] })),
    },
    hosts,
    workflows,
    boots,
    os,
    templates,
    snippets,
  };
}
