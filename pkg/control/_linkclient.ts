/**
 * The agent's HTTP client of the agent link (API.md "Agent link"): register, the desired/commands long poll,
 * bundle download (verified against its SHA-256 name before anyone sees it), ack and event batches. Every request
 * carries the agent's bearer token and its name (`vaquero-agent` header) and has a deadline. Failures are typed:
 * `LINK_UNREACHABLE` (no answer: retry later), `LINK_REFUSED` (4xx: the server says no; retrying the same will not
 * help), `LINK_SERVER` (5xx), `BUNDLE_MISMATCH` (the bytes do not hash to the name asked for). Over https the
 * client trusts `tls.ca` besides the system's store and shows `tls.cert` to a server with mutual TLS; a handshake
 * that fails is `LINK_TLS` with a message saying which side refused (retried like an unreachable server).
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import type { SiteCommand } from "./_commands.ts";
import type { LinkDesired, LinkEntry, PollAnswer } from "./_link.ts";

/** Options of {@link createLinkClient}. */
export interface LinkClientOptions {
  /** The server's base URL, e.g. `https://vaquero.example:8443`. */
  server: string;
  token: string;
  site: string;
  name: string;
  version: string;
  /** Deadline of a request other than the long poll, in ms (default 30 000). */
  timeoutMs?: number;
  /** Aborts every request in flight (the agent stopping). */
  signal?: AbortSignal;
  /** The fetch to use (tests). */
  fetch?: typeof fetch;
  /** TLS of every request (https only): a CA to trust, a client certificate for mutual TLS. */
  tls?: LinkTls;
}

/** The agent's TLS material, PEM (read and checked by the caller). */
export interface LinkTls {
  /** Trusted for the server's certificate besides the system's store. */
  ca?: string;
  /** The client certificate (chain) shown to a server with mutual TLS, and its key. */
  cert?: string;
  key?: string;
}

/** The agent's side of the link. */
export interface LinkClient {
  register(): Promise<{ site: string; desired?: LinkDesired }>;
  /** Long poll: `after` is the bundle staged here, `commandsAfter` the last command applied. */
  poll(after: string | undefined, commandsAfter: number, waitSeconds: number): Promise<PollAnswer & { commands: SiteCommand[] }>;
  /** The bundle's canonical bytes, verified. */
  bundle(sha: string): Promise<Uint8Array>;
  ack(release: string, active?: string): Promise<void>;
  events(entries: LinkEntry[]): Promise<{ acked: number }>;
}

/** Most bytes of a bundle accepted (a bundle is a few MB; this bounds a broken server). */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/** Creates a link client. */
export function createLinkClient(o: LinkClientOptions): LinkClient {
  const base = o.server.replace(/\/+$/, "");
  const doFetch = o.fetch ?? fetch;
  const timeout = o.timeoutMs ?? 30_000;
  // Until the server has answered once, a connection closed at the first request is read as a refused handshake.
  let answered = false;
  const request = async (path: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Response> => {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${o.token}`,
          "vaquero-agent": o.name,
          ...(init.body ? { "content-type": "application/json" } : {}),
        },
        signal: o.signal
          ? AbortSignal.any([o.signal, AbortSignal.timeout(init.timeoutMs ?? timeout)])
          : AbortSignal.timeout(init.timeoutMs ?? timeout),
        ...(o.tls ? { tls: o.tls } : {}),
      });
    } catch (e) {
      const where = `agent link: ${base}${path.split("?")[0]}`;
      const why = base.startsWith("https://") ? tlsFailure(e, answered, o.tls?.cert !== undefined) : undefined;
      if (why) throw new VaqueroError("LINK_TLS", `${where}: ${why}`, { cause: e, detail: { server: base } });
      throw new VaqueroError("LINK_UNREACHABLE", `${where}: ${(e as Error).message}`, { cause: e });
    }
    answered = true;
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    let message = text.slice(0, 300);
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (body.error?.message) message = `${body.error.code ?? ""} ${body.error.message}`.trim();
    } catch {
      // Not our JSON error: the text is the message.
    }
    const code = res.status >= 500 ? "LINK_SERVER" : "LINK_REFUSED";
    throw new VaqueroError(code, `agent link: ${path.split("?")[0]} answered ${res.status}: ${message}`, {
      detail: { status: res.status },
    });
  };
  const json = async <T>(res: Response): Promise<T> => {
    try {
      return (await res.json()) as T;
    } catch (e) {
      throw new VaqueroError("LINK_SERVER", `agent link: the server's answer is not JSON: ${(e as Error).message}`);
    }
  };
  return {
    register: async () =>
      json(
        await request("/v1/agent/register", {
          method: "POST",
          body: JSON.stringify({ site: o.site, name: o.name, version: o.version }),
        }),
      ),
    poll: async (after, commandsAfter, waitSeconds) => {
      const q = new URLSearchParams({ commands_after: String(commandsAfter), wait: `${waitSeconds}s` });
      if (after) q.set("after", after);
      const a = await json<PollAnswer>(await request(`/v1/agent/desired?${q}`, { timeoutMs: waitSeconds * 1000 + timeout }));
      return { ...a, commands: Array.isArray(a.commands) ? a.commands : [] };
    },
    bundle: async (sha) => {
      const res = await request(`/v1/agent/bundles/${sha}`, { timeoutMs: Math.max(timeout, 120_000) });
      const declared = Number(res.headers.get("content-length") ?? "0");
      if (declared > MAX_BUNDLE_BYTES) throw new VaqueroError("BUNDLE_TOO_LARGE", `bundle ${sha}: ${declared} bytes is more than allowed`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const got = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
      if (got !== sha) throw new VaqueroError("BUNDLE_MISMATCH", `bundle ${sha}: the bytes received hash to ${got}; refused`);
      return bytes;
    },
    ack: async (release, active) => {
      await request("/v1/agent/ack", { method: "POST", body: JSON.stringify({ release, ...(active ? { active } : {}) }) });
    },
    events: async (entries) => {
      const a = await json<{ acked: number }>(await request("/v1/agent/events", { method: "POST", body: JSON.stringify(entries) }));
      if (typeof a.acked !== "number") throw new VaqueroError("LINK_SERVER", "agent link: /v1/agent/events answered without acked");
      return a;
    },
  };
}

/** Codes of a server certificate the client does not trust (Bun's fetch, as OpenSSL names them). */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
]);

/**
 * Why an https request failed in its handshake, or undefined when the failure is not a TLS one. The server
 * refusing a client certificate shows as a failed handshake (`EPROTO`) or, with TLS 1.3, as the connection closed
 * at the first request (`ECONNRESET` before the server ever answered).
 */
export function tlsFailure(e: unknown, answered: boolean, withCert: boolean): string | undefined {
  const code = String((e as { code?: unknown }).code ?? "");
  const message = (e as Error).message ?? String(e);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || code === "HOSTNAME_MISMATCH")
    return "the server's certificate does not name the host of --server (its subjectAltName)";
  if (UNTRUSTED.has(code) || /CERT/.test(code))
    return `the server's certificate is not trusted (--ca-file): ${code} ${message.split("\n")[0]}`;
  const refused = code === "EPROTO" || /handshake/i.test(message) || (code === "ECONNRESET" && !answered);
  if (!refused) return undefined;
  return withCert
    ? "TLS handshake refused: the server requires a client certificate (mTLS) and does not accept this one (--tls-cert not signed by its --client-ca?)"
    : "TLS handshake refused: the server requires a client certificate (mTLS) — give --tls-cert and --tls-key — or does not speak TLS on this port";
}
