/**
 * From the validated `DnsConfig` (config.ts, owned by the filter side) to the forwarder's own
 * inputs: upstream specs, groups, the route table, cache options. Pure; runs once at startup.
 *
 * Semantics kept from the config schema: a route whose group fails falls back to
 * `default_group` unless it is `internal_only` (dns.md §2 item 19). Private reverse zones
 * (RFC 1918, RFC 6598, RFC 4193, link-local) that no route covers are answered NXDOMAIN locally,
 * like dnsmasq `--bogus-priv`, so they never reach public upstreams (dns.md §2 item 20).
 */
import type { CacheOptions } from './cache.js';
import type { DnsCacheConfig, DnsConfig, UpstreamServer } from './config.js';
import type { UpstreamGroup } from './forwarder-types.js';
import { LOCAL_NXDOMAIN_GROUP, PRIVATE_REVERSE_CIDRS, RouteTable, reverseZonesForCidr, type Route } from './router.js';
import type { UpstreamSpec } from './upstream-spec.js';

/** One configured server as the transports see it. */
export function upstreamSpecFrom(server: UpstreamServer): UpstreamSpec {
  const hostPart = server.ip.family === 6 ? `[${server.address}]` : server.address;
  const path = server.path ?? '/dns-query';
  const id = server.protocol === 'https'
    ? `https://${hostPart}:${server.port}${path}`
    : `${server.protocol === 'udp' ? '' : `${server.protocol}://`}${hostPart}:${server.port}`;
  return {
    id, transport: server.protocol, host: server.address, port: server.port, path, family: server.ip.family,
    serverName: server.serverName, caFile: server.caFile, label: server.label,
  };
}

export interface ForwarderRouting {
  readonly groups: UpstreamGroup[];
  readonly routes: RouteTable;
  readonly fallbackGroup: string;
}

/** Groups and routes for the forwarder; `privateReverseNxdomain` adds the local NXDOMAIN routes. */
export function forwarderRouting(config: DnsConfig, privateReverseNxdomain = true): ForwarderRouting {
  const groups: UpstreamGroup[] = [...config.groups.values()].map((g) => ({
    name: g.name, upstreams: g.servers.map(upstreamSpecFrom), strategy: g.strategy, timeoutMs: g.timeoutMs, health: g.health,
  }));
  const routes: Route[] = config.routes.map((r) => ({ suffix: r.suffix, group: r.group, internalOnly: r.internalOnly }));
  if (privateReverseNxdomain) {
    const table = new RouteTable(routes, config.defaultGroup);
    const local: Route[] = [];
    for (const cidr of PRIVATE_REVERSE_CIDRS) {
      for (const suffix of reverseZonesForCidr(cidr) ?? []) {
        // Only zones no configured route covers (itself or a parent); more specific routes still win.
        if (table.lookup(suffix).suffix === '') local.push({ suffix, group: LOCAL_NXDOMAIN_GROUP, internalOnly: true });
      }
    }
    routes.unshift(...local);
  }
  return { groups, routes: new RouteTable(routes, config.defaultGroup), fallbackGroup: config.defaultGroup };
}

/** Cache options from the `cache:` section. */
export function cacheOptionsFrom(c: DnsCacheConfig): Partial<CacheOptions> {
  return {
    maxEntries: c.enabled ? c.maxEntries : 0,
    minTtlS: c.minTtlS,
    maxTtlS: c.maxTtlS,
    maxNegativeTtlS: c.negativeTtlS,
    servfailTtlS: c.enabled ? c.servfailTtlS : 0,
    staleMaxS: c.serveStale ? c.maxStaleS : 0,
    staleAnswerTtlS: c.staleAnswerTtlS,
    prefetch: c.enabled && c.prefetch,
  };
}
