/**
 * Which machine an HTTP request is from, and its one `http` event in that machine's boot trace.
 *
 * The client's address never comes from the request itself (no `X-Forwarded-For`): the HTTP server that
 * accepted the connection attaches it with {@link withClientIp} (in Bun, `server.requestIP(req)`), and the app
 * reads it back from a WeakMap keyed by the Request object, which Elysia hands to its handlers unchanged.
 * Routes that know their machine's MAC (`/boot.ipxe?mac=`, `/config/<mac>`) say so with {@link noteMachine};
 * for the others (`/assets/…`, `/ipxe/…`, first contact) the address is looked up with the agent's `macOf`.
 * Either way one event is recorded per request, after the response is built: path, status, bytes, range, ms.
 */
import type { Tracker } from "../state/index.ts";

const clientIps = new WeakMap<Request, string>();
const notes = new WeakMap<Request, { mac: string; detail: Record<string, unknown> }>();
const started = new WeakMap<Request, number>();

/** Attaches the address of the peer that sent `request` (IPv4-mapped IPv6 addresses are unmapped); returns it. */
export function withClientIp(request: Request, ip: string | undefined): Request {
  if (ip) clientIps.set(request, ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip);
  return request;
}

/** The address attached to `request` by {@link withClientIp}. */
export function clientIpOf(request: Request): string | undefined {
  return clientIps.get(request);
}

/** A route's own knowledge of the machine and what to add to its event. */
export function noteMachine(request: Request, mac: string, detail: Record<string, unknown>): void {
  notes.set(request, { mac, detail });
}

/** Marks when handling of `request` started. */
export function markStart(request: Request, now: number): void {
  started.set(request, now);
}

/** Routes whose requests concern one machine, and the event type each records. */
export const MACHINE_ROUTES: Readonly<Record<string, string>> = {
  "/boot.ipxe": "boot.ipxe",
  "/config/:mac": "config",
  "/assets/*": "asset",
  "/ipxe/*": "ipxe",
};

/** What {@link traceRequest} needs of the agent. */
export interface TraceContext {
  engine: Tracker | undefined;
  clientIp: (request: Request) => string | undefined;
  macOf: ((ip: string) => string | undefined) | undefined;
  now: () => number;
}

/** Records the one `http` event of a request to a machine route, when the machine is known. */
export function traceRequest(t: TraceContext, request: Request, route: string, status: number, headers: Headers | undefined): void {
  const type = MACHINE_ROUTES[route];
  if (!type || !t.engine) return;
  const note = notes.get(request);
  let mac = note?.mac;
  if (!mac) {
    const ip = t.clientIp(request);
    mac = ip && t.macOf ? t.macOf(ip) : undefined;
  }
  if (!mac) return;
  const detail: Record<string, unknown> = { path: pathOf(request.url), status, ...note?.detail };
  const bytes = bodyBytes(headers);
  if (bytes !== undefined) detail.bytes = bytes;
  const range = headers?.get("content-range");
  if (range) detail.range = range;
  const t0 = started.get(request);
  if (t0 !== undefined) detail.ms = Math.round((t.now() - t0) * 10) / 10;
  t.engine.record(mac, "http", type, detail);
}

/**
 * The path of a request URL. Bun hands over a relative URL (`/boot.ipxe`) when the Host header is not a valid
 * host, so this does not rely on `new URL`.
 */
function pathOf(url: string): string {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  const end = path.search(/[?#]/);
  return (end < 0 ? path : path.slice(0, end)).slice(0, 300);
}

/** The Content-Length of a response, when it says one. */
export function bodyBytes(headers: Headers | undefined): number | undefined {
  const v = headers?.get("content-length");
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}
