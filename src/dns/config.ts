/**
 * The `dns:` config section (also a whole file for `tsplane dns --config FILE`) → a typed,
 * validated `DnsConfig`. Every mistake is a ConfigError naming file, line and key; past this
 * point nothing is a free string (enums are `as const` unions, durations carry units).
 * The schema is documented key by key in examples/dns.yaml.
 */
import { loadConfigFile, type ConfigNode, type ConfigSources } from '../runtime/config-file.js';
import type { IpAddress } from '../runtime/ip-address.js';
import type { AccessControlConfig } from './access-control.js';
import type { RateLimitOptions } from './rate-limit.js';
import { normalizeDomain } from './blocklist.js';
import { LOCAL_RECORD_TYPES, MAX_TTL_S, type LocalRecordInput } from './local-records.js';
import { BLOCK_ANSWER_MODES, type BlockAnswerMode } from './policy.js';
import { encodeA, encodeAaaa, encodeName, encodeTxt } from './rdata.js';
import { parseListenAddress, parseRoutes, parseUpstreamGroup, type DnsRoute, type UpstreamGroup } from './config-upstreams.js';

export * from './config-upstreams.js';

/** A listening address; the server listens on UDP and TCP there. */
export interface DnsListener {
  readonly ip: IpAddress;
  /** `ip` as canonical text, ready for node:dgram / node:net. */
  readonly address: string;
  /** 0 means "any free port" (tests). */
  readonly port: number;
}

export interface DnsCacheConfig {
  readonly enabled: boolean;
  readonly maxEntries: number;
  /** Cached TTLs are raised to at least this… */
  readonly minTtlS: number;
  /** …and cut to at most this. */
  readonly maxTtlS: number;
  /** Cap on negative answers' TTL (RFC 2308 §5: from the SOA, capped here). */
  readonly negativeTtlS: number;
  /** How long SERVFAIL is remembered (dns.md §2 item 17). */
  readonly servfailTtlS: number;
  /** RFC 8767 serve-stale: answer expired data when the upstream fails. */
  readonly serveStale: boolean;
  /** How long past expiry stale data is kept. */
  readonly maxStaleS: number;
  /** TTL put on stale answers (RFC 8767 §4 suggests 30 s). */
  readonly staleAnswerTtlS: number;
  /** Refresh popular entries in the background before they expire (unbound `prefetch`). */
  readonly prefetch: boolean;
}

/** Where a blocklist comes from. */
export type BlocklistSourceConfig =
  | { readonly kind: 'file'; readonly name: string; readonly path: string }
  | { readonly kind: 'url'; readonly name: string; readonly url: string };

export interface DnsBlockingConfig {
  readonly sources: readonly BlocklistSourceConfig[];
  readonly refreshMs: number;
  /** Downloads and files larger than this are refused (the last good copy stays). */
  readonly maxListBytes: number;
  /** Allowlist entries in list syntax (`name`, `*.name`, `||name^`). */
  readonly allowlist: readonly string[];
  readonly answer: BlockAnswerMode;
  readonly blockedTtlS: number;
  readonly cnameCheck: boolean;
}

export interface DnsLocalConfig {
  /** Names this server is authoritative for (absent names below them get NXDOMAIN). */
  readonly zones: readonly string[];
  readonly autoPtr: boolean;
  readonly defaultTtlS: number;
  readonly records: readonly LocalRecordInput[];
}

/** Query log destination: off, the process logger, or a JSON-lines file. */
export type QueryLogConfig = { readonly kind: 'off' } | { readonly kind: 'log' } | { readonly kind: 'file'; readonly path: string };

export interface DnsConfig {
  readonly listeners: readonly DnsListener[];
  readonly groups: ReadonlyMap<string, UpstreamGroup>;
  readonly routes: readonly DnsRoute[];
  readonly defaultGroup: string;
  readonly cache: DnsCacheConfig;
  readonly blocking: DnsBlockingConfig;
  readonly local: DnsLocalConfig;
  readonly metrics: boolean;
  readonly queryLog: QueryLogConfig;
  /** `access: { allow, deny }`: clients served, refused or ignored (default: everyone). */
  readonly access: AccessControlConfig;
  /** `rate_limit: { qps, burst }` per client address; over-limit queries are dropped. */
  readonly rateLimit?: RateLimitOptions;
}

const DAY_MS = 86_400_000;
const ttlS = (n: ConfigNode | undefined, fallbackS: number, maxMs = 7 * DAY_MS): number =>
  n === undefined ? fallbackS : Math.floor(n.duration({ maxMs: Math.min(maxMs, MAX_TTL_S * 1000) }) / 1000);

