import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ConfigError, parseConfigText } from '../../src/runtime/config-file.js';
import { dnsSection, loadDnsConfig, parseDnsConfig, reverseZones, type DnsConfig } from '../../src/dns/config.js';
import { parseIpPrefix } from '../../src/runtime/ip-address.js';
import { toHex } from '../../src/runtime/bytes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const FILE = 'dns-test.yaml';

function parse(text: string): DnsConfig {
  return parseDnsConfig(dnsSection(parseConfigText(text, FILE, { baseDir: '/etc/tsplane' })));
}

function configError(text: string): ConfigError {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const MINIMAL = `
dns:
  listen: 127.0.0.1:5353
  upstreams:
    public:
      servers: 127.0.0.1:5301
`;

describe('parseDnsConfig: valid configs', () => {
  it('fills every default from a minimal config', () => {
    const c = parse(MINIMAL);
    expect(c.listeners.map((l) => [toHex(l.ip.bytes), l.port])).toEqual([['7f000001', 5353]]);
    expect(c.defaultGroup).toBe('public');
    expect(c.groups.get('public')).toEqual({
      name: 'public',
      servers: [{ protocol: 'udp', ip: { family: 4, bytes: new Uint8Array([127, 0, 0, 1]) }, address: '127.0.0.1', port: 5301, serverName: undefined, path: undefined, caFile: undefined, label: '127.0.0.1:5301' }],
      strategy: 'failover',
      timeoutMs: 2000,
      health: { maxFailures: 3, retryAfterMs: 30_000 },
    });
    expect(c.routes).toEqual([]);
    expect(c.cache).toEqual({ enabled: true, maxEntries: 10_000, minTtlS: 0, maxTtlS: 86_400, negativeTtlS: 300, servfailTtlS: 5, serveStale: true, maxStaleS: 86_400, staleAnswerTtlS: 30, prefetch: false });
    expect(c.blocking).toEqual({ sources: [], refreshMs: 86_400_000, maxListBytes: 64 * 1024 * 1024, allowlist: [], answer: 'null_ip', blockedTtlS: 300, cnameCheck: true });
    expect(c.local).toEqual({ zones: [], autoPtr: false, defaultTtlS: 300, records: [] });
    expect(c.metrics).toBe(true);
    expect(c.queryLog).toEqual({ kind: 'off' });
  });

  it('accepts the section as a whole file (no dns: key)', () => {
    expect(parse('listen: "[::1]:53"\nupstreams: { a: { servers: ["::1"] } }\n').groups.get('a')!.servers[0]!.port).toBe(53);
  });

  it('parses every upstream form', () => {
    const c = parse(`
listen: [127.0.0.1, "127.0.0.2:0"]
upstreams:
  g:
    strategy: round-robin
    timeout: 300ms
    health: { max_failures: 5, retry_after: 1m }
    servers:
      - 127.0.0.1
      - udp://127.0.0.1:5300
      - tcp://[::1]:5300
      - tls://127.0.0.1
      - https://127.0.0.1:8443/dns-query
      - { address: "tls://dns.example:853", ip: 127.0.0.1, ca_file: ca.pem }
      - { address: "https://127.0.0.1/q?x=1", server_name: dns.example }
`);
    const g = c.groups.get('g')!;
    expect([g.strategy, g.timeoutMs, g.health]).toEqual(['round-robin', 300, { maxFailures: 5, retryAfterMs: 60_000 }]);
    expect(g.servers.map((s) => [s.protocol, s.ip.family, s.port, s.serverName, s.path, s.caFile])).toEqual([
      ['udp', 4, 53, undefined, undefined, undefined],
      ['udp', 4, 5300, undefined, undefined, undefined],
      ['tcp', 6, 5300, undefined, undefined, undefined],
      ['tls', 4, 853, '127.0.0.1', undefined, undefined],
      ['https', 4, 8443, '127.0.0.1', '/dns-query', undefined],
      ['tls', 4, 853, 'dns.example', undefined, '/etc/tsplane/ca.pem'],
      ['https', 4, 443, 'dns.example', '/q?x=1', undefined],
    ]);
    expect(c.listeners.map((l) => [l.address, l.port])).toEqual([['127.0.0.1', 53], ['127.0.0.2', 0]]);
    expect(g.servers[2]!.address).toBe('::1');
  });

  it('turns routes into suffixes, reverse CIDRs into zones, internal_only defaulting to true', () => {
    const c = parse(`${MINIMAL}    internal:
      servers: [127.0.0.1:5300]
  default_group: public
  routes:
    - { suffix: Home.LAN., group: internal }
    - { reverse: 192.168.0.0/23, group: internal, internal_only: false }
    - { reverse: "fd00::/8", group: internal }
`);
    expect(c.routes).toEqual([
      { suffix: 'home.lan', group: 'internal', internalOnly: true, cidr: undefined },
      { suffix: '0.168.192.in-addr.arpa', group: 'internal', internalOnly: false, cidr: '192.168.0.0/23' },
      { suffix: '1.168.192.in-addr.arpa', group: 'internal', internalOnly: false, cidr: '192.168.0.0/23' },
      { suffix: 'd.f.ip6.arpa', group: 'internal', internalOnly: true, cidr: 'fd00::/8' },
    ]);
  });

  it('parses blocking, local records and the query log', () => {
    const c = parse(`${MINIMAL}  blocking:
    lists: [lists/ads.txt, "https://127.0.0.1/hosts", { url: "http://127.0.0.1:8080/x", name: mirror }]
    refresh: 6h
    max_list_size: 10MB
    allowlist: [a.example, "*.b.example", "||c.example^"]
    answer: nxdomain
    blocked_ttl: 1m
    cname_check: false
  local:
    zones: vpn.lan
    auto_ptr: true
    ttl: 1m
    records:
      - { name: a.vpn.lan, type: A, value: 10.0.0.1 }
      - { name: a.vpn.lan, type: AAAA, value: "fd00::1", ttl: 10s }
      - { name: c.vpn.lan, type: CNAME, value: a.vpn.lan }
      - { name: 1.0.0.10.in-addr.arpa, type: PTR, value: a.vpn.lan }
      - { name: t.vpn.lan, type: TXT, value: hello }
      - { name: t2.vpn.lan, type: TXT, value: [a, b] }
  query_log: { file: q.jsonl }
`);
    expect(c.blocking).toEqual({
      sources: [
        { kind: 'file', path: '/etc/tsplane/lists/ads.txt', name: 'lists/ads.txt' },
        { kind: 'url', url: 'https://127.0.0.1/hosts', name: 'https://127.0.0.1/hosts' },
        { kind: 'url', url: 'http://127.0.0.1:8080/x', name: 'mirror' },
      ],
      refreshMs: 6 * 3_600_000,
      maxListBytes: 10_000_000,
      allowlist: ['a.example', '*.b.example', '||c.example^'],
      answer: 'nxdomain',
      blockedTtlS: 60,
      cnameCheck: false,
    });
    expect(c.local).toEqual({
      zones: ['vpn.lan'],
      autoPtr: true,
      defaultTtlS: 60,
      records: [
        { name: 'a.vpn.lan', type: 'A', address: '10.0.0.1', ttl: 60 },
        { name: 'a.vpn.lan', type: 'AAAA', address: 'fd00::1', ttl: 10 },
        { name: 'c.vpn.lan', type: 'CNAME', target: 'a.vpn.lan', ttl: 60 },
        { name: '1.0.0.10.in-addr.arpa', type: 'PTR', target: 'a.vpn.lan', ttl: 60 },
        { name: 't.vpn.lan', type: 'TXT', text: ['hello'], ttl: 60 },
        { name: 't2.vpn.lan', type: 'TXT', text: ['a', 'b'], ttl: 60 },
      ],
    });
    expect(c.queryLog).toEqual({ kind: 'file', path: '/etc/tsplane/q.jsonl' });
    expect(parse(`${MINIMAL}  query_log: true\n`).queryLog).toEqual({ kind: 'log' });
  });

  it('validates examples/dns.yaml, which only points at 127.0.0.1', () => {
    const c = loadDnsConfig(join(ROOT, 'examples/dns.yaml'));
    expect(c.defaultGroup).toBe('public');
    expect(c.routes.map((r) => r.suffix)).toContain('home.lan');
    for (const g of c.groups.values()) for (const s of g.servers) expect(toHex(s.ip.bytes)).toBe('7f000001');
    for (const l of c.listeners) expect(toHex(l.ip.bytes)).toBe('7f000001');
    for (const s of c.blocking.sources) if (s.kind === 'url') expect(new URL(s.url).hostname).toBe('127.0.0.1');
    expect(c.blocking.sources).toEqual([{ kind: 'file', name: 'dns-blocklist.txt', path: join(ROOT, 'examples/dns-blocklist.txt') }]);
  });
});

describe('parseDnsConfig: each mistake names file, line and key', () => {
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['missing listen', 'dns:\n  upstreams: { a: { servers: [127.0.0.1] } }\n', 2, 'dns.listen', /missing required key/],
    ['typo in a top key', `${MINIMAL}  cahce: {}\n`, 7, 'dns.cahce', /did you mean 'cache'/],
    ['listener is a name', 'listen: localhost:53\nupstreams: { a: { servers: [127.0.0.1] } }\n', 1, 'listen', /must be an IP address/],
    ['no upstream groups', 'listen: 127.0.0.1\nupstreams: {}\n', 2, 'upstreams', /at least one upstream group/],
    ['upstream host name without ip', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers:\n      - dns.example:53\n', 5, 'upstreams.a.servers[0]', /must be an IP address/],
    ['DoT host name without ip', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers:\n      - tls://dns.example\n', 5, 'upstreams.a.servers[0]', /add 'ip:'/],
    ['unknown scheme', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers: [quic://127.0.0.1]\n', 4, 'upstreams.a.servers[0]', /unknown scheme 'quic/],
    ['DoH without a path', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers: ["https://127.0.0.1"]\n', 4, 'upstreams.a.servers[0]', /needs a path/],
    ['ca_file on plain DNS', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers:\n      - address: 127.0.0.1\n        ca_file: x.pem\n', 6, 'upstreams.a.servers[0].ca_file', /only for tls/],
    ['bad strategy', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers: [127.0.0.1]\n    strategy: paralel-best\n', 5, 'upstreams.a.strategy', /did you mean 'parallel-best'/],
    ['timeout without unit', 'listen: 127.0.0.1\nupstreams:\n  a:\n    servers: [127.0.0.1]\n    timeout: 2\n', 5, 'upstreams.a.timeout', /has no unit/],
    ['two groups, no default', `${MINIMAL}    b:\n      servers: [127.0.0.1]\n`, 3, 'dns', /default_group/],
    ['route to an unknown group', `${MINIMAL}  routes:\n    - { suffix: home.lan, group: internl }\n`, 8, 'dns.routes[0].group', /not one of public/],
    ['route with both suffix and reverse', `${MINIMAL}  routes:\n    - { suffix: a.lan, reverse: 10.0.0.0/8, group: public }\n`, 8, 'dns.routes[0]', /exactly one of/],
    ['route CIDR with host bits', `${MINIMAL}  routes:\n    - group: public\n      reverse: 10.0.0.1/8\n`, 9, 'dns.routes[0].reverse', /host bits/],
    ['duplicate route', `${MINIMAL}  routes:\n    - { suffix: a.lan, group: public }\n    - { suffix: A.lan., group: public }\n`, 9, 'dns.routes[1].suffix', /already given on line 8/],
    ['min_ttl above max_ttl', `${MINIMAL}  cache:\n    min_ttl: 50m\n    max_ttl: 30m\n`, 8, 'dns.cache.min_ttl', /larger than max_ttl/],
    ['bad answer mode', `${MINIMAL}  blocking:\n    answer: zero\n`, 8, 'dns.blocking.answer', /null_ip \| nxdomain \| refused/],
    ['list URL with bad scheme', `${MINIMAL}  blocking:\n    lists: ["ftp://127.0.0.1/x"]\n`, 8, 'dns.blocking.lists[0]', /scheme 'ftp'/],
    ['list size without unit typo', `${MINIMAL}  blocking:\n    max_list_size: 10 MiBs\n`, 8, 'dns.blocking.max_list_size', /not a size/],
    ['refresh too short', `${MINIMAL}  blocking:\n    refresh: 1s\n`, 8, 'dns.blocking.refresh', /at least 1m/],
    ['bad allowlist entry', `${MINIMAL}  blocking:\n    allowlist: ["bad entry"]\n`, 8, 'dns.blocking.allowlist[0]', /not a domain/],
    ['local record with bad address', `${MINIMAL}  local:\n    records:\n      - name: a.lan\n        type: A\n        value: "fd00::1"\n`, 11, 'dns.local.records[0].value', /not an IPv4 address/],
    ['local record with unknown type', `${MINIMAL}  local:\n    records:\n      - { name: a.lan, type: MX, value: x }\n`, 9, 'dns.local.records[0].type', /not one of A \| AAAA/],
    ['local record name with a 64-octet label', `${MINIMAL}  local:\n    records:\n      - { name: ${'a'.repeat(64)}.lan, type: A, value: 10.0.0.1 }\n`, 9, 'dns.local.records[0].name', /not a valid domain/],
    ['metrics as a string', `${MINIMAL}  metrics: "yes"\n`, 7, 'dns.metrics', /write true or false/],
  ];
  for (const [name, text, line, key, problem] of cases) {
    it(name, () => {
      const err = configError(text);
      expect({ file: err.file, line: err.line, key: err.key }).toEqual({ file: FILE, line, key });
      expect(err.message).toMatch(problem);
    });
  }
});

describe('reverseZones', () => {
  const cases: Array<[string, string[]]> = [
    ['10.0.0.0/8', ['10.in-addr.arpa']],
    ['192.168.1.0/24', ['1.168.192.in-addr.arpa']],
    ['172.16.0.0/12', Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`)],
    ['0.0.0.0/0', ['in-addr.arpa']],
    ['fd00::/8', ['d.f.ip6.arpa']],
    ['fd7a:115c:a1e0::/48', ['0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa']],
    ['fc00::/7', ['c.f.ip6.arpa', 'd.f.ip6.arpa']],
  ];
  for (const [cidr, zones] of cases) it(cidr, () => expect(reverseZones(parseIpPrefix(cidr)!)).toEqual(zones));
});

describe('parseDnsConfig robustness', () => {
  it('throws only ConfigError on arbitrary YAML documents shaped like a dns section', async () => {
    const fc = (await import('fast-check')).default;
    const { stringify } = await import('yaml');
    const scalar = fc.oneof(fc.constantFrom('127.0.0.1', '127.0.0.1:53', 'tls://127.0.0.1', 'https://127.0.0.1/q', 'home.lan', '10.0.0.0/8', '5s', '10MB', 'A', 'TXT', 'public', 'x', ''), fc.integer(), fc.boolean(), fc.constant(null));
    const keys = fc.constantFrom('listen', 'upstreams', 'routes', 'default_group', 'cache', 'blocking', 'local', 'servers', 'strategy', 'timeout', 'health', 'suffix', 'reverse', 'group', 'records', 'name', 'type', 'value', 'lists', 'allowlist', 'answer', 'zones', 'public', 'query_log', 'max_ttl', 'min_ttl');
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(keys, tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(
      fc.property(fc.dictionary(keys, tree, { maxKeys: 6 }), (doc) => {
        try {
          parseDnsConfig(parseConfigText(stringify(doc), FILE));
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('parseDnsConfig: access and rate_limit', () => {
  it('parses allow/deny prefixes and the rate limit; defaults serve everyone, unlimited', () => {
    const c = parse(`${MINIMAL}  access:\n    allow: [10.0.0.0/8, 'fd00::/8']\n    deny: 10.66.0.0/16\n  rate_limit: { qps: 20, burst: 40 }\n`);
    expect(c.access.allow.map((p) => p.prefixLength)).toEqual([8, 8]);
    expect(c.access.deny).toHaveLength(1);
    expect(c.rateLimit).toEqual({ qps: 20, burst: 40 });
    const d = parse(MINIMAL);
    expect(d.access).toEqual({ allow: [], deny: [] });
    expect(d.rateLimit).toBeUndefined();
  });
  it('names the line and key of a bad prefix or rate', () => {
    const e = configError(`${MINIMAL}  access:\n    allow: [10.0.0.0/33]\n`);
    expect([e.line, e.key]).toEqual([8, 'dns.access.allow[0]']);
    const r = configError(`${MINIMAL}  rate_limit: { qps: 0 }\n`);
    expect(r.key).toBe('dns.rate_limit.qps');
  });
});

describe('parseDnsConfig: single-label route', () => {
  it('accepts single_label: true, and refuses it beside a suffix or set to false', () => {
    const groups = `  upstreams:\n    public: { servers: 127.0.0.1:5301 }\n    lan: { servers: 127.0.0.1:5300 }\n  default_group: public\n`;
    const c = parse(`dns:\n  listen: 127.0.0.1:5353\n${groups}  routes:\n    - { single_label: true, group: lan }\n`);
    expect(c.routes).toEqual([{ suffix: '!single-label', group: 'lan', internalOnly: true, cidr: undefined }]);
    expect(configError(`dns:\n  listen: 127.0.0.1:5353\n${groups}  routes:\n    - { single_label: true, suffix: lan, group: lan }\n`).message).toMatch(/exactly one of/);
    expect(configError(`dns:\n  listen: 127.0.0.1:5353\n${groups}  routes:\n    - { single_label: false, group: lan }\n`).key).toBe('dns.routes[0].single_label');
  });
});
