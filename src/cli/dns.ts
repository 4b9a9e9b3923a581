/**
 * `tsplane dns`: the split-DNS forwarder as a command, and `startDnsService` for `tsplane run`
 * to embed it. Flags are turned into the same `dns:` mapping a config file holds and validated
 * by the one schema (src/dns/config.ts), so `--upstream x` and `upstreams: …` can never mean
 * different things, and every mistake names the flag.
 */
import type { Clock } from '../runtime/clock.js';
import { SystemClock } from '../runtime/clock.js';
import { parseConfigText } from '../runtime/config-file.js';
import { ConfigError } from '../runtime/errors.js';
import { createLogger, type Logger } from '../runtime/log.js';
import { Scheduler } from '../runtime/loop.js';
import { createRegistry, type Registry } from '../runtime/metrics.js';
import { SystemRng, type Rng } from '../runtime/rng.js';
import { loadDnsConfig, parseDnsConfig, type DnsConfig } from '../dns/config.js';
import { Forwarder, type ForwarderObserver, type UpstreamGroup } from '../dns/forwarder.js';
import { cacheOptionsFrom, forwarderRouting } from '../dns/forwarder-config.js';
import { startDnsServer, type ClientHandle, type ListenAddress } from '../dns/io/server.js';
import type { UdpListenerStats } from '../dns/io/udp-listener.js';
import type { RateLimitOptions } from '../dns/rate-limit.js';
import { ClientAccess } from '../dns/access-control.js';
import { startFiltering, type Filtering } from '../dns/io/filtering.js';
import { openQueryLog } from '../dns/io/query-log.js';
import type { UpstreamTransportOptions } from '../dns/io/upstream.js';
import { createDnsMetrics, rcodeLabel, registerDnsStateMetrics, type DnsMetrics, type QueryLogSink } from '../dns/metrics.js';

export interface DnsServiceDeps {
  readonly clock?: Clock;
  readonly rng?: Rng;
  readonly logger?: Logger;
  /** Metrics are registered here when the config enables them. */
  readonly registry?: Registry;
  /** The process scheduler; one is created (and stopped on close) when absent. */
  readonly scheduler?: Scheduler;
  /** Transport tuning (tests, benchmarks): UDP socket rotation, extra CA. */
  readonly upstream?: UpstreamTransportOptions;
  /** Answer unrouted private reverse zones NXDOMAIN locally (default true). */
  readonly privateReverseNxdomain?: boolean;
  /** Per-client query rate limit (dropped beyond it); default off. */
  readonly rateLimit?: RateLimitOptions | undefined;
  /** recvmmsg/sendmmsg batching on IPv4 UDP listeners (default true). */
  readonly udpBatch?: boolean | undefined;
}

export interface DnsService {
  readonly addresses: readonly ListenAddress[];
  readonly forwarder: Forwarder<ClientHandle>;
  readonly filtering: Filtering;
  /** Queries dropped by the per-client rate limit. */
  rateLimited(): bigint;
  /** Counters of the batched UDP path (recvmmsg/sendmmsg). */
  udpStats(): UdpListenerStats;
  /**
   * Applies `next` without closing a socket (SIGHUP): routes, upstream groups, blocklists,
   * access rules and rate limit. Only valid when `reconfigurable(current, next)`; the cache is
   * kept unless routes or upstreams changed.
   */
  reconfigure(next: DnsConfig): Promise<void>;
  close(): Promise<void>;
}

/** Stable text of a config part, for "did it change" (Uint8Array-safe). */
function keyOf(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x instanceof Map ? [...x.entries()] : x));
}

/** True when `next` differs from `prev` only in what `reconfigure` applies in place. */
export function reconfigurable(prev: DnsConfig, next: DnsConfig): boolean {
  return keyOf(prev.listeners) === keyOf(next.listeners) && keyOf(prev.cache) === keyOf(next.cache)
    && prev.metrics === next.metrics && keyOf(prev.queryLog) === keyOf(next.queryLog);
}

function clientText(c: ClientHandle): string {
  if (c.kind === 'udp') return c.address.includes(':') ? `[${c.address}]:${c.port}` : `${c.address}:${c.port}`;
  const a = c.conn.sock.remoteAddress ?? '?';
  return a.includes(':') ? `[${a}]:${c.conn.sock.remotePort ?? 0}` : `${a}:${c.conn.sock.remotePort ?? 0}`;
}