/** The `dns:` mapping of a full tsplane file, or the whole file when it has no `dns:` key. */
export function dnsSection(root: ConfigNode): ConfigNode {
  return root.get('dns') ?? root;
}

/** Validates a `dns:` mapping. */
export function parseDnsConfig(node: ConfigNode): DnsConfig {
  node.expectKeys(['listen', 'upstreams', 'routes', 'default_group', 'cache', 'blocking', 'local', 'metrics', 'query_log', 'access', 'rate_limit']);
  const listenNode = node.require('listen');
  const listeners = listenNode.listOrOne().map(parseListenAddress);
  if (listeners.length === 0) listenNode.fail('needs at least one address');

  const upNode = node.require('upstreams');
  const groups = new Map<string, UpstreamGroup>();
  for (const [name, g] of upNode.entries()) groups.set(name, parseUpstreamGroup(name, g));
  if (groups.size === 0) upNode.fail('needs at least one upstream group');
  const names = [...groups.keys()];

  const defaultNode = node.get('default_group');
  if (defaultNode === undefined && groups.size > 1) node.fail(`missing required key 'default_group' (one of ${names.join(', ')})`);
  const defaultGroup = defaultNode ? defaultNode.oneOf(names) : names[0]!;

  return {
    listeners,
    groups,
    routes: node.get('routes') ? parseRoutes(node.require('routes'), names) : [],
    defaultGroup,
    cache: parseCache(node.get('cache')),
    blocking: parseBlocking(node.get('blocking')),
    local: parseLocal(node.get('local')),
    metrics: node.get('metrics')?.bool() ?? true,
    queryLog: parseQueryLog(node.get('query_log')),
    access: parseAccess(node.get('access')),
    ...(node.has('rate_limit') ? { rateLimit: parseRateLimit(node.require('rate_limit')) } : {}),
  };
}

function parseAccess(n: ConfigNode | undefined): AccessControlConfig {
  n?.expectKeys(['allow', 'deny']);
  const prefixes = (k: string) => n?.get(k)?.listOrOne().map((p) => p.cidr()) ?? [];
  return { allow: prefixes('allow'), deny: prefixes('deny') };
}

function parseRateLimit(n: ConfigNode): RateLimitOptions {
  n.expectKeys(['qps', 'burst']);
  const qps = n.require('qps').int({ min: 1, max: 1_000_000 });
  return { qps, ...(n.has('burst') ? { burst: n.require('burst').int({ min: 1, max: 10_000_000 }) } : {}) };
}

function parseCache(n: ConfigNode | undefined): DnsCacheConfig {
  n?.expectKeys(['enabled', 'max_entries', 'min_ttl', 'max_ttl', 'negative_ttl', 'servfail_ttl', 'serve_stale', 'max_stale', 'stale_answer_ttl', 'prefetch']);
  const minTtlS = ttlS(n?.get('min_ttl'), 0, 3_600_000);
  const maxTtlS = ttlS(n?.get('max_ttl'), 86_400);
  if (minTtlS > maxTtlS) n!.require('min_ttl').fail(`larger than max_ttl (${maxTtlS}s)`);
  return {
    enabled: n?.get('enabled')?.bool() ?? true,
    maxEntries: n?.get('max_entries')?.int({ min: 1, max: 10_000_000 }) ?? 10_000,
    minTtlS,
    maxTtlS,
    negativeTtlS: ttlS(n?.get('negative_ttl'), 300),
    servfailTtlS: ttlS(n?.get('servfail_ttl'), 5, 300_000),
    serveStale: n?.get('serve_stale')?.bool() ?? true,
    maxStaleS: ttlS(n?.get('max_stale'), 86_400, 30 * DAY_MS),
    staleAnswerTtlS: ttlS(n?.get('stale_answer_ttl'), 30, 3_600_000),
    prefetch: n?.get('prefetch')?.bool() ?? false,
  };
}

