/**
 * `/metrics`: counters the agent keeps, in the Prometheus text exposition format (version 0.0.4). In memory,
 * bounded: label values are route patterns and status codes, never request paths.
 */
import type { StagedSite } from "./_stage.ts";
import type { UpstreamCache } from "./_upstream.ts";

/** Content type of the exposition. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Counters of the HTTP edge. */
export interface HttpCounters {
  /** Counts one answered request: its route pattern (`other` for none), status and body bytes (when known). */
  count(route: string, status: number, bytes: number | undefined): void;
  /** Requests by `route status`. */
  readonly requests: ReadonlyMap<string, number>;
  /** Body bytes by route. */
  readonly bytes: ReadonlyMap<string, number>;
}

/** Most distinct (route, status) pairs kept; the API has a fixed set of routes, so this is never reached. */
const MAX_SERIES = 1000;

/** Creates empty HTTP counters. */
export function createHttpCounters(): HttpCounters {
  const requests = new Map<string, number>();
  const bytes = new Map<string, number>();
  return {
    requests,
    bytes,
    count(route, status, n) {
      const key = `${route} ${status}`;
      if (requests.has(key) || requests.size < MAX_SERIES) requests.set(key, (requests.get(key) ?? 0) + 1);
      if (n !== undefined && n > 0 && (bytes.has(route) || bytes.size < MAX_SERIES)) bytes.set(route, (bytes.get(route) ?? 0) + n);
    },
  };
}

/** One metric family: name, type, help and its samples (labels, value). */
export interface MetricFamily {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

/** Renders families as Prometheus text: `# HELP`, `# TYPE`, then one line per sample. */
export function exposition(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const text = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
      lines.push(`${f.name}${text} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The HTTP counters as metric families. */
export function httpFamilies(c: HttpCounters): MetricFamily[] {
  return [
    {
      name: "vaquero_http_requests_total",
      type: "counter",
      help: "HTTP requests answered by the agent API, by route pattern and status.",
      samples: [...c.requests].map(([key, value]) => {
        const i = key.lastIndexOf(" ");
        return { labels: { route: key.slice(0, i), status: key.slice(i + 1) }, value };
      }),
    },
    {
      name: "vaquero_http_response_bytes_total",
      type: "counter",
      help: "Bytes of response bodies (by Content-Length) sent by the agent API, by route pattern.",
      samples: [...c.bytes].map(([route, value]) => ({ labels: { route }, value })),
    },
  ];
}

/** Machine states in the order `/metrics` lists them. */
const STATES = ["unknown", "pending", "powering", "booting", "installing", "provisioned", "failed", "skipped"] as const;

/** The staged site as metric families: machines by state and the release as an info gauge. */
export function siteFamilies(s: StagedSite | undefined): MetricFamily[] {
  const machines = s?.engine.machines() ?? [];
  return [
    {
      name: "vaquero_machines",
      type: "gauge",
      help: "Machines of the staged site by state.",
      samples: STATES.map((state) => ({ labels: { state }, value: machines.filter((m) => m.state === state).length })),
    },
    {
      name: "vaquero_release_info",
      type: "gauge",
      help: "The release staged on this agent (1; absent before the first release).",
      samples: s ? [{ labels: { site: s.bundle.site.id, release: s.release.id, staged_at: s.release.staged_at }, value: 1 }] : [],
    },
  ];
}

/** The upstream cache's counters as metric families (none without an upstream). */
export function upstreamFamilies(u: UpstreamCache | undefined): MetricFamily[] {
  if (!u) return [];
  const s = u.stats();
  return [
    {
      name: "vaquero_assets_upstream_requests_total",
      type: "counter",
      help: "Asset requests that reached the upstream cache: hit (cached), miss (started a download), shared (waited for one).",
      samples: [
        { labels: { result: "hit" }, value: s.hits },
        { labels: { result: "miss" }, value: s.misses },
        { labels: { result: "shared" }, value: s.shared },
      ],
    },
    {
      name: "vaquero_assets_upstream_errors_total",
      type: "counter",
      help: "Upstream downloads that failed.",
      samples: [{ value: s.errors }],
    },
    {
      name: "vaquero_assets_upstream_bytes_total",
      type: "counter",
      help: "Bytes downloaded from the upstream into the cache.",
      samples: [{ value: s.bytes }],
    },
  ];
}
