/**
 * The upstream and route parts of the `dns:` config: server address forms, upstream groups
 * and split routes (suffixes and reverse zones from CIDRs). Validated into typed values here
 * so that the router and forwarder never parse a string.
 */
import type { ConfigNode } from '../runtime/config-file.js';
import { parseHostPort } from '../runtime/config-file.js';
import { formatIpAddress, parseIpAddress, type IpAddress, type IpPrefix } from '../runtime/ip-address.js';
import { normalizeDomain } from './blocklist.js';
import { SINGLE_LABEL_SUFFIX } from './router.js';

/** Upstream transports. `udp` retries over TCP when the answer is truncated (RFC 7766). */
export const UPSTREAM_PROTOCOLS = ['udp', 'tcp', 'tls', 'https'] as const;
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

/** How a group spreads queries over its servers. */
export const UPSTREAM_STRATEGIES = ['failover', 'parallel-best', 'round-robin'] as const;
export type UpstreamStrategy = (typeof UPSTREAM_STRATEGIES)[number];

/** Default ports: DNS 53 (RFC 1035), DoT 853 (RFC 7858 §3.1), DoH 443 (RFC 8484). */
export const DEFAULT_PORT: Readonly<Record<UpstreamProtocol, number>> = { udp: 53, tcp: 53, tls: 853, https: 443 };

/** One upstream server. */
export interface UpstreamServer {
  readonly protocol: UpstreamProtocol;
  /** The address to connect to (never a name: there is no bootstrap resolver). */
  readonly ip: IpAddress;
  /** `ip` as canonical text (`127.0.0.1`, `::1`), ready for node:dgram / node:net. */
  readonly address: string;
  readonly port: number;
  /** TLS server name to send (SNI) and verify (`tls`, `https`); the URL host unless `server_name` is given. */
  readonly serverName: string | undefined;
  /** DoH request path (`https` only), e.g. `/dns-query`. */
  readonly path: string | undefined;
  /** PEM CA bundle to verify the server against instead of the system store (`tls`, `https`). */
  readonly caFile: string | undefined;
  /** The address as written, for logs and metrics labels. */
  readonly label: string;
}

/** Health bookkeeping per server. */
export interface UpstreamHealth {
  /** Consecutive failures (timeouts, SERVFAIL, I/O errors) before a server is marked down. */
  readonly maxFailures: number;
  /** How long a down server is skipped before it is tried again. */
  readonly retryAfterMs: number;
}

/** A named set of servers with its own strategy, timeout and health (dns.md §2 item 19). */
export interface UpstreamGroup {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly strategy: UpstreamStrategy;
  /** Per-attempt timeout; after it the next server is tried or SERVFAIL is answered. */
  readonly timeoutMs: number;
  readonly health: UpstreamHealth;
}

/** One split route: names at or below `suffix` go to `group`. Reverse CIDRs become one route per zone. */
export interface DnsRoute {
  /** Lower case, no trailing dot, e.g. `home.lan` or `10.in-addr.arpa`. */
  readonly suffix: string;
  readonly group: string;
  /** Never fall back to the default group when `group` fails (answer SERVFAIL or stale data). */
  readonly internalOnly: boolean;
  /** The CIDR this reverse zone came from, as written; undefined for suffix routes. */
  readonly cidr: string | undefined;
}

/** Parses one entry of `servers:`: a string, or a mapping with `address` and TLS options. */
export function parseUpstreamServer(node: ConfigNode): UpstreamServer {
  const opts = node.kind === 'map' ? node.expectKeys(['address', 'ip', 'server_name', 'ca_file']) : undefined;
  const addrNode: ConfigNode = opts ? opts.require('address') : node;
  const text = addrNode.string();
  let protocol: UpstreamProtocol = 'udp';
  let rest = text;
  const scheme = /^([a-z]+):\/\//.exec(text);
  if (scheme) {
    const s = scheme[1]!;
    if (!(UPSTREAM_PROTOCOLS as readonly string[]).includes(s)) addrNode.fail(`unknown scheme '${s}://' (use udp://, tcp://, tls:// or https://)`);
    protocol = s as UpstreamProtocol;
    rest = text.slice(scheme[0].length);
  }
  let hostPortText = rest;
  let path: string | undefined;
  if (protocol === 'https') {
    const u = addrNode.url(['https']);
    path = `${u.pathname}${u.search}`;
    if (path === '/') addrNode.fail(`DoH URL needs a path, e.g. https://${u.host}/dns-query`);
    hostPortText = u.host;
  } else if (rest.includes('/')) {
    addrNode.fail(`'${text}' has a path; only https:// upstreams take one`);
  }
  const hp = parseHostPort(hostPortText, DEFAULT_PORT[protocol]);
  if (hp === undefined || hp.port === 0) addrNode.fail(`'${text}' is not a valid upstream address (e.g. 127.0.0.1:53, tls://127.0.0.1:853, https://127.0.0.1/dns-query)`);
  let ip = hp.ip;
  const ipNode = opts?.get('ip');
  if (ipNode) {
    if (ip !== undefined) ipNode.fail('only needed when the address uses a host name');
    ip = ipNode.ip();
  }
  if (ip === undefined) {
    if (protocol === 'udp' || protocol === 'tcp') addrNode.fail(`'${hp.host}' must be an IP address (plain DNS upstreams are not resolved by name)`);
    addrNode.fail(`'${hp.host}' is a host name: add 'ip:' with its address (there is no bootstrap resolver)`);
  }
  const encrypted = protocol === 'tls' || protocol === 'https';
  const snNode = opts?.get('server_name');
  const caNode = opts?.get('ca_file');
  if (!encrypted && snNode) snNode.fail(`only for tls:// and https:// upstreams`);
  if (!encrypted && caNode) caNode.fail(`only for tls:// and https:// upstreams`);
  let serverName: string | undefined;
  if (snNode) {
    serverName = normalizeDomain(snNode.string());
    if (serverName === undefined) snNode.fail('not a valid host name');
  } else if (encrypted) {
    serverName = hp.ip === undefined ? hp.host : formatIpAddress(hp.ip);
  }
  return { protocol, ip, address: formatIpAddress(ip), port: hp.port, serverName, path, caFile: caNode?.filePath(), label: text };
}

