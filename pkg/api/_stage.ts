/** A staged release of one site, ready to serve: its bundle, a renderer over it and the state engine. */
import type { Logger } from "../../internal/log/index.ts";
import { type Bundle, createRenderer, type Renderer } from "../sot/index.ts";
import {
  createEngine,
  DEFAULT_POLICY,
  type Engine,
  type EngineChange,
  type HostView,
  type PowerControl,
  type SiteView,
} from "../state/index.ts";
import type { Store } from "../store/index.ts";

/** A release staged on this agent's site. */
export interface StagedSite {
  bundle: Bundle;
  renderer: Renderer;
  engine: Engine;
  release: { id: string; staged_at: string };
}

/**
 * The engine's view of a bundle: each host once, tracked by its primary boot interface (the one marked
 * `primary`, else the first), reachable by any of its interfaces' MACs and by name; workflows' policies.
 */
export function siteViewOf(bundle: Bundle): SiteView {
  const byMac = new Map<string, HostView>();
  const byName = new Map<string, HostView>();
  for (const h of bundle.hosts) {
    const wf = bundle.workflows[h.workflow];
    const primary = h.interfaces.find((i) => i.primary) ?? h.interfaces[0];
    const macs = [...new Set([primary?.mac, ...h.interfaces.map((i) => i.mac)].filter((m): m is string => m !== undefined))];
    const view: HostView = {
      name: h.name,
      stages: wf?.stages ?? [],
      neverProvision: h.never_provision,
      workflow: h.workflow,
      macs,
      soft: h.bmc?.bmc.soft === true,
    };
    byName.set(h.name, view);
    for (const mac of macs) byMac.set(mac, view);
  }
  const tracked = [...byName.values()].map((h) => h.macs?.[0]).filter((m): m is string => m !== undefined);
  return {
    host: (mac) => byMac.get(mac),
    macs: () => [...tracked],
    byName: (name) => byName.get(name),
    policy: (workflow) => (bundle.workflows[workflow] ? { ...DEFAULT_POLICY, ...bundle.workflows[workflow].policy } : undefined),
  };
}

/** How a site's engine is built: its store, power control, clock; defaults keep everything in memory. */
export interface StageOptions {
  store?: Store;
  power?: (host: HostView) => PowerControl | undefined;
  /** Milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  log?: Logger;
  /** Engine tick in ms; `false` for tests that tick by hand (default 1000). */
  tickMs?: number | false;
  /** Told of every change the engine makes (the agent forwards them to the control plane). */
  observe?: (change: EngineChange) => void;
  /**
   * The engine of the release staged before: it serves the new one (`restage`), so machines, rollouts and power
   * sequences in flight carry on without a stop; the other engine options are then ignored, except `power`.
   */
  engine?: Engine;
}

/** Stages `bundle` as release `releaseId` at `now()`; call `engine.start()` before serving. */
export function stageSite(bundle: Bundle, releaseId: string, now: () => Date, o: StageOptions = {}): StagedSite {
  if (o.engine) {
    o.engine.restage(siteViewOf(bundle), releaseId, o.power);
    return { bundle, renderer: createRenderer(bundle), engine: o.engine, release: { id: releaseId, staged_at: now().toISOString() } };
  }
  return {
    bundle,
    renderer: createRenderer(bundle),
    engine: createEngine({
      site: siteViewOf(bundle),
      siteId: bundle.site.id,
      now: o.now ?? (() => now().getTime()),
      release: releaseId,
      tickMs: o.tickMs ?? false,
      ...(o.store ? { store: o.store } : {}),
      ...(o.power ? { power: o.power } : {}),
      ...(o.log ? { log: o.log } : {}),
      ...(o.observe ? { observe: o.observe } : {}),
    }),
    release: { id: releaseId, staged_at: now().toISOString() },
  };
}
