/** Client access control: deny drops, allow-lists refuse the rest, mapped IPv4 matches as IPv4. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ClientAccess } from '../../src/dns/access-control.js';
import { parseIpPrefix } from '../../src/runtime/ip-address.js';

const prefixes = (...t: string[]) => t.map((x) => parseIpPrefix(x)!);

describe('ClientAccess', () => {
  const acl = new ClientAccess({ allow: prefixes('10.0.0.0/8', '192.168.1.0/25', 'fd00::/8'), deny: prefixes('10.66.0.0/16') });

  it.each([
    ['10.1.2.3', 'allow'], ['10.66.1.1', 'drop'], ['192.168.1.127', 'allow'], ['192.168.1.128', 'refuse'],
    ['::ffff:10.1.2.3', 'allow'], ['::ffff:10.66.0.9', 'drop'], ['fd12::1', 'allow'], ['fe80::1%eth0', 'refuse'],
    ['203.0.113.9', 'refuse'], ['', 'refuse'], ['not-an-ip', 'refuse'],
  ])('%s → %s', (addr, want) => {
    expect(acl.decide(addr)).toBe(want);
  });

  it('serves everyone with no rules, and only drops the denied with deny rules alone', () => {
    expect(new ClientAccess({ allow: [], deny: [] }).open).toBe(true);
    expect(new ClientAccess({ allow: [], deny: [] }).decide('203.0.113.9')).toBe('allow');
    const denyOnly = new ClientAccess({ allow: [], deny: prefixes('203.0.113.0/24') });
    expect(denyOnly.decide('203.0.113.9')).toBe('drop');
    expect(denyOnly.decide('198.51.100.1')).toBe('allow');
  });

  it('never throws on arbitrary source text', () => {
    fc.assert(fc.property(fc.string(), (t) => ['allow', 'refuse', 'drop'].includes(acl.decide(t))), { numRuns: 2000 });
  });
});
