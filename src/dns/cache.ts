/**
 * Wire-format answer cache for the forwarder (sans-IO: every call takes `now`).
 *
 * - Keyed by (lower-case qname, qtype, qclass, DO bit, CD bit); values are the upstream reply
 *   bytes plus the offsets of their TTL fields, so a hit costs one copy and a few u32 writes.
 * - Bounded by entry count and bytes, evicting in approximate LRU order (CLOCK: Map insertion
 *   order plus a referenced bit that a hit sets, so a hit never reorders the Map).
 * - Positive lifetime = smallest TTL in the reply, clamped to [minTtl, maxTtl]; negative answers
 *   (NXDOMAIN and NODATA) live min(SOA TTL, SOA MINIMUM) per RFC 2308 §5, clamped to
 *   [minTtl, maxNegativeTtl], and are not cached without an SOA. TC answers, SERVFAIL and other
 *   rcodes are never cached (dns.md §2 item 17).
 * - TTLs leave decremented by the entry's age and never above what is left (dns.md §2 item 14).
 * - RFC 8767 serve-stale: an expired entry is kept for `staleMaxS` more seconds and can be
 *   returned with TTL 30 s (RFC 8767 §4) when every upstream failed.
 */
import { Rcode, copyBytes, u32, writeU32, type ParsedMessage, type ResponseScan } from './message.js';

export interface CacheOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly minTtlS: number;
  readonly maxTtlS: number;
  readonly maxNegativeTtlS: number;
  /** How long past expiry an entry may still be served stale; 0 disables serve-stale. */
  readonly staleMaxS: number;
  /** TTL written into stale answers (RFC 8767 §4 recommends 30 s). */
  readonly staleAnswerTtlS: number;
  /** How long a question whose upstreams all failed is answered SERVFAIL without retrying (0 = never). */
  readonly servfailTtlS: number;
  /**
   * Refresh popular entries before they expire (unbound's `prefetch`): a hit in the last tenth of
   * an entry's lifetime, on an entry hit before, asks upstream again in the background.
   */
  readonly prefetch: boolean;
}

export const DEFAULT_CACHE_OPTIONS: CacheOptions = {
  maxEntries: 10_000,
  maxBytes: 16 * 1024 * 1024,
  minTtlS: 0,
  maxTtlS: 86_400,
  maxNegativeTtlS: 3_600,
  staleMaxS: 0,
  staleAnswerTtlS: 30,
  servfailTtlS: 5,
  prefetch: false,
};

/** Prefetch only entries hit at least this often since they were stored. */
const PREFETCH_MIN_HITS = 2;
/** Prefetch only entries living at least this long (short TTLs would hammer the upstream). */
const PREFETCH_MIN_TTL_S = 10;

/** Questions remembered as failing, at most (oldest forgotten first). */
const MAX_FAILURE_ENTRIES = 4_096;

/** Rough per-entry bookkeeping cost added to the wire size when bounding bytes. */
const ENTRY_OVERHEAD_BYTES = 160;

export interface CacheEntry {
  readonly key: string;
  /** The reply as received (its ID is irrelevant: the forwarder writes the client's). */
  readonly wire: Uint8Array;
  readonly questionEnd: number;
  readonly optStart: number | undefined;
  readonly optEnd: number | undefined;
  readonly ttlOffsets: Uint32Array;
  readonly originalTtls: Uint32Array;
  /** Lifetime after clamping, seconds. */
  readonly ttlS: number;
  readonly storedAtMs: number;
  readonly expiresAtMs: number;
  readonly staleUntilMs: number;
  readonly cnameTargets: readonly string[];
  readonly costBytes: number;
  /** Second-chance bit: set on a hit, cleared when eviction passes over the entry. */
  referenced: boolean;
  /** Fresh hits since stored (for prefetch). */
  hits: number;
  /** A prefetch was started for this entry (one per entry). */
  prefetched: boolean;
}

export type CacheLookup =
  | { readonly type: 'fresh'; readonly entry: CacheEntry }
  | { readonly type: 'stale'; readonly entry: CacheEntry };

/** The cache key; `qname` is the lower-case escaped form, so distinct names never collide. */
export function cacheKey(qname: string, qtype: number, qclass: number, dnssecOk: boolean, checkingDisabled: boolean): string {
  return `${qname}|${qtype}|${qclass}|${dnssecOk ? 1 : 0}${checkingDisabled ? 1 : 0}`;
}

