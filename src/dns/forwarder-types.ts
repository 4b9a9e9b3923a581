/**
 * Public types of the forwarder: options, upstream groups, actions, observer events, counters.
 */
import type { Rng } from '../runtime/rng.js';
import type { AnswerCache, CacheOptions } from './cache.js';
import type { BlockedAnswerForm, QueryPolicy } from './local-answer.js';
import type { RouteTable } from './router.js';
import type { Strategy } from './upstream-health.js';
import type { UpstreamSpec } from './upstream-spec.js';

export interface UpstreamGroup {
  readonly name: string;
  readonly upstreams: readonly UpstreamSpec[];
  readonly strategy: Strategy;
  /** Per-attempt timeout for this group (default: the forwarder's `attemptTimeoutMs`). */
  readonly timeoutMs?: number | undefined;
  /** Health: consecutive failures before an upstream is skipped, and for how long (default: exponential backoff). */
  readonly health?: { readonly maxFailures: number; readonly retryAfterMs: number } | undefined;
}

export interface ForwarderOptions {
  readonly groups: readonly UpstreamGroup[];
  readonly routes: RouteTable;
  /** Group tried when a non-internal route's own group is exhausted (AdGuard `fallback_dns`). */
  readonly fallbackGroup?: string | undefined;
  readonly rng: Rng;
  readonly cache?: AnswerCache | Partial<CacheOptions> | undefined;
  readonly policy?: QueryPolicy | undefined;
  /** Wait for one upstream before trying the next one (default 1000 ms). */
  readonly attemptTimeoutMs?: number;
  /** Give up on a query after this long (default 4000 ms): SERVFAIL or stale. */
  readonly queryTimeoutMs?: number;
  /** RFC 8767 §5 client response timer: answer stale after this long if stale data exists (default 1800 ms). */
  readonly staleAnswerAfterMs?: number;
  /** Upstreams raced at once by `parallel-best` (default 2). */
  readonly parallel?: number;
  /** Queries in flight upstream (default 4096); beyond it new queries get SERVFAIL. */
  readonly maxPending?: number;
  /** Clients coalesced onto one upstream query (default 64); beyond it they are dropped. */
  readonly maxWaitersPerQuery?: number;
  readonly blockedAnswer?: BlockedAnswerForm;
  readonly blockedTtlS?: number;
  readonly observer?: ForwarderObserver<unknown> | undefined;
}

/** What a reload may change without restarting the forwarder (forwarder.reconfigure). */
export type ForwarderReconfig = Pick<ForwarderOptions, 'groups' | 'routes' | 'fallbackGroup' | 'policy' | 'blockedAnswer' | 'blockedTtlS' | 'attemptTimeoutMs' | 'queryTimeoutMs'>;

export type ClientTransport = 'udp' | 'tcp';

/** Why an upstream attempt failed (the metrics' closed label set). */
export type UpstreamFailureReason = 'timeout' | 'servfail' | 'refused' | 'io' | 'malformed';

/** One answered client query, for metrics and the query log. */
export interface AnsweredQuery<C> {
  readonly client: C;
  readonly transport: ClientTransport;
  readonly qname: string;
  readonly qtype: number;
  /** The group that answered, or `local` / `blocked` / `none`. */
  readonly route: string;
  readonly rcode: number;
  readonly cacheHit: boolean;
  readonly list: string | undefined;
  readonly upstream: UpstreamSpec | undefined;
  readonly durationMs: number;
}

/** Optional event sink (metrics, query log). Called synchronously; must not throw. */
export interface ForwarderObserver<C> {
  answered?(e: AnsweredQuery<C>): void;
  upstreamAnswered?(group: string, upstream: UpstreamSpec, latencyMs: number): void;
  upstreamFailed?(group: string, upstream: UpstreamSpec, reason: UpstreamFailureReason): void;
  blocked?(list: string): void;
}

export type ForwarderAction<C> =
  | { readonly type: 'respond'; readonly client: C; readonly bytes: Uint8Array }
  | { readonly type: 'send'; readonly token: number; readonly upstream: UpstreamSpec; readonly transport: 'udp' | 'tcp' | 'tls' | 'https'; readonly bytes: Uint8Array }
  /** The attempt is over: the edge releases its socket / request. Emitted once per `send`. */
  | { readonly type: 'cancel'; readonly token: number };

/** Where an upstream reply came from (UDP); stream transports pass undefined (the connection is the identity). */
export interface ReplySource {
  readonly address: string;
  readonly port: number;
}

/** Counters (64-bit) for metrics and tests. */
export interface ForwarderStats {
  queries: bigint; cacheHits: bigint; staleAnswers: bigint; coalesced: bigint; forwarded: bigint;
  answered: bigint; servfail: bigint; formerr: bigint; dropped: bigint; blocked: bigint; local: bigint;
  unexpectedReplies: bigint; mismatchedReplies: bigint; malformedReplies: bigint;
  upstreamTimeouts: bigint; upstreamErrors: bigint; tcpRetries: bigint; fallbacks: bigint;
  /** Background refreshes of popular cache entries (cache.prefetch). */
  prefetches: bigint;
}

