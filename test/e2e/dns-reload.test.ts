/**
 * Reloading the DNS service in place (`DnsService.reconfigure`, what SIGHUP uses): blocklists,
 * access rules and routes change without closing the listeners; the cache survives a change
 * that does not touch routes or upstreams and is flushed by one that does. Unbound upstreams
 * and dig on loopback.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { reconfigurable, startDnsService, type DnsService } from '../../src/cli/dns.js';
import { dig, dnsConfig, startUnbound, type Unbound } from './dns-support.js';

describe.skipIf(missing({ command: 'unbound' }, { command: 'dig' }).length > 0)('DNS reload in place (unbound, dig)', () => {
  let a: Unbound;
  let b: Unbound;
  let service: DnsService;
  let dir: string;
  const mapping = (o: { lists?: string[]; allow?: string[]; homeGroup?: string } = {}) => ({
    listen: ['127.0.0.1:0'],
    upstreams: { a: { servers: [`127.0.0.1:${a.port}`] }, b: { servers: [`127.0.0.1:${b.port}`] } },
    default_group: 'a',
    routes: [{ suffix: 'home.lan', group: o.homeGroup ?? 'a' }],
    ...(o.lists ? { blocking: { lists: o.lists } } : {}),
    ...(o.allow ? { access: { allow: o.allow } } : {}),
  });
  const port = () => service.addresses[0]!.port;
  const answer = async (name: string) => (await dig(port(), [name, 'A'])).answers.map((x) => x.data);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `tsp-dns-reload-${process.pid}-`));
    writeFileSync(join(dir, 'hosts.txt'), '0.0.0.0 ads.example\n');
    const zone = (ip: string) => ['local-zone: "example." static', `local-data: "ads.example. 300 IN A ${ip}"`, `local-data: "www.example. 300 IN A ${ip}"`,
      'local-zone: "home.lan." static', `local-data: "nas.home.lan. 300 IN A ${ip}"`];
    a = await startUnbound('reload-a', zone('192.0.2.1'));
    b = await startUnbound('reload-b', zone('192.0.2.2'));
    service = await startDnsService(dnsConfig(mapping()), { logger: createLogger({ level: 'silent', pretty: false }) });
  });

  afterAll(async () => {
    await service?.close();
    await a?.stop();
    await b?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('only listener, cache or log changes need a restart', () => {
    expect(reconfigurable(dnsConfig(mapping()), dnsConfig(mapping({ homeGroup: 'b', allow: ['127.0.0.0/8'] })))).toBe(true);
    expect(reconfigurable(dnsConfig(mapping()), dnsConfig({ ...mapping(), listen: ['127.0.0.1:0', '127.0.0.2:0'] }))).toBe(false);
    expect(reconfigurable(dnsConfig(mapping()), dnsConfig({ ...mapping(), cache: { max_entries: 5 } }))).toBe(false);
  });

  it('a new blocklist blocks at once and keeps the cache', async () => {
    expect(await answer('ads.example')).toEqual(['192.0.2.1']);
    expect(await answer('www.example')).toEqual(['192.0.2.1']);
    const hitsBefore = service.forwarder.stats.cacheHits;
    const portBefore = port();
    await service.reconfigure(dnsConfig(mapping({ lists: [join(dir, 'hosts.txt')] })));
    expect(port()).toBe(portBefore);
    expect(await answer('ads.example')).toEqual(['0.0.0.0']);
    expect(await answer('www.example')).toEqual(['192.0.2.1']);
    expect(service.forwarder.stats.cacheHits).toBe(hitsBefore + 1n);
  });

  it('a changed route takes effect and flushes the cache', async () => {
    expect(await answer('nas.home.lan')).toEqual(['192.0.2.1']);
    await service.reconfigure(dnsConfig(mapping({ lists: [join(dir, 'hosts.txt')], homeGroup: 'b' })));
    expect(await answer('nas.home.lan')).toEqual(['192.0.2.2']);
    const hits = service.forwarder.stats.cacheHits;
    expect(await answer('www.example')).toEqual(['192.0.2.1']);
    expect(service.forwarder.stats.cacheHits).toBe(hits); // flushed: asked upstream again
  });

  it('new access rules apply to the next query', async () => {
    await service.reconfigure(dnsConfig(mapping({ allow: ['127.0.0.2/32'] })));
    expect((await dig(port(), ['www.example', 'A'])).status).toBe('REFUSED');
    expect((await dig(port(), ['-b', '127.0.0.2', 'www.example', 'A'])).status).toBe('NOERROR');
    await service.reconfigure(dnsConfig(mapping()));
    expect((await dig(port(), ['www.example', 'A'])).status).toBe('NOERROR');
  });
});
