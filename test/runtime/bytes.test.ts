import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, constantTimeEqual, fromHex, toHex } from '../../src/runtime/bytes.js';

describe('ByteReader', () => {
  it('reads integers in both byte orders and returns undefined when short', () => {
    const r = new ByteReader(fromHex('0102030405060708'));
    expect(r.u16be()).toBe(0x0102);
    expect(r.u32le()).toBe(0x06050403);
    expect(r.u32be()).toBeUndefined();
    expect(r.offset).toBe(6);
    expect(r.take(2)).toEqual(fromHex('0708'));
    expect(r.u8()).toBeUndefined();
  });

  it('never throws on arbitrary bytes and arbitrary read sequences', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 40 }), (bytes, ops) => {
        const r = new ByteReader(bytes);
        for (const op of ops) {
          [() => r.u8(), () => r.u16be(), () => r.u32be(), () => r.u32le(), () => r.u64le(), () => r.u64be(), () => r.take(3)][op]!();
        }
        expect(r.offset).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});

describe('constantTimeEqual', () => {
  it('agrees with ordinary equality', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(toHex(a) === toHex(b));
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
  });
});