export class AnswerCache {
  readonly #opts: CacheOptions;
  readonly #entries = new Map<string, CacheEntry>();
  /**
   * Eviction order (oldest first) as an array with a head index: a Map used as a queue makes
   * V8 skip every deleted slot at its front on each `values().next()` (O(n) per eviction).
   * Entries replaced or removed stay here until the head reaches them and are skipped then.
   */
  #order: CacheEntry[] = [];
  #head = 0;
  /** key → monotonic ms until which the question is answered SERVFAIL (CoreDNS `servfail`, 5 s). */
  readonly #failures = new Map<string, number>();
  #bytes = 0;
  /** Counters (64-bit): hits, stale hits, misses, inserts, evictions. */
  readonly stats = { hits: 0n, staleHits: 0n, misses: 0n, inserts: 0n, evictions: 0n };

  constructor(opts: Partial<CacheOptions> = {}) {
    this.#opts = { ...DEFAULT_CACHE_OPTIONS, ...opts };
  }

  get size(): number {
    return this.#entries.size;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get options(): CacheOptions {
    return this.#opts;
  }

  /** The lifetime (s) this reply would be cached for, or undefined when it must not be cached. */
  lifetimeFor(msg: ParsedMessage, scan: ResponseScan): number | undefined {
    if (scan.truncated) return undefined;
    const o = this.#opts;
    if (scan.rcode === Rcode.NOERROR && msg.ancount > 0) {
      const ttl = scan.minTtl ?? 0;
      return Math.min(Math.max(ttl, o.minTtlS), o.maxTtlS);
    }
    if (scan.rcode === Rcode.NXDOMAIN || (scan.rcode === Rcode.NOERROR && msg.ancount === 0)) {
      if (scan.negativeTtl === undefined) return undefined;
      return Math.min(Math.max(scan.negativeTtl, o.minTtlS), o.maxNegativeTtlS);
    }
    return undefined;
  }

