/**
 * Prometheus metrics for the DNS forwarder (`tsplane_dns_*`), registered on the process
 * registry passed in (src/runtime/metrics.ts), plus the query-log entry shape and sink type.
 * The API is one call per event so the forwarder stays readable:
 *   metrics.query('internal', RCODE.NOERROR, true)
 *   metrics.upstream('public', '127.0.0.1:5301', 12.5)      // answered, latency in ms
 *   metrics.upstreamFailure('public', '127.0.0.1:5301', 'timeout')
 *   metrics.blocked('oisd')
 * Label values come from config (group, server and list names) or closed unions, so the
 * series count is bounded by the config, never by query traffic.
 */
import { Counter, Gauge, Histogram, type Registry } from '../runtime/metrics.js';
import { RCODE } from './rdata.js';

/** Why an upstream attempt failed. */
export const UPSTREAM_FAILURES = ['timeout', 'servfail', 'refused', 'io', 'malformed', 'tls'] as const;
export type UpstreamFailure = (typeof UPSTREAM_FAILURES)[number];

/** Route label values besides group names: answered locally, blocked, or refused before routing. */
export const SPECIAL_ROUTES = ['local', 'blocked', 'none'] as const;

/** Upstream latency buckets, seconds: 1 ms (loopback) … 5 s (timeouts). */
const UPSTREAM_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface DnsMetrics {
  /** One client query answered: route (group name or `local`/`blocked`/`none`), RCODE, from cache or not. */
  query(route: string, rcode: number, cacheHit: boolean): void;
  /** One upstream answer received after `latencyMs`. */
  upstream(group: string, server: string, latencyMs: number): void;
  /** One upstream attempt failed. */
  upstreamFailure(group: string, server: string, reason: UpstreamFailure): void;
  /** One query (or CNAME-cloaked answer) blocked by `list`. */
  blocked(list: string): void;
  /** Blocklist state after a load or refresh: rule count and whether the refresh succeeded. */
  blocklistLoaded(list: string, rules: number, ok: boolean, wallTimeMs: number): void;
}

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([k, v]) => [v, k]));

/** The text label for an RCODE (`NOERROR`, `NXDOMAIN`, …; numbers for others). */
export function rcodeLabel(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? String(rcode);
}

/** RCODEs a header carries (4 bits): these are counted without touching the Counter per query. */
const QUERY_RCODES = 16;