/** Parses one upstream group mapping. */
export function parseUpstreamGroup(name: string, node: ConfigNode): UpstreamGroup {
  node.expectKeys(['servers', 'strategy', 'timeout', 'health']);
  const serversNode = node.require('servers');
  const servers = serversNode.listOrOne().map(parseUpstreamServer);
  if (servers.length === 0) serversNode.fail('needs at least one server');
  const healthNode = node.get('health')?.expectKeys(['max_failures', 'retry_after']);
  return {
    name,
    servers,
    strategy: node.get('strategy')?.oneOf(UPSTREAM_STRATEGIES) ?? 'failover',
    timeoutMs: node.get('timeout')?.duration({ minMs: 10, maxMs: 60_000 }) ?? 2000,
    health: {
      maxFailures: healthNode?.get('max_failures')?.int({ min: 1, max: 1000 }) ?? 3,
      retryAfterMs: healthNode?.get('retry_after')?.duration({ minMs: 100, maxMs: 86_400_000 }) ?? 30_000,
    },
  };
}

/** Parses `routes:`; `groups` are the defined group names (unknown ones fail with a suggestion). */
export function parseRoutes(node: ConfigNode, groups: readonly string[]): DnsRoute[] {
  const out: DnsRoute[] = [];
  const seen = new Map<string, number>();
  for (const r of node.list()) {
    r.expectKeys(['suffix', 'reverse', 'single_label', 'group', 'internal_only']);
    const groupNode = r.require('group');
    const group = groupNode.oneOf(groups);
    const internalOnly = r.get('internal_only')?.bool() ?? true;
    const suffixNode = r.get('suffix');
    const reverseNode = r.get('reverse');
    const singleNode = r.get('single_label');
    if ([suffixNode, reverseNode, singleNode].filter((n) => n !== undefined).length !== 1) {
      r.fail("give exactly one of 'suffix' (a domain), 'reverse' (a CIDR) or 'single_label: true' (names without a dot)");
    }
    const add = (at: ConfigNode, suffix: string, cidr: string | undefined): void => {
      const first = seen.get(suffix);
      if (first !== undefined) at.fail(`route for '${suffix}' already given on line ${first}`);
      seen.set(suffix, at.line);
      out.push({ suffix, group, internalOnly, cidr });
    };
    if (singleNode) {
      if (!singleNode.bool()) singleNode.fail("write 'single_label: true', or leave the route out");
      add(singleNode, SINGLE_LABEL_SUFFIX, undefined);
    } else if (suffixNode) {
      const sn: ConfigNode = suffixNode;
      const suffix = normalizeDomain(suffixNode.string());
      if (suffix === undefined) sn.fail(`'${sn.string()}' is not a domain suffix (e.g. home.lan)`);
      add(sn, suffix, undefined);
    } else {
      const at: ConfigNode = reverseNode!;
      const cidr = at.cidr();
      for (const z of reverseZones(cidr)) add(at, z, at.string());
    }
  }
  return out;
}

/**
 * The reverse zones covering a prefix: `10.0.0.0/8` → `10.in-addr.arpa`; `192.168.0.0/23` →
 * `0.168.192.in-addr.arpa`, `1.168.192.in-addr.arpa` (rounded down to the label boundary:
 * 8 bits for IPv4, 4 for IPv6). At most 2^7 = 128 zones (IPv4) or 2^3 = 8 (IPv6) per prefix.
 */
export function reverseZones(prefix: IpPrefix): string[] {
  const unit = prefix.family === 4 ? 8 : 4;
  const labels = Math.ceil(prefix.prefixLength / unit);
  const extraBits = labels * unit - prefix.prefixLength;
  const count = 2 ** extraBits;
  const zones: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: number[] = [];
    for (let l = 0; l < labels; l++) {
      const bitOffset = l * unit;
      const byte = prefix.bytes[bitOffset >> 3]!;
      parts.push(unit === 8 ? byte : (bitOffset & 7) === 0 ? byte >> 4 : byte & 0xf);
    }
    if (labels > 0) parts[labels - 1] = parts[labels - 1]! + i;
    const suffix = prefix.family === 4 ? 'in-addr.arpa' : 'ip6.arpa';
    zones.push([...parts.reverse().map((p) => p.toString(unit === 8 ? 10 : 16)), suffix].join('.'));
  }
  return zones;
}

/** Parses one listener address (`127.0.0.1:53`, `[::1]:53`, or a bare IP meaning port 53). */
export function parseListenAddress(node: ConfigNode): { readonly ip: IpAddress; readonly address: string; readonly port: number } {
  const hp = node.hostPort({ defaultPort: 53, requireIp: true, allowZeroPort: true });
  const ip = parseIpAddress(hp.host)!;
  return { ip, address: formatIpAddress(ip), port: hp.port };
}
