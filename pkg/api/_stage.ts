/** A staged release of one site, ready to serve: its bundle, a renderer over it and the machine tracker. */
import { type Bundle, createRenderer, type Renderer } from "../sot/index.ts";
import { createTracker, type SiteView, type Tracker } from "../state/index.ts";

/** A release staged on this agent's site. */
export interface StagedSite {
  bundle: Bundle;
  renderer: Renderer;
  tracker: Tracker;
  release: { id: string; staged_at: string };
}

/** The tracker's view of a bundle: hosts by boot-interface MAC with their workflow's stages. */
export function siteViewOf(bundle: Bundle): SiteView {
  const byMac = new Map<string, { name: string; stages: string[]; neverProvision: boolean }>();
  for (const h of bundle.hosts) {
    const entry = { name: h.name, stages: bundle.workflows[h.workflow]?.stages ?? [], neverProvision: h.never_provision };
    for (const i of h.interfaces) byMac.set(i.mac, entry);
  }
  return { host: (mac) => byMac.get(mac), macs: () => [...byMac.keys()] };
}

/** Stages `bundle` as release `releaseId` at `now()`. */
export function stageSite(bundle: Bundle, releaseId: string, now: () => Date): StagedSite {
  return {
    bundle,
    renderer: createRenderer(bundle),
    tracker: createTracker({ site: siteViewOf(bundle), now }),
    release: { id: releaseId, staged_at: now().toISOString() },
  };
}
