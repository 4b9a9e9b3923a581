import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatIpAddress, parseIpAddress, parseIpPrefix, parseIpv6 } from '../../src/runtime/ip-address.js';
import { toHex } from '../../src/runtime/bytes.js';

describe('parseIpAddress', () => {
  const good: Array<[string, string]> = [
    ['192.0.2.1', 'c0000201'],
    ['0.0.0.0', '00000000'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6::', '00010002000300040005000600000000'],
  ];
  for (const [text, hex] of good) it(`parses ${text}`, () => expect(toHex(parseIpAddress(text)!.bytes)).toBe(hex));

  const bad = ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'fe80::1%eth0', '::1.2.3', '1.2.3.4::', 'g::1'];
  for (const text of bad) it(`rejects ${JSON.stringify(text)}`, () => expect(parseIpAddress(text)).toBeUndefined());

  it('formats per RFC 5952 and round-trips arbitrary addresses', () => {
    expect(formatIpAddress(parseIpAddress('2001:0db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIpAddress(parseIpAddress('2001:db8:0:1:1:1:1:1')!)).toBe('2001:db8:0:1:1:1:1:1');
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      expect(parseIpv6(formatIpAddress({ family: 6, bytes: b }))).toEqual(b);
    }));
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => { parseIpAddress(s); parseIpPrefix(s); }));
  });
});

describe('parseIpPrefix', () => {
  it('parses and masks prefixes, strict mode rejects host bits', () => {
    expect(parseIpPrefix('10.0.0.0/8')).toMatchObject({ family: 4, prefixLength: 8 });
    expect(toHex(parseIpPrefix('10.1.2.3/8')!.bytes)).toBe('0a000000');
    expect(parseIpPrefix('10.1.2.3/8', { strict: true })).toBeUndefined();
    expect(parseIpPrefix('fd00::/8', { strict: true })?.prefixLength).toBe(8);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '::/129', '10.0.0.0/08', '10.0.0.0/8/8']) expect(parseIpPrefix(bad), bad).toBeUndefined();
  });
});
