/**
 * `/bootstrap-dns`: the relay resolves a few hostnames (usually the control server and the
 * other relays) and hands the addresses to clients whose own DNS is broken, so they can still
 * reach the control plane (derper's `-bootstrap-dns-names`).
 *
 * Answer body: a JSON object `{ "name": ["ip", ...], ... }`, `application/json`.
 * - without a query string: every *published* name that has been resolved;
 * - with `?q=NAME`: only that name, published or *unpublished* (derper's
 *   `-unpublished-bootstrap-dns-names`: answered when asked for, never listed); `{}` otherwise.
 *
 * Sans-IO: the edge asks `poll(now)` which names to resolve, resolves them and reports each
 * result with `resolved`; a failed lookup keeps the last good addresses (as derper does).
 */
import type { MonotonicMs } from '../runtime/clock.js';

/** How often the names are resolved again (derper: every 10 minutes). */
export const BOOTSTRAP_DNS_REFRESH_MS = 10 * 60_000;
/** Longest hostname (RFC 1035 §2.3.4 presentation form). */
const MAX_NAME_CHARS = 253;
/** Addresses kept per name: an answer stays small whatever the resolver returns. */
const MAX_ADDRESSES_PER_NAME = 16;

export interface BootstrapDnsNames {
  /** Listed in every answer. */
  readonly published: readonly string[];
  /** Answered only when asked for with `?q=`. */
  readonly unpublished: readonly string[];
}

/** Why a configured name is unusable, or undefined when it is a plausible hostname. */
export function bootstrapNameError(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME_CHARS) return `want 1–${MAX_NAME_CHARS} characters`;
  const labels = name.replace(/\.$/, '').split('.');
  for (const l of labels) {
    if (!/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l)) return `"${name}" is not a hostname`;
  }
  return undefined;
}

export class BootstrapDns {
  readonly #published: readonly string[];
  readonly #known: ReadonlySet<string>;
  readonly #addresses = new Map<string, readonly string[]>();
  #nextRefresh: MonotonicMs | undefined;
  #publishedBody = '{}';

  constructor(names: BootstrapDnsNames, now: MonotonicMs) {
    this.#published = [...new Set(names.published)];
    this.#known = new Set([...names.published, ...names.unpublished]);
    this.#nextRefresh = this.#known.size > 0 ? now : undefined;
  }

  /** Every configured name, published first. */
  get names(): readonly string[] {
    return [...this.#known];
  }

  nextDeadline(): MonotonicMs | undefined {
    return this.#nextRefresh;
  }

  /** The names to resolve now (all of them once per refresh period), or none. */
  poll(now: MonotonicMs): readonly string[] {
    if (this.#nextRefresh === undefined || now < this.#nextRefresh) return [];
    this.#nextRefresh = now + BOOTSTRAP_DNS_REFRESH_MS;
    return this.names;
  }

  /**
   * Records one lookup. `addresses` undefined (or empty) means it failed: the last good
   * addresses stay. Names that were not configured are ignored.
   */
  resolved(name: string, addresses: readonly string[] | undefined): void {
    if (!this.#known.has(name) || addresses === undefined || addresses.length === 0) return;
    this.#addresses.set(name, [...new Set(addresses)].slice(0, MAX_ADDRESSES_PER_NAME));
    this.#publishedBody = JSON.stringify(this.#object(this.#published));
  }

  /** The JSON body for a request; `query` is the `q` parameter when one was given. */
  answer(query: string | undefined): string {
    if (query === undefined) return this.#publishedBody;
    return this.#known.has(query) ? JSON.stringify(this.#object([query])) : '{}';
  }

  #object(names: readonly string[]): Record<string, readonly string[]> {
    const out: Record<string, readonly string[]> = {};
    for (const n of names) {
      const a = this.#addresses.get(n);
      if (a !== undefined) out[n] = a;
    }
    return out;
  }
}
