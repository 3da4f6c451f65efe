/**
 * Per-client token buckets for the endpoints booting machines reach without credentials (API.md: read-only or
 * append-only, and rate-limited). A client is its address; a bucket holds `burst` tokens and refills at
 * `perSecond`. Memory is bounded: at most `maxClients` buckets, the least recently used dropped first.
 */

/** Options of {@link createRateLimiter}. */
export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  /** Buckets kept at most (default 65,536). */
  maxClients?: number;
  /** Milliseconds, monotonic (default `performance.now`). */
  now?: () => number;
}

/** The answer for one request: allowed, or refused with the seconds until a token is back. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

/** A rate limiter keyed by client. */
export interface RateLimiter {
  take(client: string): RateDecision;
  /** Buckets held now. */
  size(): number;
}

/** Creates a limiter. */
export function createRateLimiter(o: RateLimitOptions): RateLimiter {
  const now = o.now ?? (() => performance.now());
  const max = o.maxClients ?? 65_536;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(client) {
      const t = now();
      const b = buckets.get(client) ?? { tokens: o.burst, at: t };
      buckets.delete(client);
      b.tokens = Math.min(o.burst, b.tokens + ((t - b.at) / 1000) * o.perSecond);
      b.at = t;
      buckets.set(client, b);
      if (buckets.size > max) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / o.perSecond)) };
    },
    size: () => buckets.size,
  };
}
