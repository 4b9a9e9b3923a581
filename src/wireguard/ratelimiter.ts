/**
 * Per-source token bucket for handshake messages under load (whitepaper §5.3 "DoS mitigation";
 * docs/wireguard.md §1.9; wg-go ratelimiter/ratelimiter.go, kernel src/ratelimiter.c).
 *
 * Each source earns one token every 1/20 s up to a burst of 5; a handshake costs one token.
 * IPv6 sources are grouped by /64 as the kernel does, so one host cannot dodge the limit by
 * cycling addresses in its subnet. Sans-IO: `now` comes in; idle entries are collected by
 * `poll(now)`, which the runtime calls at `nextDeadline()`. The table is capped: when it is
 * full, new sources are refused until the next collection (the kernel's max_entries policy).
 *
 * `UnderLoadDetector` decides when the device is "under load" (wireguard.md §1.9): then mac2 is
 * required (else a cookie reply is sent) and this limiter applies.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import {
  UNDER_LOAD_AFTER_TIME_MS,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
  RATELIMITER_GC_INTERVAL_MS,
  RATELIMITER_MAX_ENTRIES,
  RATELIMITER_PACKETS_BURSTABLE,
  RATELIMITER_PACKETS_PER_SECOND,
} from './constants.js';

/** Token cost of one packet, in ms of refill time: 1000 / 20 = 50 ms. */
const PACKET_COST_MS = 1000 / RATELIMITER_PACKETS_PER_SECOND;
/** Bucket size: 5 packets' worth of refill time. */
const TOKEN_MAX_MS = PACKET_COST_MS * RATELIMITER_PACKETS_BURSTABLE;

interface Bucket {
  lastMs: MonotonicMs;
  tokensMs: number;
}

/** Options for tests and tuning; the defaults are wireguard-go's and the kernel's. */
export interface RateLimiterOptions {
  /** Most sources tracked at once (default RATELIMITER_MAX_ENTRIES). */
  readonly maxEntries?: number;
}

/** Handshake rate limiter: `allow(sourceIp, now)` before processing a handshake under load. */
export class HandshakeRateLimiter {
  readonly #table = new Map<string, Bucket>();
  readonly #maxEntries: number;
  #nextGcMs: MonotonicMs | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.#maxEntries = options.maxEntries ?? RATELIMITER_MAX_ENTRIES;
  }

  /** Number of sources currently tracked. */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Takes a token for `sourceIp` if one is available.
   * @param sourceIp 4 (IPv4) or 16 (IPv6) address bytes; other lengths are keyed as given
   * @returns true to process the handshake, false to drop it (`rate-limited`)
   */
  allow(sourceIp: Uint8Array, now: MonotonicMs): boolean {
    const key = bucketKey(sourceIp);
    const bucket = this.#table.get(key);
    if (bucket === undefined) {
      if (this.#table.size >= this.#maxEntries) return false;
      // A new source starts with a full bucket minus this packet.
      this.#table.set(key, { lastMs: now, tokensMs: TOKEN_MAX_MS - PACKET_COST_MS });
      if (this.#nextGcMs === undefined) this.#nextGcMs = now + RATELIMITER_GC_INTERVAL_MS;
      return true;
    }
    const elapsed = Math.max(0, now - bucket.lastMs);
    const tokens = Math.min(TOKEN_MAX_MS, bucket.tokensMs + elapsed);
    bucket.lastMs = Math.max(bucket.lastMs, now);
    if (tokens >= PACKET_COST_MS) {
      bucket.tokensMs = tokens - PACKET_COST_MS;
      return true;
    }
    bucket.tokensMs = tokens;
    return false;
  }

  /** When `poll` next has work: the next collection, or undefined while the table is empty. */
  nextDeadline(): MonotonicMs | undefined {
    return this.#nextGcMs;
  }

  /** Forgets sources idle for longer than RATELIMITER_GC_INTERVAL_MS (their bucket would be full anyway). */
  poll(now: MonotonicMs): void {
    if (this.#nextGcMs === undefined || now < this.#nextGcMs) return;
    for (const [key, bucket] of this.#table) {
      if (now - bucket.lastMs > RATELIMITER_GC_INTERVAL_MS) this.#table.delete(key);
    }
    this.#nextGcMs = this.#table.size > 0 ? now + RATELIMITER_GC_INTERVAL_MS : undefined;
  }

  /** Forgets every source. */
  clear(): void {
    this.#table.clear();
    this.#nextGcMs = undefined;
  }
}

/** IPv4: the address; IPv6: its /64 prefix (kernel ratelimiter.c). Latin-1 string of the bytes. */
function bucketKey(ip: Uint8Array): string {
  const bytes = ip.length === 16 ? ip.subarray(0, 8) : ip;
  let s = String.fromCharCode(ip.length);
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Decides "under load" (wireguard.md §1.9): true once more than `threshold` handshake messages
 * arrived within one second, and for UNDER_LOAD_AFTER_TIME_MS (1 s, wg-go) after the last time
 * that was seen. Call `record` for every handshake message that passed mac1, then `isUnderLoad`.
 */
export class UnderLoadDetector {
  readonly #threshold: number;
  #windowStartMs: MonotonicMs | undefined;
  #count = 0;
  #underLoadUntilMs: MonotonicMs | undefined;

  constructor(threshold: number = UNDER_LOAD_HANDSHAKES_PER_SECOND) {
    this.#threshold = threshold;
  }

  /** Counts one handshake message received at `now`. */
  record(now: MonotonicMs): void {
    if (this.#windowStartMs === undefined || now - this.#windowStartMs >= 1000) {
      this.#windowStartMs = now;
      this.#count = 0;
    }
    this.#count++;
    if (this.#count > this.#threshold) this.#underLoadUntilMs = now + UNDER_LOAD_AFTER_TIME_MS;
  }

  /** True while under load: require mac2 and rate-limit handshakes. */
  isUnderLoad(now: MonotonicMs): boolean {
    return this.#underLoadUntilMs !== undefined && now < this.#underLoadUntilMs;
  }
}
