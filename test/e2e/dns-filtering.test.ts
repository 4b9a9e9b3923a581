/**
 * End-to-end: blocklists, allowlist, local records and CNAME cloaking through the whole
 * forwarder (flags → config → policy → forwarder → dig), with an unbound upstream on loopback.
 */
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { createRegistry } from '../../src/runtime/metrics.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { dig, dnsConfig, sleep, startUnbound, type Unbound } from './dns-support.js';
import { query } from '../dns/wire.js';

describe.skipIf(missing({ command: 'unbound' }, { command: 'dig' }).length > 0)('DNS filtering end to end (unbound, dig)', () => {
  let upstream: Unbound;
  let service: DnsService;
  let nxService: DnsService;
  let dir: string;
  const registry = createRegistry();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `tsp-dnsc-filter-${process.pid}-`));
    writeFileSync(join(dir, 'hosts.txt'), '0.0.0.0 ads.example\n0.0.0.0 tracker.example\n');
    writeFileSync(join(dir, 'adblock.txt'), '||metrics.example^\n@@||ok.metrics.example^\n');
    upstream = await startUnbound('filter-upstream', [
      'local-zone: "example." static',
      'local-data: "example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 60"',
      'local-data: "www.example. 300 IN A 192.0.2.1"',
      'local-data: "ok.metrics.example. 300 IN A 192.0.2.5"',
      'local-data: "ads.example. 300 IN A 192.0.2.66"',
      'local-data: "cloaked.example. 300 IN CNAME tracker.example."',
      'local-data: "tracker.example. 300 IN A 192.0.2.77"',
    ]);
    const mapping = (answer: string) => ({
      listen: ['127.0.0.1:0'],
      query_log: { file: join(dir, `queries-${answer}.jsonl`) },
      upstreams: { public: { servers: [`127.0.0.1:${upstream.port}`] } },
      blocking: { lists: [join(dir, 'hosts.txt'), join(dir, 'adblock.txt')], allowlist: ['ok.ads.example'], answer },
      local: {
        zones: ['vpn.lan'], auto_ptr: true,
        records: [{ name: 'router.vpn.lan', type: 'A', value: '10.0.0.1' }, { name: 'files.vpn.lan', type: 'CNAME', value: 'router.vpn.lan' }],
      },
    });
    const logger = createLogger({ level: 'silent', pretty: false });
    service = await startDnsService(dnsConfig(mapping('null_ip')), { logger, registry });
    nxService = await startDnsService(dnsConfig(mapping('nxdomain')), { logger });
  });

  afterAll(async () => {
    await service?.close();
    await nxService?.close();
    await upstream?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const port = () => service.addresses[0]!.port;

  it('answers blocked names with the null address and forwards the rest', async () => {
    expect((await dig(port(), ['ads.example', 'A'])).answers.map((a) => a.data)).toEqual(['0.0.0.0']);
    expect((await dig(port(), ['ads.example', 'AAAA'])).answers.map((a) => a.data)).toEqual(['::']);
    expect((await dig(port(), ['x.metrics.example', 'A'])).answers.map((a) => a.data)).toEqual(['0.0.0.0']);
    expect((await dig(port(), ['www.example', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.1']);
  });

  it('lets allowlisted names and @@ exceptions through', async () => {
    expect((await dig(port(), ['ok.metrics.example', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.5']);
  });

  it('answers NXDOMAIN for blocked names when configured so', async () => {
    expect((await dig(nxService.addresses[0]!.port, ['ads.example', 'A'])).status).toBe('NXDOMAIN');
  });

  it('blocks an upstream answer whose CNAME target is blocked (CNAME cloaking)', async () => {
    const r = await dig(port(), ['cloaked.example', 'A']);
    expect(r.answers.map((a) => a.data)).toEqual(['0.0.0.0']);
    // and again from the cache
    expect((await dig(port(), ['cloaked.example', 'A'])).answers.map((a) => a.data)).toEqual(['0.0.0.0']);
  });

  it('answers local records, CNAME chains and automatic PTRs authoritatively', async () => {
    const a = await dig(port(), ['router.vpn.lan', 'A']);
    expect([a.status, a.flags.includes('aa'), a.answers.map((x) => x.data)]).toEqual(['NOERROR', true, ['10.0.0.1']]);
    expect((await dig(port(), ['files.vpn.lan', 'A'])).answers.map((x) => x.data)).toEqual(['router.vpn.lan.', '10.0.0.1']);
    expect((await dig(port(), ['-x', '10.0.0.1'])).answers.map((x) => x.data)).toEqual(['router.vpn.lan.']);
    expect((await dig(port(), ['nothing.vpn.lan', 'A'])).status).toBe('NXDOMAIN');
  });

  it('drops queries beyond the per-client rate limit', async () => {
    const limited = await startDnsService(dnsConfig({
      listen: ['127.0.0.1:0'], upstreams: { public: { servers: [`127.0.0.1:${upstream.port}`] } },
      local: { records: [{ name: 'router.vpn.lan', type: 'A', value: '10.0.0.1' }] },
    }), { logger: createLogger({ level: 'silent', pretty: false }), rateLimit: { qps: 5, burst: 5 } });
    const sock = dgram.createSocket('udp4');
    let answers = 0;
    sock.on('message', () => answers++);
    try {
      for (let i = 0; i < 30; i++) sock.send(query('router.vpn.lan', 1, { id: i }), limited.addresses[0]!.port, '127.0.0.1');
      await sleep(300);
      expect(answers).toBeGreaterThanOrEqual(5);
      expect(answers).toBeLessThanOrEqual(7);
      expect(limited.rateLimited()).toBe(BigInt(30 - answers));
    } finally {
      sock.close();
      await limited.close();
    }
  });

  it('writes one JSON line per answered query to the query log', async () => {
    await dig(port(), ['www.example', 'A']);
    await sleep(100);
    const lines = readFileSync(join(dir, 'queries-null_ip.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const www = lines.filter((l) => l.qname === 'www.example');
    expect(www.length).toBeGreaterThanOrEqual(2);
    expect(www.at(-1)).toMatchObject({ transport: 'udp', qtype: 1, route: 'public', rcode: 'NOERROR', cacheHit: true });
    expect(lines.find((l) => l.qname === 'ads.example')).toMatchObject({ route: 'blocked', list: expect.stringContaining('hosts.txt') });
  });

  it('counts queries and blocks in the Prometheus registry', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/tsplane_dns_blocked_total\{list="[^"]*hosts.txt"\} [1-9]/);
    expect(text).toMatch(/tsplane_dns_queries_total\{route="public",rcode="NOERROR",cache="miss"\} [1-9]/);
    expect(text).toMatch(/^tsplane_dns_forwarder_events_total\{event="forwarded"\} [1-9]/m);
    expect(Number(/^tsplane_dns_cache_entries (\d+)/m.exec(text)?.[1])).toBe(service.forwarder.cache.size);
    expect(service.forwarder.cache.size).toBeGreaterThan(0);
    expect(text).toMatch(/^tsplane_dns_rate_limited_total 0$/m);
  });
});
