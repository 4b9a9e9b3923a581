import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { formatIp, parseIp, parseIpv6, toIp16 } from '../../src/derp/ip-address.js';
import { toHex } from '../../src/runtime/bytes.js';

describe('IP address text', () => {
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', '7f000001'],
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['fe80::1%eth0', 'fe800000000000000000000000000001'],
    ['::ffff:192.0.2.1', 'c0000201'],
    ['64:ff9b::192.0.2.1', '0064ff9b0000000000000000c0000201'],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['01.2.3.4', undefined],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7::8', undefined],
    ['g::1', undefined],
    ['', undefined],
  ];
  for (const [text, hex] of cases) {
    it(`parses ${JSON.stringify(text)} as ${hex ?? 'invalid'}`, () => {
      const b = parseIp(text);
      expect(b === undefined ? undefined : toHex(b)).toBe(hex);
    });
  }

  it('formats IPv6 in RFC 5952 form and round-trips', () => {
    expect(formatIp(parseIpv6('2001:0db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIp(parseIpv6('1:0:2:3:4:5:6:7')!)).toBe('1:0:2:3:4:5:6:7');
    expect(formatIp(toIp16(parseIp('10.1.2.3')!))).toBe('::ffff:a01:203');
  });

  it('agrees with node:net on which strings are addresses, and never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 50 })), (s) => {
        const b = parseIp(s);
        if (isIP(s) === 0) expect(b).toBeUndefined();
        else {
          expect(b).toBeDefined();
          expect(isIP(formatIp(b!))).not.toBe(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
