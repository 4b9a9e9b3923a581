/**
 * `tsplane dns`: the split-DNS forwarder as a command, and `startDnsService` for `tsplane run`
 * to embed it. Flags are parsed once here into a typed `DnsServiceConfig`; nothing past this
 * point sees strings that still need interpreting.
 */
import type { Clock } from '../runtime/clock.js';
import { SystemClock } from '../runtime/clock.js';
import { ConfigError } from '../runtime/errors.js';
import { createLogger, type Logger } from '../runtime/log.js';
import { Scheduler } from '../runtime/loop.js';
import { Gauge, createRegistry, type Registry } from '../runtime/metrics.js';
import { SystemRng, type Rng } from '../runtime/rng.js';
import type { CacheOptions } from '../dns/cache.js';
import { Forwarder, type UpstreamGroup } from '../dns/forwarder.js';
import type { BlockedAnswerForm, QueryPolicy } from '../dns/local-answer.js';
import { startDnsServer, type ClientHandle, type ListenAddress } from '../dns/io/server.js';
import { LOCAL_NXDOMAIN_GROUP, PRIVATE_REVERSE_CIDRS, RouteTable, normalizeSuffix, reverseZonesForCidr, type Route } from '../dns/router.js';
import type { Strategy } from '../dns/upstream-health.js';
import { parseUpstream, type UpstreamSpec } from '../dns/upstream-spec.js';
import type { UpstreamTransportOptions } from '../dns/io/upstream.js';

export interface DnsRouteConfig {
  /** A name suffix (`home.lan`) or a CIDR whose reverse zones are routed (`10.0.0.0/8`). */
  readonly suffix: string;
  readonly upstreams: readonly UpstreamSpec[];
  /** Default true: internal names never go to the fallback upstreams. */
  readonly internalOnly: boolean;
}

/** Everything the DNS service needs, already validated. */
export interface DnsServiceConfig {
  readonly listen: readonly ListenAddress[];
  readonly upstreams: readonly UpstreamSpec[];
  readonly routes: readonly DnsRouteConfig[];
  readonly fallback: readonly UpstreamSpec[];
  readonly strategy: Strategy;
  readonly cache: Partial<CacheOptions>;
  readonly attemptTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Answer NXDOMAIN for private reverse zones no route covers (dnsmasq `--bogus-priv`). */
  readonly privateReverseNxdomain: boolean;
  readonly blockedAnswer: BlockedAnswerForm;
  readonly upstreamTransport: UpstreamTransportOptions;
}

export const DNS_DEFAULTS: DnsServiceConfig = {
  listen: [{ host: '127.0.0.1', port: 5353 }],
  upstreams: [],
  routes: [],
  fallback: [],
  strategy: 'failover',
  cache: {},
  attemptTimeoutMs: 1_000,
  queryTimeoutMs: 4_000,
  privateReverseNxdomain: true,
  blockedAnswer: 'null-ip',
  upstreamTransport: {},
};

export interface DnsServiceDeps {
  readonly clock?: Clock;
  readonly rng?: Rng;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly scheduler?: Scheduler;
  readonly policy?: QueryPolicy;
}

export interface DnsService {
  readonly addresses: readonly ListenAddress[];
  readonly forwarder: Forwarder<ClientHandle>;
  close(): Promise<void>;
}

/** Builds the upstream groups and route table from the config (one group per distinct upstream list). */
export function buildRouting(config: DnsServiceConfig): { groups: UpstreamGroup[]; routes: RouteTable; fallbackGroup: string | undefined } {
  const groups = new Map<string, UpstreamGroup>();
  const groupFor = (ups: readonly UpstreamSpec[]): string => {
    const name = ups.map((u) => u.id).join(',');
    if (!groups.has(name)) groups.set(name, { name, upstreams: ups, strategy: config.strategy });
    return name;
  };
  const defaultGroup = config.upstreams.length > 0 ? groupFor(config.upstreams) : LOCAL_NXDOMAIN_GROUP;
  const routes: Route[] = [];
  for (const r of config.routes) {
    const group = groupFor(r.upstreams);
    const suffixes = r.suffix.includes('/') ? reverseZonesForCidr(r.suffix) : [normalizeSuffix(r.suffix)];
    if (!suffixes) throw new ConfigError('dns', undefined, 'route', `'${r.suffix}' is not a valid CIDR`);
    for (const suffix of suffixes) routes.push({ suffix, group, internalOnly: r.internalOnly });
  }
  if (config.privateReverseNxdomain) {
    const routed = new RouteTable(routes, defaultGroup);
    for (const cidr of PRIVATE_REVERSE_CIDRS) {
      for (const suffix of reverseZonesForCidr(cidr) ?? []) {
        // Only where no configured route already covers the zone (or a parent of it).
        if (routed.lookup(suffix).suffix === '') routes.unshift({ suffix, group: LOCAL_NXDOMAIN_GROUP, internalOnly: true });
      }
    }
  }
  const fallbackGroup = config.fallback.length > 0 ? groupFor(config.fallback) : undefined;
  return { groups: [...groups.values()], routes: new RouteTable(routes, defaultGroup), fallbackGroup };
}

