/**
 * Host-name endpoints: resolve once at start, then again whenever the peer has gone quiet —
 * the policy of wireguard-tools' contrib/reresolve-dns, built in. A peer whose last handshake
 * is older than `HANDSHAKE_STALE_MS` (or that never completed one) has its name looked up again
 * every `RERESOLVE_INTERVAL_MS` and its endpoint set to the answer, so a dynamic-DNS peer whose
 * address changed is found again. A peer with a fresh handshake is left alone (its endpoint may
 * have roamed on purpose). A failed lookup is retried with backoff from `RETRY_MIN_MS`.
 *
 * Sans-IO: `poll(now, …)` says which names to look up, the edge resolves them and reports back
 * with `resolved`, which returns the endpoint to configure.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import type { Endpoint } from './device-api.js';
import type { EndpointHost } from './endpoint-text.js';

/** How often a quiet peer's name is looked up again. */
export const RERESOLVE_INTERVAL_MS = 30_000;
/** A handshake older than this counts as stale (contrib/reresolve-dns uses 135 s). */
export const HANDSHAKE_STALE_MS = 135_000;
/** First retry after a failed lookup; doubles up to RERESOLVE_INTERVAL_MS. */
export const RETRY_MIN_MS = 1_000;

export interface HostPeer {
  /** The peer's public key as base64 text (the identity used by the edge). */
  readonly key: string;
  readonly endpoint: EndpointHost;
}

export interface Lookup {
  readonly key: string;
  readonly host: string;
}

interface Entry {
  readonly endpoint: EndpointHost;
  /** When to look again; undefined while a lookup is in flight. */
  nextMs: MonotonicMs | undefined;
  failures: number;
  resolvedOnce: boolean;
}

export class EndpointReresolver {
  readonly #entries = new Map<string, Entry>();

  /** Replaces the set of host-name peers; unchanged ones keep their schedule. New ones are due now. */
  set(peers: readonly HostPeer[], now: MonotonicMs): void {
    const next = new Map<string, Entry>();
    for (const p of peers) {
      const old = this.#entries.get(p.key);
      if (old && old.endpoint.host === p.endpoint.host && old.endpoint.port === p.endpoint.port) next.set(p.key, old);
      else next.set(p.key, { endpoint: p.endpoint, nextMs: now, failures: 0, resolvedOnce: false });
    }
    this.#entries.clear();
    for (const [k, e] of next) this.#entries.set(k, e);
  }

  get size(): number {
    return this.#entries.size;
  }

  nextDeadline(): MonotonicMs | undefined {
    let min: MonotonicMs | undefined;
    for (const e of this.#entries.values()) if (e.nextMs !== undefined && (min === undefined || e.nextMs < min)) min = e.nextMs;
    return min;
  }

  /**
   * The lookups due at `now`. `handshakeAgeMs(key)` is the age of the peer's last handshake, or
   * undefined when it never completed one.
   */
  poll(now: MonotonicMs, handshakeAgeMs: (key: string) => number | undefined): Lookup[] {
    const out: Lookup[] = [];
    for (const [key, e] of this.#entries) {
      if (e.nextMs === undefined || now < e.nextMs) continue;
      const age = handshakeAgeMs(key);
      if (e.resolvedOnce && age !== undefined && age <= HANDSHAKE_STALE_MS) {
        e.nextMs = now + RERESOLVE_INTERVAL_MS;
        continue;
      }
      e.nextMs = undefined;
      out.push({ key, host: e.endpoint.host });
    }
    return out;
  }

  /**
   * Reports a lookup: `address` is the first answer (as getaddrinfo orders them), or undefined
   * when the lookup failed. Returns the endpoint to configure, or undefined (failure, or the
   * peer's name changed or was removed meanwhile).
   */
  resolved(key: string, host: string, address: { address: string; family: 4 | 6 } | undefined, now: MonotonicMs): Endpoint | undefined {
    const e = this.#entries.get(key);
    if (!e || e.endpoint.host !== host || e.nextMs !== undefined) return undefined;
    if (address === undefined) {
      e.failures++;
      e.nextMs = now + Math.min(RERESOLVE_INTERVAL_MS, RETRY_MIN_MS * 2 ** Math.min(e.failures - 1, 16));
      return undefined;
    }
    e.failures = 0;
    e.resolvedOnce = true;
    e.nextMs = now + RERESOLVE_INTERVAL_MS;
    return { family: address.family, address: address.address, port: e.endpoint.port };
  }
}
