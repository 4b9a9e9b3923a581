/**
 * Per-upstream health (consecutive failures, exponential backoff, smoothed RTT) and the order in
 * which a group's upstreams are tried for one query under each strategy:
 * - `failover`: configured order (dnsmasq `--strict-order`, CoreDNS `sequential`);
 * - `round-robin`: configured order rotated by one per query (CoreDNS `round_robin`);
 * - `parallel-best`: lowest smoothed RTT first, and the first `parallel` upstreams are raced
 *   (blocky `parallel_best`).
 * In every strategy, upstreams in backoff go last, so a dead upstream costs a timeout only once
 * per backoff period but is still tried when nothing else is left. Pure; time comes in as `now`.
 */
import type { UpstreamSpec } from './upstream-spec.js';

export type Strategy = 'failover' | 'round-robin' | 'parallel-best';

/** First backoff after a failure; doubles per consecutive failure up to the maximum. */
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** EWMA weight of a new RTT sample (RFC 6298 uses 1/8 for SRTT). */
const SRTT_ALPHA = 1 / 8;

export interface UpstreamHealth {
  readonly spec: UpstreamSpec;
  consecutiveFailures: number;
  backoffUntilMs: number;
  /** Smoothed RTT in ms; undefined until the first answer. */
  srttMs: number | undefined;
  successes: bigint;
  failures: bigint;
}

/** Health records shared by every group that names the same upstream (keyed by `spec.id`). */
export class HealthTable {
  readonly #byId = new Map<string, UpstreamHealth>();

  get(spec: UpstreamSpec): UpstreamHealth {
    let h = this.#byId.get(spec.id);
    if (!h) {
      h = { spec, consecutiveFailures: 0, backoffUntilMs: 0, srttMs: undefined, successes: 0n, failures: 0n };
      this.#byId.set(spec.id, h);
    }
    return h;
  }

  all(): UpstreamHealth[] {
    return [...this.#byId.values()];
  }

  /** Call after a good answer from `spec`, `rttMs` after the query was sent. */
  recordSuccess(spec: UpstreamSpec, rttMs: number): void {
    const h = this.get(spec);
    h.consecutiveFailures = 0;
    h.backoffUntilMs = 0;
    h.srttMs = h.srttMs === undefined ? rttMs : h.srttMs + SRTT_ALPHA * (rttMs - h.srttMs);
    h.successes++;
  }

  /**
   * Call after a timeout, a transport error or a SERVFAIL/REFUSED from `spec`. Without `policy`
   * every failure backs off exponentially (1 s, 2 s, … 30 s); with it, the upstream is skipped
   * for `retryAfterMs` once it has failed `maxFailures` times in a row.
   */
  recordFailure(spec: UpstreamSpec, nowMs: number, policy?: { readonly maxFailures: number; readonly retryAfterMs: number }): void {
    const h = this.get(spec);
    h.consecutiveFailures++;
    h.failures++;
    if (policy) {
      if (h.consecutiveFailures >= policy.maxFailures) h.backoffUntilMs = nowMs + policy.retryAfterMs;
      return;
    }
    const exp = Math.min(h.consecutiveFailures - 1, 16);
    h.backoffUntilMs = nowMs + Math.min(BACKOFF_BASE_MS * 2 ** exp, BACKOFF_MAX_MS);
  }

  isBackedOff(spec: UpstreamSpec, nowMs: number): boolean {
    return this.get(spec).backoffUntilMs > nowMs;
  }

  /**
   * The order to try `upstreams` in for one query. `rotation` is a per-group counter used by
   * round-robin. Backed-off upstreams keep their relative order at the end. The result may be
   * `upstreams` itself: callers must not modify it.
   */
  order(upstreams: readonly UpstreamSpec[], strategy: Strategy, rotation: number, nowMs: number): readonly UpstreamSpec[] {
    // Fast path (every query of a healthy failover group): the configured array itself.
    if (strategy === 'failover' && upstreams.every((u) => !this.isBackedOff(u, nowMs))) return upstreams;
    let list: UpstreamSpec[];
    if (strategy === 'round-robin' && upstreams.length > 0) {
      const k = rotation % upstreams.length;
      list = [...upstreams.slice(k), ...upstreams.slice(0, k)];
    } else if (strategy === 'parallel-best') {
      list = [...upstreams].sort((a, b) => (this.get(a).srttMs ?? 0) - (this.get(b).srttMs ?? 0));
    } else {
      list = [...upstreams];
    }
    const healthy = list.filter((u) => !this.isBackedOff(u, nowMs));
    if (healthy.length === list.length) return list;
    return [...healthy, ...list.filter((u) => this.isBackedOff(u, nowMs))];
  }
}
