import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIP } from 'node:net';
import {
  formatEndpoint,
  formatIpAddress,
  parseEndpoint,
  parseIpAddress,
  parseIpPrefix,
  parseIpv4,
  parseIpv6,
} from '../../src/wireguard/ip-text.js';
import { toHex } from '../../src/runtime/bytes.js';

describe('IP text', () => {
  const v6: [string, string, string][] = [
    ['::', '0'.repeat(32), '::'],
    ['::1', '0'.repeat(31) + '1', '::1'],
    ['2001:DB8::0:1', '20010db8' + '0'.repeat(20) + '0001', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '00010000000000020000000000000003', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '00010000000000020000000000030004', '1::2:0:0:3:4'],
    ['::ffff:192.0.2.1', '0'.repeat(20) + 'ffffc0000201', '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
  ];
  for (const [text, hex, canonical] of v6) {
    it(`parses ${text} and formats it as ${canonical} (RFC 5952)`, () => {
      const a = parseIpv6(text)!;
      expect(toHex(a)).toBe(hex);
      expect(formatIpAddress(a)).toBe(canonical);
    });
  }

  for (const bad of [':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', '::g', '1:2:3:4:5:6:7:8::', '::1.2.3', 'ffff:1.2.3.4']) {
    it(`rejects IPv6 ${JSON.stringify(bad)}`, () => expect(parseIpv6(bad)).toBeUndefined());
  }
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '+1.2.3.4', '1..2.3', ' 1.2.3.4']) {
    it(`rejects IPv4 ${JSON.stringify(bad)}`, () => expect(parseIpv4(bad)).toBeUndefined());
  }

  it('agrees with node:net on which strings are addresses, and round-trips them', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const parsed = parseIpAddress(text);
        expect(parsed, text).toBeDefined();
        const again = parseIpAddress(formatIpAddress(parsed!.address))!;
        expect(toHex(again.address)).toBe(toHex(parsed!.address));
        expect(isIP(formatIpAddress(parsed!.address))).toBe(parsed!.family);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        parseIpAddress(s);
        parseIpPrefix(s);
        parseEndpoint(s);
      }),
      { numRuns: 3000 },
    );
  });

  it('parses endpoints of both families and formats IPv6 in brackets', () => {
    expect(parseEndpoint('192.0.2.1:51820')).toEqual({ family: 4, address: '192.0.2.1', port: 51820 });
    const e = parseEndpoint('[fd00:0::1]:1')!;
    expect(e).toEqual({ family: 6, address: 'fd00::1', port: 1 });
    expect(formatEndpoint(e)).toBe('[fd00::1]:1');
    expect(parseEndpoint('[1.2.3.4]:1')).toBeUndefined();
    expect(parseEndpoint('1.2.3.4:65536')).toBeUndefined();
    expect(parseEndpoint('1.2.3.4:')).toBeUndefined();
  });

  it('keeps an IPv6 zone (interface name or index) and refuses zones elsewhere', () => {
    const e = parseEndpoint('[FE80:0::1%veth0]:51820')!;
    expect(e).toEqual({ family: 6, address: 'fe80::1%veth0', port: 51820 });
    expect(formatEndpoint(e)).toBe('[fe80::1%veth0]:51820');
    expect(parseEndpoint('[fe80::1%3]:1')).toEqual({ family: 6, address: 'fe80::1%3', port: 1 });
    for (const bad of ['10.0.0.1%eth0:1', '[fe80::1%]:1', '[fe80::1%a/b]:1', '[fe80::1%0123456789abcdef]:1', '[fe80::1%%x]:1', '[fe80::1%x y]:1']) {
      expect(parseEndpoint(bad), bad).toBeUndefined();
    }
  });

  it('parses prefixes with their bit lengths bounded by the family', () => {
    expect(parseIpPrefix('::/0')).toEqual({ family: 6, address: new Uint8Array(16), bits: 0 });
    expect(parseIpPrefix('::/129')).toBeUndefined();
    expect(parseIpPrefix('10.0.0.0/8/8')).toBeUndefined();
    expect(parseIpPrefix('10.0.0.0/08')).toBeUndefined();
  });
});
