import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../src/runtime/bytes.js';
import { tai64nAfter, tai64nEncode, tai64nToWallMs } from '../../src/wireguard/tai64n.js';

describe('TAI64N', () => {
  it('encodes the Unix epoch as label 2^62 + 10 with zero nanoseconds', () => {
    expect(toHex(tai64nEncode(0))).toBe('400000000000000a00000000');
  });

  it('encodes seconds big-endian and whitens nanoseconds to a multiple of 2^24', () => {
    // 2026-11-26T02:00:00.999Z: 999 ms = 999_000_000 ns → floor to 2^24 multiple = 989_855_744 (0x3b000000)
    const ms = Date.UTC(2026, 10, 26, 2, 0, 0) + 999;
    const secs = BigInt(Math.floor(ms / 1000)) + 0x400000000000000an;
    expect(toHex(tai64nEncode(ms))).toBe(secs.toString(16).padStart(16, '0') + '3b000000');
  });

  it('orders timestamps strictly and bytewise', () => {
    const t = Date.UTC(2026, 0, 1);
    expect(tai64nAfter(tai64nEncode(t + 1000), tai64nEncode(t))).toBe(true);
    expect(tai64nAfter(tai64nEncode(t), tai64nEncode(t + 1000))).toBe(false);
    expect(tai64nAfter(tai64nEncode(t), tai64nEncode(t))).toBe(false);
    expect(tai64nAfter(tai64nEncode(t + 17), tai64nEncode(t))).toBe(true); // one whitening step
    expect(tai64nAfter(tai64nEncode(t + 16), tai64nEncode(t))).toBe(false); // same 2^24 ns bucket
  });

  it('is monotonic in wall time and round-trips to within the whitening granularity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 42 }), fc.integer({ min: 0, max: 10 ** 6 }), (a, d) => {
        expect(tai64nAfter(tai64nEncode(a), tai64nEncode(a + d))).toBe(false);
        const back = tai64nToWallMs(tai64nEncode(a));
        expect(a - back).toBeGreaterThanOrEqual(0);
        expect(a - back).toBeLessThanOrEqual(17); // 2^24 ns ≈ 16.8 ms, plus ms flooring
      }),
    );
  });
});