/** Starts the forwarder and its listeners; `close()` stops everything it started. */
export async function startDnsService(config: DnsServiceConfig, deps: DnsServiceDeps = {}): Promise<DnsService> {
  const clock = deps.clock ?? new SystemClock();
  const rng = deps.rng ?? new SystemRng();
  const logger = deps.logger ?? createLogger({ name: 'dns' });
  const ownScheduler = deps.scheduler === undefined;
  const scheduler = deps.scheduler ?? new Scheduler(clock);
  const { groups, routes, fallbackGroup } = buildRouting(config);
  const forwarder = new Forwarder<ClientHandle>({
    groups, routes, fallbackGroup, rng, cache: config.cache, policy: deps.policy,
    attemptTimeoutMs: config.attemptTimeoutMs, queryTimeoutMs: config.queryTimeoutMs, blockedAnswer: config.blockedAnswer,
  });
  if (deps.registry) registerForwarderMetrics(deps.registry, forwarder);
  const server = await startDnsServer({ listen: config.listen, forwarder, scheduler, clock, logger, upstream: config.upstreamTransport });
  logger.info({ listen: server.addresses, routes: routes.routes.length, groups: groups.map((g) => g.name) }, 'dns: forwarder listening');
  return {
    addresses: server.addresses,
    forwarder,
    close: async () => {
      await server.close();
      if (ownScheduler) scheduler.stop();
    },
  };
}

/** Exposes the forwarder's counters as `tsplane_dns_*` gauges read at scrape time. */
function registerForwarderMetrics(registry: Registry, forwarder: Forwarder<ClientHandle>): void {
  // Gauges with collect() keep the hot path free of metric updates.
  {
    for (const [name, help] of [
      ['queries', 'client queries received'], ['cacheHits', 'answers from cache'], ['staleAnswers', 'stale answers served (RFC 8767)'],
      ['forwarded', 'queries sent upstream'], ['servfail', 'SERVFAIL answers'], ['mismatchedReplies', 'upstream replies ignored (wrong source, ID or question)'],
      ['upstreamTimeouts', 'upstream attempts timed out'], ['tcpRetries', 'truncated answers retried over TCP'],
    ] as const) {
      const metric = `tsplane_dns_forwarder_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`;
      if (registry.getSingleMetric(metric)) continue;
      new Gauge({ name: metric, help, registers: [registry], collect() { this.set(Number(forwarder.stats[name])); } });
    }
  }
}

const USAGE = `usage: tsplane dns [options]
  --listen HOST:PORT          address to serve UDP+TCP on (repeatable; default 127.0.0.1:5353)
  --upstream ADDR[,ADDR]      default upstreams: IP[:PORT], tcp://, tls://HOST[:853], https://HOST/dns-query
  --route SUFFIX=ADDR[,ADDR]  send names under SUFFIX (or reverse zones of a CIDR) to ADDR (repeatable)
  --fallback ADDR[,ADDR]      tried when a public route's upstreams all fail (never for routes)
  --strategy NAME             failover | round-robin | parallel-best (default failover)
  --cache-size N              cached answers (default 10000; 0 disables the cache)
  --min-ttl S / --max-ttl S   clamp cached TTLs
  --serve-stale S             serve expired answers for up to S seconds when upstreams fail
  --timeout MS                per-upstream timeout (default 1000)
  --query-timeout MS          total time before SERVFAIL (default 4000)
  --blocked-answer FORM       null-ip | nxdomain | refused
  --no-private-reverse-nxdomain  forward unrouted private reverse lookups to the default upstreams
  --udp-socket-per-query      a new UDP socket for every upstream query (default: rotated pool)
  --log-level LEVEL           pino level (default info)
`;

