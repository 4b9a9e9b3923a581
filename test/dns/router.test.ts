import { describe, expect, it } from 'vitest';
import { RouteTable, SINGLE_LABEL_SUFFIX, formatIpv6, normalizeSuffix, parseIpv6, reverseZonesForCidr } from '../../src/dns/router.js';
import { parseUpstream } from '../support/upstream-text.js';

describe('RouteTable', () => {
  const table = new RouteTable(
    [
      { suffix: 'home.lan', group: 'internal', internalOnly: true },
      { suffix: 'Pub.Home.LAN.', group: 'public', internalOnly: false },
      { suffix: '10.in-addr.arpa', group: 'internal', internalOnly: true },
    ],
    'public',
  );
  const cases: [string, string, string][] = [
    ['home.lan', 'home.lan', 'the suffix itself'],
    ['a.home.lan', 'home.lan', 'a child'],
    ['a.b.c.home.lan', 'home.lan', 'a deep child'],
    ['xhome.lan', '', 'not a label boundary'],
    ['www.pub.home.lan', 'pub.home.lan', 'the longest suffix'],
    ['4.3.2.10.in-addr.arpa', '10.in-addr.arpa', 'a reverse name'],
    ['a\\.home.lan', '', 'an escaped dot is not a boundary'],
    ['example.com', '', 'the default'],
    ['', '', 'the root'],
  ];
  for (const [qname, suffix, what] of cases) {
    it(`routes ${what} (${qname || '.'})`, () => {
      expect(table.lookup(qname).suffix).toBe(suffix);
    });
  }
  it('flags internal-only routes and uses the default group otherwise', () => {
    expect(table.lookup('x.home.lan')).toEqual({ suffix: 'home.lan', group: 'internal', internalOnly: true });
    expect(table.lookup('example.com')).toEqual({ suffix: '', group: 'public', internalOnly: false });
  });
  it('routes single-label names to a single_label route, and nothing else', () => {
    const t = new RouteTable([{ suffix: SINGLE_LABEL_SUFFIX, group: 'lan', internalOnly: true }, { suffix: 'home.lan', group: 'internal', internalOnly: true }], 'public');
    expect(t.lookup('nas').group).toBe('lan');
    expect(t.lookup('a\\.b').group).toBe('lan'); // one label with an escaped dot inside
    expect(t.lookup('nas.home.lan').group).toBe('internal');
    expect(t.lookup('example.com').group).toBe('public');
    expect(t.lookup('').group).toBe('public'); // the root is not a single-label name
    expect(table.lookup('nas').group).toBe('public'); // without the route: the default
  });
  it('normalizes suffixes', () => {
    expect(normalizeSuffix('.Home.LAN.')).toBe('home.lan');
    expect(normalizeSuffix('.')).toBe('');
  });
});

describe('reverseZonesForCidr', () => {
  it('gives one zone on octet and nibble boundaries', () => {
    expect(reverseZonesForCidr('10.0.0.0/8')).toEqual(['10.in-addr.arpa']);
    expect(reverseZonesForCidr('192.168.1.0/24')).toEqual(['1.168.192.in-addr.arpa']);
    expect(reverseZonesForCidr('fd00::/8')).toEqual(['d.f.ip6.arpa']);
    expect(reverseZonesForCidr('fd12:3456::/32')).toEqual(['6.5.4.3.2.1.d.f.ip6.arpa']);
    expect(reverseZonesForCidr('0.0.0.0/0')).toEqual(['in-addr.arpa']);
  });
  it('widens other prefixes by enumeration', () => {
    const z = reverseZonesForCidr('172.16.0.0/12')!;
    expect(z).toHaveLength(16);
    expect(z[0]).toBe('16.172.in-addr.arpa');
    expect(z[15]).toBe('31.172.in-addr.arpa');
    expect(reverseZonesForCidr('fc00::/7')).toEqual(['c.f.ip6.arpa', 'd.f.ip6.arpa']);
    expect(reverseZonesForCidr('100.64.0.0/10')).toHaveLength(64);
  });
  it('rejects malformed CIDRs', () => {
    for (const bad of ['10.0.0.0', '10.0.0/8', '300.0.0.0/8', '10.0.0.0/33', 'fd00::/129', 'zz::/8', '10.0.0.0/x']) {
      expect(reverseZonesForCidr(bad)).toBeUndefined();
    }
  });
});

describe('IPv6 text', () => {
  it('parses and prints RFC 5952 form', () => {
    expect(formatIpv6(parseIpv6('0:0:0:0:0:0:0:1')!)).toBe('::1');
    expect(formatIpv6(parseIpv6('FD00:0:0:1::5')!)).toBe('fd00:0:0:1::5');
    expect(formatIpv6(parseIpv6('::ffff:10.0.0.1')!)).toBe('::ffff:a00:1');
    expect(parseIpv6('1::2::3')).toBeUndefined();
    expect(parseIpv6('1:2:3:4:5:6:7:8:9')).toBeUndefined();
  });
});

describe('parseUpstream', () => {
  const ok: [string, string, string][] = [
    ['10.0.0.1', '10.0.0.1:53', 'udp'],
    ['127.0.0.1:5300', '127.0.0.1:5300', 'udp'],
    ['127.0.0.1#5300', '127.0.0.1:5300', 'udp'],
    ['[::1]:5300', '[::1]:5300', 'udp'],
    ['::1', '[::1]:53', 'udp'],
    ['tcp://10.0.0.1', 'tcp://10.0.0.1:53', 'tcp'],
    ['tls://dns.example:853', 'tls://dns.example:853', 'tls'],
    ['https://dns.example/dns-query', 'https://dns.example:443/dns-query', 'https'],
  ];
  for (const [text, id, transport] of ok) {
    it(`parses ${text}`, () => {
      const r = parseUpstream(text);
      expect(r.ok && [r.spec.id, r.spec.transport]).toEqual([id, transport]);
    });
  }
  for (const bad of ['dns.example', 'quic://1.1.1.1', '1.1.1.1:0', '1.1.1.1:99999', '[::1', 'tcp://1.1.1.1/x', '']) {
    it(`rejects '${bad}'`, () => expect(parseUpstream(bad).ok).toBe(false));
  }
});
