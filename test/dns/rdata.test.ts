import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeA, encodeAaaa, encodeName, encodeTxt, reverseName } from '../../src/dns/rdata.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';

describe('RDATA encoders', () => {
  it('encodes A and AAAA addresses in network order', () => {
    expect(toHex(encodeA('192.0.2.10')!)).toBe('c000020a');
    expect(toHex(encodeAaaa('2001:db8::1')!)).toBe('20010db8000000000000000000000001');
    expect(encodeA('::1')).toBeUndefined();
    expect(encodeAaaa('192.0.2.1')).toBeUndefined();
  });

  it('encodes names uncompressed with length-prefixed labels and a root octet', () => {
    expect(toHex(encodeName('nas.home.lan')!)).toBe('036e617304686f6d65036c616e00');
    expect(toHex(encodeName('')!)).toBe('00');
  });

  it('rejects a 64-octet label, a name over 255 octets, empty labels and odd characters', () => {
    expect(encodeName(`${'a'.repeat(63)}.x`)).toBeDefined();
    expect(encodeName(`${'a'.repeat(64)}.x`)).toBeUndefined();
    expect(encodeName(Array.from({ length: 64 }, () => 'abc').join('.'))).toBeUndefined(); // 64*4+1 = 257
    expect(encodeName(Array.from({ length: 63 }, () => 'abc').join('.') + '.a')).toBeDefined(); // 63*4+2+1 = 255
    expect(encodeName('a..b')).toBeUndefined();
    expect(encodeName('a b.c')).toBeUndefined();
    expect(encodeName('é.c')).toBeUndefined();
  });

  it('encodes TXT as character-strings of at most 255 octets', () => {
    expect(encodeTxt(['v=spf1 -all'])).toEqual(fromHex('0b763d73706631202d616c6c'));
    expect(toHex(encodeTxt(['a', ''])!)).toBe('016100');
    const long = encodeTxt(['x'.repeat(300)])!;
    expect(long.length).toBe(302);
    expect(long[0]).toBe(255);
    expect(long[256]).toBe(45);
    expect(encodeTxt([])).toBeUndefined();
    expect(encodeTxt(['x'.repeat(70_000)])).toBeUndefined();
  });

  it('builds reverse names', () => {
    expect(reverseName(encodeA('10.1.2.3')!)).toBe('3.2.1.10.in-addr.arpa');
    expect(reverseName(encodeAaaa('2001:db8::1')!)).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  });

  it('never throws on arbitrary names', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const w = encodeName(s);
      if (w) expect(w.length).toBeLessThanOrEqual(255);
    }));
  });
});
