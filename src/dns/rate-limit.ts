/**
 * Per-client token buckets (dns.md §2 item 23; blocky and AdGuard Home drop over-limit queries
 * silently, which also denies amplification). Pure: time comes in as `now`. The table is
 * bounded: beyond `maxClients` the least recently seen client is forgotten (it starts again
 * with a full bucket, which errs on the side of answering).
 */

export interface RateLimitOptions {
  /** Sustained queries per second per client. */
  readonly qps: number;
  /** Bucket size: queries a client may send at once after being idle (default 2 × qps). */
  readonly burst?: number;
  /** Clients tracked at most (default 65 536). */
  readonly maxClients?: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class RateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #buckets = new Map<string, Bucket>();
  /** Queries refused (64-bit counter). */
  limited = 0n;

  constructor(opts: RateLimitOptions) {
    if (!(opts.qps > 0)) throw new RangeError(`RateLimiter: qps must be > 0, got ${opts.qps}`);
    this.#ratePerMs = opts.qps / 1000;
    this.#burst = Math.max(1, opts.burst ?? 2 * opts.qps);
    this.#maxClients = Math.max(1, opts.maxClients ?? 65_536);
  }

  /** True if `client` may send a query at `nowMs` (and takes a token); false means drop it. */
  allow(client: string, nowMs: number): boolean {
    let b = this.#buckets.get(client);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxClients) {
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      b = { tokens: this.#burst, atMs: nowMs };
    } else {
      this.#buckets.delete(client); // re-insert below: Map order = least recently seen first
      b.tokens = Math.min(this.#burst, b.tokens + Math.max(0, nowMs - b.atMs) * this.#ratePerMs);
      b.atMs = nowMs;
    }
    this.#buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.limited++;
    return false;
  }

  get clients(): number {
    return this.#buckets.size;
  }
}
