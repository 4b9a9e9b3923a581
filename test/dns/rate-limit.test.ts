import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/dns/rate-limit.js';

describe('RateLimiter', () => {
  it('allows a burst, then the sustained rate, per client', () => {
    const r = new RateLimiter({ qps: 10, burst: 5 });
    const t0 = 1_000;
    const first = Array.from({ length: 8 }, () => r.allow('10.0.0.1', t0));
    expect(first).toEqual([true, true, true, true, true, false, false, false]);
    expect(r.allow('10.0.0.2', t0)).toBe(true); // other clients are independent
    expect(r.allow('10.0.0.1', t0 + 99)).toBe(false);
    expect(r.allow('10.0.0.1', t0 + 100)).toBe(true); // one token per 100 ms at 10 q/s
    expect(r.allow('10.0.0.1', t0 + 100)).toBe(false);
    expect(r.limited).toBe(5n);
  });

  it('never holds more than maxClients and forgets the least recently seen', () => {
    const r = new RateLimiter({ qps: 1, burst: 1, maxClients: 3 });
    for (const c of ['a', 'b', 'c']) r.allow(c, 0);
    r.allow('a', 0); // a is now most recent (and limited)
    r.allow('d', 0); // evicts b
    expect(r.clients).toBe(3);
    expect(r.allow('b', 0)).toBe(true); // b starts over with a full bucket
    expect(r.allow('a', 0)).toBe(false);
  });
});