/** Bridges forwarder events to Prometheus metrics and the query log (either may be absent). */
function observerFor(metrics: DnsMetrics | undefined, log: QueryLogSink | undefined, clock: Clock): ForwarderObserver<ClientHandle> | undefined {
  if (!metrics && !log) return undefined;
  return {
    answered: (e) => {
      metrics?.query(e.route, e.rcode, e.cacheHit);
      log?.({
        timeMs: clock.wallTimeMs(), client: clientText(e.client), transport: e.transport, qname: e.qname, qtype: e.qtype, route: e.route,
        rcode: rcodeLabel(e.rcode), cacheHit: e.cacheHit, ...(e.list !== undefined ? { list: e.list } : {}),
        ...(e.upstream !== undefined ? { upstream: e.upstream.label ?? e.upstream.id } : {}), durationMs: e.durationMs,
      });
    },
    upstreamAnswered: (group, up, ms) => metrics?.upstream(group, up.label ?? up.id, ms),
    upstreamFailed: (group, up, reason) => metrics?.upstreamFailure(group, up.label ?? up.id, reason),
    blocked: (list) => metrics?.blocked(list),
  };
}

/** Per-attempt and whole-query timeouts from the groups' own timeouts. */
function forwarderTimeouts(groups: readonly UpstreamGroup[]): { attemptTimeoutMs: number; queryTimeoutMs: number } {
  return {
    attemptTimeoutMs: Math.max(...groups.map((g) => g.timeoutMs ?? 0), 1_000),
    queryTimeoutMs: Math.max(4_000, 2 * Math.max(...groups.map((g) => (g.timeoutMs ?? 1_000) * Math.max(1, g.upstreams.length)))),
  };
}

/** Starts filtering (local records, blocklists), the forwarder and its listeners. */
export async function startDnsService(config: DnsConfig, deps: DnsServiceDeps = {}): Promise<DnsService> {
  const clock = deps.clock ?? new SystemClock();
  const rng = deps.rng ?? new SystemRng();
  const logger = deps.logger ?? createLogger({ name: 'dns' });
  const ownScheduler = deps.scheduler === undefined;
  const scheduler = deps.scheduler ?? new Scheduler(clock);
  const metrics = config.metrics && deps.registry ? createDnsMetrics(deps.registry) : undefined;
  const queryLog = openQueryLog(config.queryLog, logger);
  const filtering = await startFiltering(config, { clock, logger, scheduler, ...(metrics ? { metrics } : {}) });
  const { groups, routes, fallbackGroup } = forwarderRouting(config, deps.privateReverseNxdomain ?? true);
  const forwarder = new Forwarder<ClientHandle>({
    groups, routes, fallbackGroup, rng, cache: cacheOptionsFrom(config.cache), policy: filtering.policy,
    blockedAnswer: config.blocking.answer, blockedTtlS: config.blocking.blockedTtlS,
    ...forwarderTimeouts(groups),
    observer: observerFor(metrics, queryLog.sink, clock) as ForwarderObserver<unknown> | undefined,
  });
  let server;
  try {
    server = await startDnsServer({
      listen: config.listeners.map((l) => ({ host: l.address, port: l.port })), forwarder, scheduler, clock, logger, upstream: deps.upstream ?? {},
      rateLimit: deps.rateLimit ?? config.rateLimit, udpBatch: deps.udpBatch, access: new ClientAccess(config.access),
    });
  } catch (err) {
    filtering.close();
    await queryLog.close();
    if (ownScheduler) scheduler.stop();
    throw err;
  }
  if (metrics && deps.registry) {
    const srv = server;
    registerDnsStateMetrics(deps.registry, {
      forwarderStats: () => forwarder.stats as unknown as Record<string, bigint>, cacheEntries: () => forwarder.cache.size,
      cacheBytes: () => forwarder.cache.bytes, rateLimited: () => srv.rateLimited(),
    });
  }
  logger.info({ listen: server.addresses, groups: groups.map((g) => g.name), routes: config.routes.length }, 'dns: forwarder listening');
  let current = config;
  let currentFiltering = filtering;
  const running = server;
  return {
    addresses: server.addresses,
    forwarder,
    get filtering() {
      return currentFiltering;
    },
    rateLimited: server.rateLimited,
    udpStats: server.udpStats,
    async reconfigure(next) {
      if (keyOf(current.blocking) !== keyOf(next.blocking)) {
        // New lists: load them before swapping, so a bad list leaves the running policy alone.
        const fresh = await startFiltering(next, { clock, logger, scheduler, ...(metrics ? { metrics } : {}) });
        const old = currentFiltering;
        currentFiltering = fresh;
        old.close();
      }
      const routing = forwarderRouting(next, deps.privateReverseNxdomain ?? true);
      const routesChanged = keyOf([current.routes, current.defaultGroup, [...current.groups]]) !== keyOf([next.routes, next.defaultGroup, [...next.groups]]);
      forwarder.reconfigure({
        groups: routing.groups, routes: routing.routes, fallbackGroup: routing.fallbackGroup, policy: currentFiltering.policy,
        blockedAnswer: next.blocking.answer, blockedTtlS: next.blocking.blockedTtlS, ...forwarderTimeouts(routing.groups),
      }, routesChanged);
      running.reconfigure({ access: new ClientAccess(next.access), rateLimit: deps.rateLimit ?? next.rateLimit });
      current = next;
      logger.info({ groups: routing.groups.map((g) => g.name), routes: next.routes.length, cacheFlushed: routesChanged }, 'dns: reloaded in place');
    },
    close: async () => {
      await server.close();
      currentFiltering.close();
      await queryLog.close();
      if (ownScheduler) scheduler.stop();
    },
  };
}

