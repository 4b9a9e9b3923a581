import { describe, expect, it } from 'vitest';
import { AnswerCache, cacheKey } from '../../src/dns/cache.js';
import { parseMessage, scanResponse } from '../../src/dns/message.js';
import { A, SOA, rd32, reply } from './wire.js';

function parsed(b: Uint8Array) {
  const p = parseMessage(b, false);
  if (!p.ok) throw new Error('parse');
  return { msg: p.msg, scan: scanResponse(b, p.msg)! };
}
const T0 = 1_000_000;

describe('AnswerCache', () => {
  const ans = reply('a.example', 1, { id: 1, answers: [A('a.example', '192.0.2.1', 300), A('a.example', '192.0.2.2', 100)], edns: true });
  const key = cacheKey('a.example', 1, 1, false, false);

  it('keys by name, type, class, DO and CD', () => {
    const keys = new Set([key, cacheKey('a.example', 28, 1, false, false), cacheKey('a.example', 1, 3, false, false),
      cacheKey('a.example', 1, 1, true, false), cacheKey('a.example', 1, 1, false, true), cacheKey('a\\.example', 1, 1, false, false)]);
    expect(keys.size).toBe(6);
  });

  it('lives for the smallest TTL and decrements every TTL on the way out', () => {
    const c = new AnswerCache();
    const { msg, scan } = parsed(ans);
    expect(c.insert(key, ans, msg, scan, T0)).toBe(true);
    const hit = c.lookup(key, T0 + 40_500);
    expect(hit?.type).toBe('fresh');
    const out = c.render(hit!.entry, T0 + 40_500, false);
    // both TTLs are capped at the entry lifetime (100 s) minus 40 s of age
    expect(scan.ttlOffsets.map((o) => rd32(out, o))).toEqual([60, 60]);
    expect(c.lookup(key, T0 + 100_000)).toBeUndefined();
  });

  it('clamps lifetimes to the configured minimum and maximum', () => {
    const { msg, scan } = parsed(ans);
    const lo = new AnswerCache({ minTtlS: 600 });
    lo.insert(key, ans, msg, scan, T0);
    expect(lo.lookup(key, T0 + 500_000)?.type).toBe('fresh');
    const out = lo.render(lo.lookup(key, T0 + 50_000)!.entry, T0 + 50_000, false);
    expect(scan.ttlOffsets.map((o) => rd32(out, o))).toEqual([250, 50]);
    const hi = new AnswerCache({ maxTtlS: 10 });
    hi.insert(key, ans, msg, scan, T0);
    expect(hi.lookup(key, T0 + 10_000)).toBeUndefined();
  });

  it('caches NXDOMAIN and NODATA for the SOA negative TTL and not without an SOA', () => {
    const c = new AnswerCache();
    const nx = reply('no.example', 1, { id: 1, rcode: 3, authority: [SOA('example', 3600, 30)] });
    const k = cacheKey('no.example', 1, 1, false, false);
    expect(c.insert(k, nx, parsed(nx).msg, parsed(nx).scan, T0)).toBe(true);
    expect(c.lookup(k, T0 + 29_000)?.type).toBe('fresh');
    expect(c.lookup(k, T0 + 30_000)).toBeUndefined();
    const bare = reply('no.example', 1, { id: 1, rcode: 3 });
    expect(c.insert(k, bare, parsed(bare).msg, parsed(bare).scan, T0)).toBe(false);
    const nodata = reply('no.example', 28, { id: 1, authority: [SOA('example', 20, 300)] });
    expect(c.lifetimeFor(parsed(nodata).msg, parsed(nodata).scan)).toBe(20);
  });

  it('never caches truncated answers or SERVFAIL', () => {
    const c = new AnswerCache();
    const tc = reply('a.example', 1, { id: 1, tc: true, answers: [A('a.example', '192.0.2.1')] });
    const sf = reply('a.example', 1, { id: 1, rcode: 2 });
    expect(c.insert(key, tc, parsed(tc).msg, parsed(tc).scan, T0)).toBe(false);
    expect(c.insert(key, sf, parsed(sf).msg, parsed(sf).scan, T0)).toBe(false);
  });

  it('serves stale data with TTL 30 inside the stale window only (RFC 8767)', () => {
    const c = new AnswerCache({ staleMaxS: 60 });
    const { msg, scan } = parsed(ans);
    c.insert(key, ans, msg, scan, T0);
    const st = c.lookup(key, T0 + 120_000);
    expect(st?.type).toBe('stale');
    const out = c.render(st!.entry, T0 + 120_000, true);
    expect(scan.ttlOffsets.map((o) => rd32(out, o))).toEqual([30, 30]);
    expect(c.lookup(key, T0 + 160_000)).toBeUndefined();
  });

  it('keeps its eviction queue bounded when entries are replaced again and again', () => {
    const c = new AnswerCache({ maxEntries: 10 });
    const { msg, scan } = parsed(ans);
    for (let i = 0; i < 50_000; i++) c.insert(key, ans, msg, scan, T0 + i);
    expect(c.size).toBe(1);
    expect(c.lookup(key, T0 + 50_000)?.type).toBe('fresh');
    // 10 distinct names then still evict in insertion order
    for (let i = 0; i < 12; i++) c.insert(cacheKey(`n${i}.x`, 1, 1, false, false), ans, msg, scan, T0);
    expect(c.size).toBe(10);
  });

  it('evicts the least recently used entry by count and by bytes', () => {
    const c = new AnswerCache({ maxEntries: 2 });
    const mk = (n: string) => reply(n, 1, { id: 1, answers: [A(n, '192.0.2.1')] });
    for (const n of ['a.x', 'b.x']) c.insert(cacheKey(n, 1, 1, false, false), mk(n), parsed(mk(n)).msg, parsed(mk(n)).scan, T0);
    c.lookup(cacheKey('a.x', 1, 1, false, false), T0); // a is now most recent
    c.insert(cacheKey('c.x', 1, 1, false, false), mk('c.x'), parsed(mk('c.x')).msg, parsed(mk('c.x')).scan, T0);
    expect(c.lookup(cacheKey('b.x', 1, 1, false, false), T0)).toBeUndefined();
    expect(c.lookup(cacheKey('a.x', 1, 1, false, false), T0)?.type).toBe('fresh');
    expect(c.size).toBe(2);
    const small = new AnswerCache({ maxBytes: 500 });
    for (const n of ['a.x', 'b.x', 'c.x']) small.insert(cacheKey(n, 1, 1, false, false), mk(n), parsed(mk(n)).msg, parsed(mk(n)).scan, T0);
    expect(small.bytes).toBeLessThanOrEqual(500);
    expect(small.size).toBeLessThan(3);
  });
});