function upstreamList(flag: string, text: string): UpstreamSpec[] {
  return text.split(',').filter((s) => s.trim() !== '').map((t) => {
    const r = parseUpstream(t);
    if (!r.ok) throw new ConfigError('command line', undefined, flag, r.error);
    return r.spec;
  });
}

function parseListen(text: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new ConfigError('command line', undefined, '--listen', `'${text}' is not HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

function num(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !Number.isFinite(n) || n < 0) throw new ConfigError('command line', undefined, flag, `'${text}' is not a non-negative number`);
  return n;
}

/** Parses `tsplane dns` flags into a config (throws ConfigError naming the flag). */
export function parseDnsArgs(args: readonly string[]): DnsServiceConfig & { logLevel: string } {
  const listen: ListenAddress[] = [];
  const upstreams: UpstreamSpec[] = [];
  const routes: DnsRouteConfig[] = [];
  let fallback: UpstreamSpec[] = [];
  let strategy: Strategy = 'failover';
  const cache: { -readonly [K in keyof CacheOptions]?: CacheOptions[K] } = {};
  let attemptTimeoutMs = DNS_DEFAULTS.attemptTimeoutMs;
  let queryTimeoutMs = DNS_DEFAULTS.queryTimeoutMs;
  let privateReverseNxdomain = true;
  let blockedAnswer: BlockedAnswerForm = 'null-ip';
  let logLevel = 'info';
  const upstreamTransport: { -readonly [K in keyof UpstreamTransportOptions]?: UpstreamTransportOptions[K] } = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ConfigError('command line', undefined, flag, 'needs a value');
      return v;
    };
    switch (flag) {
      case '--listen': listen.push(parseListen(value())); break;
      case '--upstream': upstreams.push(...upstreamList(flag, value())); break;
      case '--route': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq <= 0) throw new ConfigError('command line', undefined, flag, `'${v}' is not SUFFIX=ADDR[,ADDR]`);
        routes.push({ suffix: v.slice(0, eq), upstreams: upstreamList(flag, v.slice(eq + 1)), internalOnly: true });
        break;
      }
      case '--fallback': fallback = upstreamList(flag, value()); break;
      case '--strategy': {
        const v = value();
        if (v !== 'failover' && v !== 'round-robin' && v !== 'parallel-best') throw new ConfigError('command line', undefined, flag, `unknown strategy '${v}'`);
        strategy = v;
        break;
      }
      case '--cache-size': cache.maxEntries = num(flag, value()); break;
      case '--min-ttl': cache.minTtlS = num(flag, value()); break;
      case '--max-ttl': cache.maxTtlS = num(flag, value()); break;
      case '--serve-stale': cache.staleMaxS = num(flag, value()); break;
      case '--timeout': attemptTimeoutMs = num(flag, value()); break;
      case '--query-timeout': queryTimeoutMs = num(flag, value()); break;
      case '--blocked-answer': {
        const v = value();
        if (v !== 'null-ip' && v !== 'nxdomain' && v !== 'refused') throw new ConfigError('command line', undefined, flag, `unknown form '${v}'`);
        blockedAnswer = v;
        break;
      }
      case '--no-private-reverse-nxdomain': privateReverseNxdomain = false; break;
      case '--udp-socket-per-query': upstreamTransport.udpMaxUsesPerSocket = 1; break;
      case '--log-level': logLevel = value(); break;
      default: throw new ConfigError('command line', undefined, flag, 'unknown option');
    }
  }
  if (upstreams.length === 0 && routes.length === 0) throw new ConfigError('command line', undefined, '--upstream', 'at least one upstream or route is required');
  return {
    ...DNS_DEFAULTS, listen: listen.length > 0 ? listen : DNS_DEFAULTS.listen, upstreams, routes, fallback, strategy, cache,
    attemptTimeoutMs, queryTimeoutMs, privateReverseNxdomain, blockedAnswer, upstreamTransport, logLevel,
  };
}

/** Entry point for `tsplane dns ARGS`: runs until SIGINT/SIGTERM. */
export async function dnsCommand(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config: ReturnType<typeof parseDnsArgs>;
  try {
    config = parseDnsArgs(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tsplane dns: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ name: 'dns', level: config.logLevel as 'info' });
  const service = await startDnsService(config, { logger, registry: createRegistry() });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
  return 0;
}