/** Registers the DNS metrics on `registry` and returns the recorder. Call once per registry. */
export function createDnsMetrics(registry: Registry): DnsMetrics {
  const registers = [registry];
  // Per-query counts are kept in plain arrays (route → [rcode * 2 + hit]) and moved into the
  // Counter when it is collected: no label object and label hash per answered query.
  const queryCounts = new Map<string, number[]>();
  const queries: Counter<'route' | 'rcode' | 'cache'> = new Counter({
    name: 'tsplane_dns_queries_total', help: 'Client queries answered, by route, response code and cache hit', labelNames: ['route', 'rcode', 'cache'] as const, registers,
    collect() {
      for (const [route, counts] of queryCounts) {
        for (let i = 0; i < counts.length; i++) {
          const n = counts[i]!;
          if (n === 0) continue;
          counts[i] = 0;
          queries.inc({ route, rcode: rcodeLabel(i >> 1), cache: (i & 1) === 1 ? 'hit' : 'miss' }, n);
        }
      }
    },
  });
  const latency = new Histogram({ name: 'tsplane_dns_upstream_duration_seconds', help: 'Time from sending a query upstream to its answer', labelNames: ['group', 'server'] as const, buckets: UPSTREAM_BUCKETS_S, registers });
  const failures = new Counter({ name: 'tsplane_dns_upstream_failures_total', help: 'Upstream attempts that failed, by reason', labelNames: ['group', 'server', 'reason'] as const, registers });
  const blocked = new Counter({ name: 'tsplane_dns_blocked_total', help: 'Queries blocked, by the list that matched', labelNames: ['list'] as const, registers });
  const rules = new Gauge({ name: 'tsplane_dns_blocklist_rules', help: 'Rules loaded from each blocklist (last good copy)', labelNames: ['list'] as const, registers });
  const refreshFailures = new Counter({ name: 'tsplane_dns_blocklist_refresh_failures_total', help: 'Blocklist loads that failed (the last good copy stays in use)', labelNames: ['list'] as const, registers });
  const lastSuccess = new Gauge({ name: 'tsplane_dns_blocklist_last_success_timestamp_seconds', help: 'Wall-clock time of the last successful load of each blocklist', labelNames: ['list'] as const, registers });
  return {
    query(route, rcode, cacheHit) {
      if (rcode < 0 || rcode >= QUERY_RCODES || !Number.isInteger(rcode)) {
        queries.inc({ route, rcode: rcodeLabel(rcode), cache: cacheHit ? 'hit' : 'miss' });
        return;
      }
      let counts = queryCounts.get(route);
      if (counts === undefined) queryCounts.set(route, (counts = new Array<number>(QUERY_RCODES * 2).fill(0)));
      counts[rcode * 2 + (cacheHit ? 1 : 0)]!++;
    },
    upstream(group, server, latencyMs) {
      latency.observe({ group, server }, latencyMs / 1000);
    },
    upstreamFailure(group, server, reason) {
      failures.inc({ group, server, reason });
    },
    blocked(list) {
      blocked.inc({ list });
    },
    blocklistLoaded(list, count, ok, wallTimeMs) {
      if (!ok) {
        refreshFailures.inc({ list });
        return;
      }
      rules.set({ list }, count);
      lastSuccess.set({ list }, Math.floor(wallTimeMs / 1000));
    },
  };
}

/** One line of the query log (JSON-serializable; names are already lower case). */
export interface QueryLogEntry {
  /** Wall-clock time the answer was sent, ms since the epoch. */
  readonly timeMs: number;
  /** Client address and port as text. */
  readonly client: string;
  readonly transport: 'udp' | 'tcp';
  readonly qname: string;
  readonly qtype: number;
  /** What answered: a group name, `local`, `blocked` or `none`. */
  readonly route: string;
  readonly rcode: string;
  readonly cacheHit: boolean;
  /** The list that blocked the query, when blocked. */
  readonly list?: string;
  /** The upstream server that answered, when forwarded. */
  readonly upstream?: string;
  readonly durationMs: number;
}

/** Where query-log entries go; must not throw and must not block (drop when behind). */
export type QueryLogSink = (entry: QueryLogEntry) => void;

/** What the forwarder's own counters and the cache look like to a scrape (read at collect time). */
export interface DnsStateSource {
  readonly forwarderStats: () => Readonly<Record<string, bigint>>;
  readonly cacheEntries: () => number;
  readonly cacheBytes: () => number;
  readonly rateLimited: () => bigint;
}

/** Forwarder events (coalesced, stale answers, prefetches, …), cache size and rate-limit drops. */
export function registerDnsStateMetrics(registry: Registry, src: DnsStateSource): void {
  const registers = [registry];
  new Counter({
    name: 'tsplane_dns_forwarder_events_total', help: 'Forwarder events by kind (the core counters: coalesced, staleAnswers, prefetches, fallbacks, …)',
    labelNames: ['event'] as const, registers,
    collect() {
      this.reset();
      for (const [event, n] of Object.entries(src.forwarderStats())) this.inc({ event }, Number(n));
    },
  });
  new Gauge({ name: 'tsplane_dns_cache_entries', help: 'Answers in the cache', registers, collect() { this.set(src.cacheEntries()); } });
  new Gauge({ name: 'tsplane_dns_cache_bytes', help: 'Approximate bytes held by the cache', registers, collect() { this.set(src.cacheBytes()); } });
  new Counter({
    name: 'tsplane_dns_rate_limited_total', help: 'Queries dropped by the per-client rate limit', registers,
    collect() {
      this.reset();
      this.inc(Number(src.rateLimited()));
    },
  });
}