function parseBlocking(n: ConfigNode | undefined): DnsBlockingConfig {
  n?.expectKeys(['lists', 'refresh', 'max_list_size', 'allowlist', 'answer', 'blocked_ttl', 'cname_check']);
  const sources: BlocklistSourceConfig[] = [];
  const seen = new Set<string>();
  for (const s of n?.get('lists')?.list() ?? []) {
    const entry = s.kind === 'map' ? s.expectKeys(['path', 'url', 'name']) : undefined;
    const pathNode = entry ? entry.get('path') : s.string().includes('://') ? undefined : s;
    const urlNode = entry ? entry.get('url') : s.string().includes('://') ? s : undefined;
    if ((pathNode === undefined) === (urlNode === undefined)) s.fail("give exactly one of 'path' or 'url'");
    const src: BlocklistSourceConfig = urlNode
      ? { kind: 'url', url: urlNode.url(['http', 'https']).href, name: entry?.get('name')?.string() ?? urlNode.string() }
      : { kind: 'file', path: pathNode!.filePath(), name: entry?.get('name')?.string() ?? pathNode!.string() };
    if (seen.has(src.name)) s.fail(`list '${src.name}' is given twice`);
    seen.add(src.name);
    sources.push(src);
  }
  const allowlist = (n?.get('allowlist')?.list() ?? []).map((a: ConfigNode) => {
    const text = a.string();
    const bare = text.replace(/^@@/, '').replace(/^\|\|/, '').replace(/\^$/, '').replace(/^\*\./, '');
    if (normalizeDomain(bare) === undefined) a.fail(`'${text}' is not a domain (forms: name, *.name, ||name^)`);
    return text;
  });
  return {
    sources,
    refreshMs: n?.get('refresh')?.duration({ minMs: 60_000, maxMs: 30 * DAY_MS }) ?? DAY_MS,
    maxListBytes: n?.get('max_list_size')?.size({ minBytes: 1024, maxBytes: 1024 ** 3 }) ?? 64 * 1024 * 1024,
    allowlist,
    answer: n?.get('answer')?.oneOf(BLOCK_ANSWER_MODES) ?? 'null_ip',
    blockedTtlS: ttlS(n?.get('blocked_ttl'), 300, DAY_MS),
    cnameCheck: n?.get('cname_check')?.bool() ?? true,
  };
}

function parseLocal(n: ConfigNode | undefined): DnsLocalConfig {
  n?.expectKeys(['zones', 'auto_ptr', 'ttl', 'records']);
  const zones = (n?.get('zones')?.listOrOne() ?? []).map((z: ConfigNode) => {
    const name = normalizeDomain(z.string());
    if (name === undefined) z.fail(`'${z.string()}' is not a domain name`);
    return name;
  });
  const defaultTtlS = ttlS(n?.get('ttl'), 300);
  const records = (n?.get('records')?.list() ?? []).map((r) => parseLocalRecord(r, defaultTtlS));
  return { zones, autoPtr: n?.get('auto_ptr')?.bool() ?? false, defaultTtlS, records };
}

/** `{ name, type, value, ttl? }`; TXT `value` may be a string or a list of strings. */
function parseLocalRecord(r: ConfigNode, defaultTtlS: number): LocalRecordInput {
  r.expectKeys(['name', 'type', 'value', 'ttl']);
  const nameNode: ConfigNode = r.require('name');
  const name = normalizeDomain(nameNode.string());
  if (name === undefined || encodeName(name) === undefined) nameNode.fail(`'${nameNode.string()}' is not a valid domain name`);
  const type = r.require('type').oneOf(LOCAL_RECORD_TYPES);
  const ttl = ttlS(r.get('ttl'), defaultTtlS);
  const v: ConfigNode = r.require('value');
  switch (type) {
    case 'A':
    case 'AAAA': {
      const address = v.string();
      if ((type === 'A' ? encodeA(address) : encodeAaaa(address)) === undefined) v.fail(`'${address}' is not an ${type === 'A' ? 'IPv4' : 'IPv6'} address`);
      return { name, type, address, ttl };
    }
    case 'CNAME':
    case 'PTR': {
      const target = normalizeDomain(v.string());
      if (target === undefined || encodeName(target) === undefined) v.fail(`'${v.string()}' is not a valid domain name`);
      return { name, type, target, ttl };
    }
    case 'TXT': {
      const text = v.listOrOne().map((t) => t.string({ allowEmpty: true }));
      if (encodeTxt(text) === undefined) v.fail('TXT data must be 1 to 65535 octets in total');
      return { name, type, text, ttl };
    }
  }
}

function parseQueryLog(n: ConfigNode | undefined): QueryLogConfig {
  if (n === undefined) return { kind: 'off' };
  if (n.kind === 'boolean') return n.bool() ? { kind: 'log' } : { kind: 'off' };
  n.expectKeys(['enabled', 'file']);
  if (!(n.get('enabled')?.bool() ?? true)) return { kind: 'off' };
  const file = n.get('file');
  return file ? { kind: 'file', path: file.filePath() } : { kind: 'log' };
}

/** Loads and validates a file for `tsplane dns --config FILE` (a `dns:` key, or the section itself). */
export function loadDnsConfig(path: string, opts: { env?: ConfigSources['env'] } = {}): DnsConfig {
  return parseDnsConfig(dnsSection(loadConfigFile(path, opts)));
}
