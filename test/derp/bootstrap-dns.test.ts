/**
 * /bootstrap-dns: the sans-IO core (refresh schedule, published vs unpublished names, last good
 * answer kept on failure) and the relay serving it. Lookups are injected, or go to the system
 * resolver for `localhost` only (answered from /etc/hosts: no packet leaves the host).
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BOOTSTRAP_DNS_REFRESH_MS, BootstrapDns, bootstrapNameError } from '../../src/derp/bootstrap-dns.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { SystemRng } from '../../src/runtime/rng.js';

describe('BootstrapDns core', () => {
  const names = { published: ['derp1.home.lan', 'headscale.home.lan'], unpublished: ['secret.home.lan'] };

  it('asks for every name at once, then again only after the refresh period', () => {
    const b = new BootstrapDns(names, 1000);
    expect(b.nextDeadline()).toBe(1000);
    expect(b.poll(1000)).toEqual(['derp1.home.lan', 'headscale.home.lan', 'secret.home.lan']);
    expect(b.poll(1001)).toEqual([]);
    expect(b.nextDeadline()).toBe(1000 + BOOTSTRAP_DNS_REFRESH_MS);
    expect(b.poll(1000 + BOOTSTRAP_DNS_REFRESH_MS - 1)).toEqual([]);
    expect(b.poll(1000 + BOOTSTRAP_DNS_REFRESH_MS)).toHaveLength(3);
  });

  it('has no deadline when no names are configured', () => {
    const b = new BootstrapDns({ published: [], unpublished: [] }, 0);
    expect(b.nextDeadline()).toBeUndefined();
    expect(b.poll(1e12)).toEqual([]);
    expect(b.answer(undefined)).toBe('{}');
  });

  it('lists published names only; answers an unpublished one only when asked for by name', () => {
    const b = new BootstrapDns(names, 0);
    b.resolved('derp1.home.lan', ['10.0.0.1', 'fd00::1']);
    b.resolved('secret.home.lan', ['10.0.0.9']);
    expect(JSON.parse(b.answer(undefined))).toEqual({ 'derp1.home.lan': ['10.0.0.1', 'fd00::1'] });
    expect(JSON.parse(b.answer('secret.home.lan'))).toEqual({ 'secret.home.lan': ['10.0.0.9'] });
    expect(JSON.parse(b.answer('derp1.home.lan'))).toEqual({ 'derp1.home.lan': ['10.0.0.1', 'fd00::1'] });
    expect(b.answer('headscale.home.lan')).toBe('{}'); // configured, not resolved yet
    expect(b.answer('example.com')).toBe('{}');
  });

  it('keeps the last good addresses when a lookup fails or returns nothing', () => {
    const b = new BootstrapDns(names, 0);
    b.resolved('derp1.home.lan', ['10.0.0.1']);
    b.resolved('derp1.home.lan', undefined);
    b.resolved('derp1.home.lan', []);
    expect(JSON.parse(b.answer(undefined))).toEqual({ 'derp1.home.lan': ['10.0.0.1'] });
    b.resolved('derp1.home.lan', ['10.0.0.2', '10.0.0.2']);
    expect(JSON.parse(b.answer(undefined))).toEqual({ 'derp1.home.lan': ['10.0.0.2'] });
  });

  it('ignores results for names that were never configured and bounds the addresses per name', () => {
    const b = new BootstrapDns(names, 0);
    b.resolved('evil.example', ['192.0.2.1']);
    expect(b.answer('evil.example')).toBe('{}');
    b.resolved('derp1.home.lan', Array.from({ length: 100 }, (_, i) => `10.0.1.${i}`));
    expect((JSON.parse(b.answer(undefined)) as Record<string, string[]>)['derp1.home.lan']).toHaveLength(16);
  });

  it('never throws whatever query it is asked, and always answers a JSON object', () => {
    const b = new BootstrapDns(names, 0);
    b.resolved('derp1.home.lan', ['10.0.0.1']);
    fc.assert(fc.property(fc.string(), (q) => {
      const v = JSON.parse(b.answer(q)) as unknown;
      expect(typeof v).toBe('object');
    }), { numRuns: 500 });
  });

  it('validates names like hostnames', () => {
    expect(bootstrapNameError('derp.example.com')).toBeUndefined();
    expect(bootstrapNameError('derp.example.com.')).toBeUndefined();
    expect(bootstrapNameError('')).toBeDefined();
    expect(bootstrapNameError('a..b')).toBeDefined();
    expect(bootstrapNameError('-bad.example')).toBeDefined();
    expect(bootstrapNameError('http://x')).toBeDefined();
    expect(bootstrapNameError(`${'a'.repeat(64)}.example`)).toBeDefined();
  });
});

describe('GET /bootstrap-dns on the relay', () => {
  const rng = new SystemRng();
  const deps = () => ({ clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }) });
  const running: RunningDerpServer[] = [];
  afterAll(async () => {
    for (const r of running) await r.close();
  });

  async function settle(url: string, want: (body: unknown) => boolean): Promise<unknown> {
    let body: unknown;
    for (let i = 0; i < 50; i++) {
      body = await (await fetch(url)).json();
      if (want(body)) return body;
      await new Promise((r) => setTimeout(r, 20));
    }
    return body;
  }

  it('serves the injected resolver\'s answers as JSON, with ?q= for unpublished names', async () => {
    const asked: string[] = [];
    const srv = await startDerpServer({
      listen: { host: '127.0.0.1', port: 0 },
      privateKey: generateNodePrivateKey(rng),
      bootstrapDnsNames: { published: ['headscale.home.lan', 'broken.home.lan'], unpublished: ['hidden.home.lan'] },
      bootstrapDnsLookup: (name) => {
        asked.push(name);
        return name === 'broken.home.lan' ? Promise.reject(new Error('SERVFAIL')) : Promise.resolve(name === 'hidden.home.lan' ? ['10.9.9.9'] : ['100.64.0.1', 'fd7a:115c:a1e0::1']);
      },
    }, deps());
    running.push(srv);
    const body = await settle(`${srv.url}/bootstrap-dns`, (b) => Object.keys(b as object).length > 0);
    expect(body).toEqual({ 'headscale.home.lan': ['100.64.0.1', 'fd7a:115c:a1e0::1'] });
    expect(asked.sort()).toEqual(['broken.home.lan', 'headscale.home.lan', 'hidden.home.lan']);
    const r = await fetch(`${srv.url}/bootstrap-dns?q=hidden.home.lan`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(await r.json()).toEqual({ 'hidden.home.lan': ['10.9.9.9'] });
    expect(await (await fetch(`${srv.url}/bootstrap-dns?q=other.example`)).json()).toEqual({});
  });

  it('resolves with the system resolver by default (localhost, from /etc/hosts)', async () => {
    const srv = await startDerpServer({
      listen: { host: '127.0.0.1', port: 0 },
      privateKey: generateNodePrivateKey(rng),
      bootstrapDnsNames: { published: ['localhost'], unpublished: [] },
    }, deps());
    running.push(srv);
    const body = await settle(`${srv.url}/bootstrap-dns`, (b) => (b as Record<string, unknown>)['localhost'] !== undefined) as Record<string, string[]>;
    expect(body['localhost']).toContain('127.0.0.1');
  });

  it('answers an empty object when no names are configured', async () => {
    const srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng) }, deps());
    running.push(srv);
    const r = await fetch(`${srv.url}/bootstrap-dns`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({});
  });
});
