/**
 * The base URL (`scheme://host[:port]`) handed to a booting machine: the address its request came in on, read
 * from the `Host` header when that is a plain IP address or host name with an optional port, else the site's
 * `agent.url`. What is served for a (machine, boot) is rendered once per staged site and base, with a bounded
 * number of bases kept.
 */
import { isIPv4, isIPv6 } from "node:net";
import { bootFor } from "../boot/index.ts";
import { type Bundle, createRenderer, type Renderer } from "../sot/index.ts";
import type { StagedSite } from "./_stage.ts";

/** Bases kept per staged site; the least recently used goes when another arrives. */
export const MAX_BASES = 8;
/** Longest `Host` value considered (a DNS name is at most 253 characters, plus `:65535`). */
const MAX_HOST = 260;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * `host[:port]` when `value` is exactly a host name, an IPv4 address or a bracketed IPv6 address with an
 * optional port (1–65535), lower-cased; undefined for anything else (spaces, control characters, paths, user
 * info, `#`, over-long values). What this returns is written into iPXE scripts and configs verbatim.
 */
export function plainHost(value: string | null | undefined): string | undefined {
  if (!value || value.length > MAX_HOST) return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m) return undefined;
  const host = (m[1] as string).toLowerCase();
  const port = m[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535 || port.startsWith("0"))) return undefined;
  if (host.startsWith("[")) {
    if (!isIPv6(host.slice(1, -1))) return undefined;
  } else if (/^[\d.]+$/.test(host)) {
    if (!isIPv4(host)) return undefined;
  } else if (!HOSTNAME.test(host)) return undefined;
  return port === undefined ? host : `${host}:${port}`;
}

/**
 * The base URL for `request`: its scheme (http or https) with the host it asked for (the `Host` header, else
 * the request URL's host), when {@link plainHost} accepts it; else `fallback` (the site's `agent.url`). An
 * `agent.url` with a path (a reverse proxy in front of the agent) is always used as it is: the agent cannot
 * know the proxy's layout.
 */
export function requestBase(request: Request, fallback: string | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return fallback;
  }
  if (fallback !== undefined && hasPath(fallback)) return fallback;
  const scheme = url.protocol === "https:" ? "https" : url.protocol === "http:" ? "http" : undefined;
  const host = plainHost(request.headers.get("host") ?? url.host);
  return scheme && host ? `${scheme}://${host}` : fallback;
}

function hasPath(base: string): boolean {
  try {
    return new URL(base).pathname.replace(/\/+$/, "") !== "";
  } catch {
    return true;
  }
}

type Served = ReturnType<typeof bootFor>;
interface PerBase {
  bundle: Bundle;
  renderer: Renderer;
  served: Map<string, Served>;
}

/** Per staged site: bases in least-recently-used order (a Map keeps insertion order). */
const cache = new WeakMap<StagedSite, Map<string, PerBase>>();

/**
 * What a machine is served for a boot with URLs on `base`, rendered once per (staged site, base): scripts and
 * configs are pure functions of (bundle, host, boot), so they are kept until the next release replaces the
 * staged site. The site's own `agent.url` uses the staged renderer; another base renders from a copy of the
 * bundle whose `agent.url` is that base, so `env.agent.url`, `boot.config_url` and asset URLs all follow it.
 */
export function servedFor(s: StagedSite, base: string, mac: string, boot: string): Served {
  let bases = cache.get(s);
  if (!bases) {
    bases = new Map();
    cache.set(s, bases);
  }
  let entry = bases.get(base);
  if (entry) bases.delete(base);
  else {
    if (base === s.bundle.site.agent.url) entry = { bundle: s.bundle, renderer: s.renderer, served: new Map() };
    else {
      const bundle: Bundle = { ...s.bundle, site: { ...s.bundle.site, agent: { ...s.bundle.site.agent, url: base } } };
      entry = { bundle, renderer: createRenderer(bundle), served: new Map() };
    }
    if (bases.size >= MAX_BASES) {
      const oldest = bases.keys().next().value;
      if (oldest !== undefined) bases.delete(oldest);
    }
  }
  bases.set(base, entry);
  const key = `${mac} ${boot}`;
  let hit = entry.served.get(key);
  if (!hit) {
    hit = bootFor(entry.bundle, entry.renderer, mac, boot);
    entry.served.set(key, hit);
  }
  return hit;
}

/** Bases currently kept for a staged site (for tests and metrics). */
export function basesKept(s: StagedSite): number {
  return cache.get(s)?.size ?? 0;
}