const USAGE = `usage: tsplane dns [--config FILE] [options]
  --config FILE               a YAML file with a dns: section (see examples/dns.yaml)
  --listen HOST:PORT          address to serve UDP+TCP on (repeatable; default 127.0.0.1:5353)
  --upstream ADDR[,ADDR]      default upstreams: IP[:PORT], tcp://IP, tls://IP[:853], https://IP/dns-query
  --route SUFFIX=ADDR[,ADDR]  names under SUFFIX (or reverse zones of a CIDR) go to ADDR; internal-only (repeatable)
  --strategy NAME             failover | round-robin | parallel-best (default failover)
  --timeout DURATION          per-upstream timeout, e.g. 1s (default 2s)
  --blocklist FILE|URL        hosts / domain / adblock list (repeatable)
  --blocked-answer FORM       null_ip | nxdomain | refused (default null_ip)
  --cache-size N              cached answers (default 10000; 0 disables the cache)
  --min-ttl / --max-ttl DUR   clamp cached TTLs
  --serve-stale DURATION      answer expired data this long past expiry when upstreams fail (0s: off)
  --no-private-reverse-nxdomain  forward unrouted private reverse lookups instead of answering NXDOMAIN
  --rate-limit QPS            per-client queries per second (burst 2×); more are dropped (default off)
  --udp-socket-per-query      a new UDP socket for every upstream query (default: a rotated pool)
  --no-udp-batch              one receive/send syscall per client datagram instead of recvmmsg/sendmmsg batches
  --no-upstream-batch         upstream UDP queries through dgram (one event per reply) instead of sendto + recvmmsg on our own fds
  --log-level LEVEL           pino level (default info)
With --config, only --listen, --log-level and --rate-limit may be added (--listen overrides the file).
`;

export interface DnsCommandOptions {
  readonly config: DnsConfig;
  readonly logLevel: string;
  readonly privateReverseNxdomain: boolean;
  readonly upstream: UpstreamTransportOptions;
  readonly rateLimit: RateLimitOptions | undefined;
  readonly udpBatch: boolean;
}