  /**
   * Stores a copy of `wire` (an upstream reply parsed into `msg`/`scan`) under `key`.
   * Returns false when the reply is not cacheable or is larger than the whole byte budget.
   */
  insert(key: string, wire: Uint8Array, msg: ParsedMessage, scan: ResponseScan, nowMs: number, cnameTargets: readonly string[] = []): boolean {
    const ttlS = this.lifetimeFor(msg, scan);
    if (ttlS === undefined || ttlS <= 0 || this.#opts.maxEntries <= 0) return false;
    const costBytes = wire.length + ENTRY_OVERHEAD_BYTES + key.length * 2;
    if (costBytes > this.#opts.maxBytes) return false;
    const ttlOffsets = Uint32Array.from(scan.ttlOffsets);
    const originalTtls = new Uint32Array(ttlOffsets.length);
    for (let i = 0; i < ttlOffsets.length; i++) {
      const raw = u32(wire, ttlOffsets[i]!);
      originalTtls[i] = raw > 0x7fffffff ? 0 : raw;
    }
    const expiresAtMs = nowMs + ttlS * 1000;
    const entry: CacheEntry = {
      key, wire: copyBytes(wire), questionEnd: msg.questionEnd, optStart: scan.optStart, optEnd: scan.optEnd,
      ttlOffsets, originalTtls, ttlS, storedAtMs: nowMs, expiresAtMs,
      staleUntilMs: expiresAtMs + this.#opts.staleMaxS * 1000, cnameTargets, costBytes, referenced: false,
      hits: 0, prefetched: false,
    };
    this.#remove(key);
    this.#entries.set(key, entry);
    this.#order.push(entry);
    // Replaced and expired entries linger in #order until evicted; keep them a bounded multiple.
    if (this.#order.length - this.#head > 2 * this.#entries.size + 1024) {
      this.#order = this.#order.slice(this.#head).filter((e) => this.#entries.get(e.key) === e);
      this.#head = 0;
    }
    this.#bytes += costBytes;
    this.stats.inserts++;
    this.#evict();
    return true;
  }

  /** A fresh entry (moved to the LRU tail), or an expired one still inside the stale window. */
  lookup(key: string, nowMs: number): CacheLookup | undefined {
    const e = this.#entries.get(key);
    if (!e) {
      this.stats.misses++;
      return undefined;
    }
    if (nowMs < e.expiresAtMs) {
      // CLOCK / second chance instead of moving the entry on every hit: a hit only sets a bit.
      e.referenced = true;
      e.hits++;
      this.stats.hits++;
      return { type: 'fresh', entry: e };
    }
    if (nowMs < e.staleUntilMs) {
      this.stats.misses++;
      return { type: 'stale', entry: e };
    }
    this.#remove(key);
    this.stats.misses++;
    return undefined;
  }

  /** The entry for `key` if still fresh or stale-servable, without touching LRU order or stats. */
  peek(key: string, nowMs: number): CacheLookup | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (nowMs < e.expiresAtMs) return { type: 'fresh', entry: e };
    if (nowMs < e.staleUntilMs) return { type: 'stale', entry: e };
    return undefined;
  }

  /**
   * A copy of the entry's reply with every TTL (OPT excluded) set to what is left: the record's
   * own TTL capped at the entry lifetime, minus the age in whole seconds; stale answers get
   * `staleAnswerTtlS`. With `stripOpt` the OPT record is left out of the copy.
   */
  render(entry: CacheEntry, nowMs: number, stale: boolean, stripOpt = false): Uint8Array {
    if (stale) this.stats.staleHits++;
    const wire = entry.wire;
    const optS = entry.optStart;
    const optE = entry.optEnd;
    let out: Uint8Array;
    let cut = 0;
    if (stripOpt && optS !== undefined && optE !== undefined) {
      // One copy without the OPT record (RFC 6891 §7: OPT is hop-by-hop) and ARCOUNT - 1.
      cut = optE - optS;
      out = new Uint8Array(wire.length - cut);
      out.set(wire.subarray(0, optS));
      out.set(wire.subarray(optE), optS);
      const ar = ((out[10]! << 8) | out[11]!) - 1;
      out[10] = (ar >>> 8) & 0xff;
      out[11] = ar & 0xff;
    } else {
      out = copyBytes(wire);
    }
    const ageS = Math.max(0, Math.floor((nowMs - entry.storedAtMs) / 1000));
    const staleTtl = this.#opts.staleAnswerTtlS;
    for (let i = 0; i < entry.ttlOffsets.length; i++) {
      const ttl = stale ? staleTtl : Math.max(0, Math.min(entry.originalTtls[i]!, entry.ttlS) - ageS);
      const off = entry.ttlOffsets[i]!;
      writeU32(out, cut > 0 && off > optS! ? off - cut : off, ttl);
    }
    return out;
  }

  /** Remembers that every upstream failed for `key` (dns.md §2 item 17: cache SERVFAIL briefly). */
  noteFailure(key: string, nowMs: number): void {
    if (this.#opts.servfailTtlS <= 0) return;
    this.#failures.delete(key);
    this.#failures.set(key, nowMs + this.#opts.servfailTtlS * 1000);
    if (this.#failures.size > MAX_FAILURE_ENTRIES) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
  }

  /** True while `key` is remembered as failing. */
  isFailing(key: string, nowMs: number): boolean {
    if (this.#failures.size === 0) return false;
    const until = this.#failures.get(key);
    if (until === undefined) return false;
    if (nowMs < until) return true;
    this.#failures.delete(key);
    return false;
  }

  /**
   * True (once per entry) when a fresh hit on `entry` should refresh it in the background: the
   * entry is popular and in the last tenth of its lifetime.
   */
  wantsPrefetch(entry: CacheEntry, nowMs: number): boolean {
    if (!this.#opts.prefetch || entry.prefetched || entry.hits < PREFETCH_MIN_HITS || entry.ttlS < PREFETCH_MIN_TTL_S) return false;
    if (entry.expiresAtMs - nowMs > entry.ttlS * 100) return false; // more than 10 % of the lifetime left
    entry.prefetched = true;
    return true;
  }

  /** Drops every entry (e.g. after a config reload changed routes). */
  clear(): void {
    this.#failures.clear();
    this.#entries.clear();
    this.#order = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #remove(key: string): void {
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.costBytes;
    }
  }

  #evict(): void {
    // CLOCK: a referenced entry gets a second chance (bit cleared, moved to the tail), so the
    // loop ends after at most one full sweep.
    while (this.#entries.size > this.#opts.maxEntries || this.#bytes > this.#opts.maxBytes) {
      if (this.#head >= this.#order.length) break;
      const e = this.#order[this.#head++]!;
      if (this.#entries.get(e.key) !== e) continue; // replaced or removed since
      if (e.referenced) {
        e.referenced = false;
        this.#order.push(e);
        continue;
      }
      this.#remove(e.key);
      this.stats.evictions++;
    }
    // Drop the consumed prefix once it is most of the array.
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

}
