import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HandshakeRateLimiter, UnderLoadDetector } from '../../src/wireguard/ratelimiter.js';

const A = Uint8Array.of(127, 0, 0, 1);
const B = Uint8Array.of(127, 0, 0, 2);
const T0 = 5_000;

function count(rl: HandshakeRateLimiter, ip: Uint8Array, now: number, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (rl.allow(ip, now)) ok++;
  return ok;
}

describe('HandshakeRateLimiter', () => {
  it('allows a burst of 5 from one source, then refuses', () => {
    const rl = new HandshakeRateLimiter();
    expect(count(rl, A, T0, 20)).toBe(5);
  });

  it('refills one token per 50 ms (20 per second), capped at the burst', () => {
    const rl = new HandshakeRateLimiter();
    count(rl, A, T0, 5);
    expect(rl.allow(A, T0 + 49)).toBe(false);
    expect(rl.allow(A, T0 + 50)).toBe(true);
    expect(rl.allow(A, T0 + 60)).toBe(false);
    // drain the refilled bucket, then over one second at a steady 100/s offered load, 20 pass
    expect(count(rl, A, T0 + 1000, 10)).toBe(5);
    let ok = 0;
    for (let t = 1010; t <= 2000; t += 10) if (rl.allow(A, T0 + t)) ok++;
    expect(ok).toBe(20);
    expect(count(rl, A, T0 + 60_000, 20)).toBe(5); // a long idle period refills only to the burst
  });

  it('keeps separate buckets per IPv4 source, and per IPv6 /64', () => {
    const rl = new HandshakeRateLimiter();
    expect(count(rl, A, T0, 10)).toBe(5);
    expect(count(rl, B, T0, 10)).toBe(5);
    const v6a = new Uint8Array(16).fill(0x20, 0, 8);
    const v6b = Uint8Array.from(v6a);
    v6b[15] = 9; // same /64
    const v6c = Uint8Array.from(v6a);
    v6c[7] = 1; // other /64
    expect(count(rl, v6a, T0, 3) + count(rl, v6b, T0, 10)).toBe(5);
    expect(count(rl, v6c, T0, 10)).toBe(5);
    expect(rl.size).toBe(4);
  });

  it('collects idle sources in poll(now) at nextDeadline, and schedules nothing when empty', () => {
    const rl = new HandshakeRateLimiter();
    expect(rl.nextDeadline()).toBeUndefined();
    rl.allow(A, T0);
    expect(rl.nextDeadline()).toBe(T0 + 1000);
    rl.allow(B, T0 + 900);
    rl.poll(T0 + 999);
    expect(rl.size).toBe(2); // not due yet
    rl.poll(T0 + 1001);
    expect(rl.size).toBe(1); // A idle > 1 s, B not
    expect(rl.nextDeadline()).toBe(T0 + 2001);
    rl.poll(T0 + 2001);
    expect(rl.size).toBe(0);
    expect(rl.nextDeadline()).toBeUndefined();
  });

  it('bounds the table: new sources are refused when full, until collection frees space', () => {
    const rl = new HandshakeRateLimiter({ maxEntries: 3 });
    for (let i = 0; i < 3; i++) expect(rl.allow(Uint8Array.of(10, 0, 0, i), T0)).toBe(true);
    expect(rl.allow(Uint8Array.of(10, 0, 0, 99), T0)).toBe(false);
    expect(rl.allow(Uint8Array.of(10, 0, 0, 1), T0)).toBe(true); // known sources still work
    rl.poll(T0 + 1001);
    expect(rl.size).toBe(0);
    expect(rl.allow(Uint8Array.of(10, 0, 0, 99), T0 + 1001)).toBe(true);
  });

  it('never admits more than burst + rate × elapsed for any sequence of times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 300 }), (steps) => {
        const rl = new HandshakeRateLimiter();
        let now = T0;
        let ok = 0;
        for (const d of steps) {
          now += d;
          if (rl.allow(A, now)) ok++;
        }
        expect(ok).toBeLessThanOrEqual(5 + Math.floor((now - T0) / 50));
      }),
    );
  });
});

describe('UnderLoadDetector', () => {
  it('is under load once more than the threshold arrive within a second, and stays so for 1 s after', () => {
    const d = new UnderLoadDetector(100);
    for (let i = 0; i < 100; i++) d.record(T0 + i);
    expect(d.isUnderLoad(T0 + 100)).toBe(false);
    d.record(T0 + 500); // the 101st in this window
    expect(d.isUnderLoad(T0 + 500)).toBe(true);
    expect(d.isUnderLoad(T0 + 1499)).toBe(true);
    expect(d.isUnderLoad(T0 + 1500)).toBe(false);
  });

  it('does not trigger on a steady rate at the threshold', () => {
    const d = new UnderLoadDetector(100);
    for (let t = 0; t < 10_000; t += 10) {
      d.record(T0 + t);
      expect(d.isUnderLoad(T0 + t)).toBe(false);
    }
  });
});