/** Parses `tsplane dns` flags (throws ConfigError naming the flag). */
export function parseDnsArgs(args: readonly string[], cwd = process.cwd()): DnsCommandOptions {
  const listen: string[] = [];
  const upstreams: string[] = [];
  const routes: { key: 'suffix' | 'reverse'; value: string; servers: string[] }[] = [];
  const lists: string[] = [];
  const cache: Record<string, unknown> = {};
  const blocking: Record<string, unknown> = {};
  let strategy: string | undefined;
  let timeout: string | undefined;
  let configFile: string | undefined;
  let logLevel = 'info';
  let privateReverseNxdomain = true;
  const upstream: { udpMaxUsesPerSocket?: number; udpOwnFd?: boolean } = {};
  let routingFlags = false;
  let rateLimit: RateLimitOptions | undefined;
  let udpBatch = true;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ConfigError('command line', undefined, flag, 'needs a value');
      return v;
    };
    routingFlags ||= !['--config', '--listen', '--log-level', '--udp-socket-per-query', '--no-udp-batch', '--no-upstream-batch', '--no-private-reverse-nxdomain', '--rate-limit'].includes(flag);
    switch (flag) {
      case '--config': configFile = value(); break;
      case '--listen': listen.push(value()); break;
      case '--upstream': upstreams.push(...value().split(',').filter((s) => s !== '')); break;
      case '--route': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq <= 0) throw new ConfigError('command line', undefined, flag, `'${v}' is not SUFFIX=ADDR[,ADDR]`);
        const target = v.slice(0, eq);
        routes.push({ key: target.includes('/') ? 'reverse' : 'suffix', value: target, servers: v.slice(eq + 1).split(',').filter((s) => s !== '') });
        break;
      }
      case '--strategy': strategy = value(); break;
      case '--timeout': timeout = value(); break;
      case '--blocklist': lists.push(value()); break;
      case '--blocked-answer': blocking.answer = value(); break;
      case '--cache-size': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) throw new ConfigError('command line', undefined, flag, 'must be a whole number ≥ 0');
        if (n === 0) cache.enabled = false;
        else cache.max_entries = n;
        break;
      }
      case '--min-ttl': cache.min_ttl = value(); break;
      case '--max-ttl': cache.max_ttl = value(); break;
      case '--serve-stale': {
        const v = value();
        if (/^0+[a-z]*$/.test(v)) cache.serve_stale = false;
        else cache.max_stale = v;
        break;
      }
      case '--no-private-reverse-nxdomain': privateReverseNxdomain = false; break;
      case '--udp-socket-per-query': upstream.udpMaxUsesPerSocket = 1; break;
      case '--no-udp-batch': udpBatch = false; break;
      case '--no-upstream-batch': upstream.udpOwnFd = false; break;
      case '--rate-limit': {
        const qps = Number(value());
        if (!(qps > 0) || !Number.isFinite(qps)) throw new ConfigError('command line', undefined, flag, 'must be a number of queries per second > 0');
        rateLimit = { qps };
        break;
      }
      case '--log-level': logLevel = value(); break;
      default: throw new ConfigError('command line', undefined, flag, 'unknown option (see tsplane dns --help)');
    }
  }
  let config: DnsConfig;
  if (configFile !== undefined) {
    if (routingFlags) throw new ConfigError('command line', undefined, '--config', 'give either --config or upstream/route flags, not both');
    config = loadDnsConfig(configFile);
    if (listen.length > 0) config = { ...config, listeners: parseFromFlags({ listen, upstreams: { default: { servers: ['127.0.0.1'] } } }, cwd).listeners };
  } else {
    if (upstreams.length === 0 && routes.length === 0) throw new ConfigError('command line', undefined, '--upstream', 'at least one --upstream or --route is required');
    const group = (servers: string[]) => ({ servers, ...(strategy ? { strategy } : {}), ...(timeout ? { timeout } : {}) });
    const groups: Record<string, unknown> = {};
    if (upstreams.length > 0) groups.default = group(upstreams);
    for (const r of routes) groups[r.value] = group(r.servers);
    const mapping = {
      listen: listen.length > 0 ? listen : ['127.0.0.1:5353'],
      upstreams: groups,
      routes: routes.map((r) => ({ [r.key]: r.value, group: r.value, internal_only: true })),
      default_group: upstreams.length > 0 ? 'default' : routes[0]!.value,
      cache,
      blocking: { ...blocking, ...(lists.length > 0 ? { lists } : {}) },
    };
    config = parseFromFlags(mapping, cwd);
  }
  return { config, logLevel, privateReverseNxdomain, upstream, rateLimit, udpBatch };
}

/** Which flag wrote which key of the generated mapping, for error messages. */
const FLAG_FOR_KEY: [RegExp, string][] = [
  [/^upstreams\.default\./, '--upstream'], [/^upstreams[.[]/, '--route'], [/^routes/, '--route'], [/^listen/, '--listen'],
  [/^blocking\.lists/, '--blocklist'], [/^blocking\.answer/, '--blocked-answer'], [/^cache\.min_ttl/, '--min-ttl'],
  [/^cache\.max_ttl/, '--max-ttl'], [/^cache\.max_stale/, '--serve-stale'], [/^cache\./, '--cache-size'],
];

/** Validates a flags-built mapping with the config schema; errors name the flag, not the generated key. */
function parseFromFlags(mapping: unknown, cwd: string): DnsConfig {
  try {
    // JSON is YAML: the schema and its checks apply unchanged.
    return parseDnsConfig(parseConfigText(JSON.stringify(mapping), 'command line', { baseDir: cwd }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const flag = FLAG_FOR_KEY.find(([re]) => re.test(err.key))?.[1] ?? err.key;
    const problem = err.message.slice(err.message.indexOf(`${err.key}: `) + err.key.length + 2);
    const strategyOrTimeout = /\.(strategy|timeout)$/.exec(err.key)?.[1];
    throw new ConfigError('command line', undefined, strategyOrTimeout ? `--${strategyOrTimeout}` : flag, problem);
  }
}

/** Entry point for `tsplane dns ARGS`: runs until SIGINT/SIGTERM. */
export async function dnsCommand(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let opts: DnsCommandOptions;
  try {
    opts = parseDnsArgs(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tsplane dns: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ name: 'dns', level: opts.logLevel as 'info' });
  const service = await startDnsService(opts.config, {
    logger, registry: createRegistry(), privateReverseNxdomain: opts.privateReverseNxdomain, upstream: opts.upstream, rateLimit: opts.rateLimit,
    udpBatch: opts.udpBatch,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
  return 0;
}
