import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AllowedIps, maskPrefix } from '../../src/wireguard/allowed-ips.js';
import type { IpPrefix } from '../../src/wireguard/device-api.js';

function v4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

function v6(text: string): Uint8Array {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

function prefix(text: string): IpPrefix {
  const [addr, bits] = text.split('/') as [string, string];
  return addr.includes(':') ? { family: 6, address: v6(addr), bits: Number(bits) } : { family: 4, address: v4(addr), bits: Number(bits) };
}

function addr(text: string): Uint8Array {
  return text.includes(':') ? v6(text) : v4(text);
}

describe('AllowedIps longest-prefix match', () => {
  const table: [string, string][] = [
    ['10.0.0.0/8', 'a'],
    ['10.1.0.0/16', 'b'],
    ['10.1.2.0/24', 'c'],
    ['10.1.2.3/32', 'd'],
    ['192.168.0.0/16', 'e'],
    ['0.0.0.0/0', 'z'],
    ['2001:db8::/32', 'f'],
    ['2001:db8:1::/48', 'g'],
    ['2001:db8:1::1/128', 'h'],
    ['fd00::/8', 'i'],
  ];
  const cases: [string, string | undefined][] = [
    ['10.1.2.3', 'd'],
    ['10.1.2.4', 'c'],
    ['10.1.3.1', 'b'],
    ['10.2.0.1', 'a'],
    ['11.0.0.1', 'z'],
    ['192.168.255.255', 'e'],
    ['2001:db8:1::1', 'h'],
    ['2001:db8:1::2', 'g'],
    ['2001:db8:2::1', 'f'],
    ['fdff::1', 'i'],
    ['fe80::1', undefined],
    ['::', undefined],
  ];
  const t = new AllowedIps<string>();
  for (const [p, peer] of table) t.insert(prefix(p), peer);
  it.each(cases)('%s routes to %s', (a, expected) => {
    expect(t.lookup(addr(a))).toBe(expected);
  });

  it('looks up addresses inside a packet at an offset', () => {
    const packet = new Uint8Array(20);
    packet.set(v4('10.1.2.3'), 16);
    expect(t.lookupV4(packet, 16)).toBe('d');
    expect(t.lookupV4(packet, 17)).toBeUndefined(); // out of bounds, not a throw
  });
});

describe('AllowedIps updates', () => {
  it('moves a prefix to the peer that inserted it last (prefixes are unique per device)', () => {
    const t = new AllowedIps<string>();
    t.insert(prefix('10.0.0.0/24'), 'a');
    t.insert(prefix('10.0.0.0/24'), 'b');
    expect(t.lookup(addr('10.0.0.9'))).toBe('b');
    expect(t.prefixesOf('a')).toEqual([]);
    expect(t.prefixesOf('b')).toEqual([prefix('10.0.0.0/24')]);
  });

  it('masks host bits on insert', () => {
    const t = new AllowedIps<string>();
    t.insert(prefix('10.1.2.3/16'), 'a');
    expect(t.prefixesOf('a')).toEqual([prefix('10.1.0.0/16')]);
  });

  it('a more specific prefix of another peer takes the addresses it covers (crypto-RP filter)', () => {
    const t = new AllowedIps<string>();
    t.insert(prefix('192.168.241.0/24'), 'a');
    t.insert(prefix('192.168.241.2/32'), 'b');
    expect(t.lookup(addr('192.168.241.2'))).toBe('b');
    expect(t.lookup(addr('192.168.241.3'))).toBe('a');
  });

  it('removes one prefix only when the peer owns it', () => {
    const t = new AllowedIps<string>();
    t.insert(prefix('10.0.0.0/8'), 'a');
    t.insert(prefix('10.1.0.0/16'), 'b');
    expect(t.remove(prefix('10.1.0.0/16'), 'a')).toBe(false);
    expect(t.lookup(addr('10.1.0.1'))).toBe('b');
    expect(t.remove(prefix('10.1.0.0/16'), 'b')).toBe(true);
    expect(t.lookup(addr('10.1.0.1'))).toBe('a');
    expect(t.remove(prefix('10.1.0.0/16'), 'b')).toBe(false);
  });

  it('removes all prefixes of a peer and lists what is left', () => {
    const t = new AllowedIps<string>();
    t.insert(prefix('10.0.0.0/8'), 'a');
    t.insert(prefix('fd00::/8'), 'a');
    t.insert(prefix('10.9.0.0/16'), 'b');
    t.insert(prefix('10.0.0.0/24'), 'a');
    t.removePeer('a');
    expect(t.prefixesOf('a')).toEqual([]);
    expect(t.lookup(addr('10.0.0.1'))).toBeUndefined();
    expect(t.lookup(addr('fd00::1'))).toBeUndefined();
    expect(t.lookup(addr('10.9.0.1'))).toBe('b');
    expect(t.prefixesOf('b')).toEqual([prefix('10.9.0.0/16')]);
  });

  it('rejects malformed prefixes with RangeError (config errors)', () => {
    const t = new AllowedIps<string>();
    expect(() => t.insert({ family: 4, address: new Uint8Array(16), bits: 8 }, 'a')).toThrow(RangeError);
    expect(() => t.insert({ family: 4, address: new Uint8Array(4), bits: 33 }, 'a')).toThrow(RangeError);
    expect(() => t.insert({ family: 6, address: new Uint8Array(16), bits: -1 }, 'a')).toThrow(RangeError);
  });
});

/** The slow reference: a flat list, scanned for the longest matching prefix. */
class ReferenceTable {
  readonly entries = new Map<string, { p: IpPrefix; peer: number }>();
  static key(p: IpPrefix): string {
    return `${p.family}/${Array.from(maskPrefix(p.address, p.bits)).join('.')}/${p.bits}`;
  }
  insert(p: IpPrefix, peer: number): void {
    this.entries.set(ReferenceTable.key(p), { p: { ...p, address: maskPrefix(p.address, p.bits) }, peer });
  }
  remove(p: IpPrefix, peer: number): void {
    const k = ReferenceTable.key(p);
    if (this.entries.get(k)?.peer === peer) this.entries.delete(k);
  }
  removePeer(peer: number): void {
    for (const [k, e] of this.entries) if (e.peer === peer) this.entries.delete(k);
  }
  lookup(a: Uint8Array): number | undefined {
    let best: { p: IpPrefix; peer: number } | undefined;
    for (const e of this.entries.values()) {
      if (e.p.address.length !== a.length) continue;
      const masked = maskPrefix(a, e.p.bits);
      if (masked.every((v, i) => v === e.p.address[i]) && (best === undefined || e.p.bits > best.p.bits)) best = e;
    }
    return best?.peer;
  }
}

describe('AllowedIps property: agrees with a slow reference', () => {
  // Addresses drawn from a small space so prefixes overlap a lot.
  const arbV4 = fc.tuple(fc.constantFrom(10, 11), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map((b) => Uint8Array.from(b));
  const arbV6 = fc.tuple(fc.constantFrom(0x20, 0xfd), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 14, maxLength: 14 }))
    .map(([a, b, rest]) => Uint8Array.from([a, b, ...rest]));
  const arbPrefix: fc.Arbitrary<IpPrefix> = fc.oneof(
    fc.tuple(arbV4, fc.integer({ min: 0, max: 32 })).map(([address, bits]) => ({ family: 4 as const, address, bits })),
    fc.tuple(arbV6, fc.integer({ min: 0, max: 128 })).map(([address, bits]) => ({ family: 6 as const, address, bits })),
  );
  const arbOp = fc.oneof(
    fc.record({ op: fc.constant('insert' as const), p: arbPrefix, peer: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ op: fc.constant('remove' as const), p: arbPrefix, peer: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ op: fc.constant('removePeer' as const), peer: fc.integer({ min: 0, max: 3 }) }),
  );

  it('after any sequence of inserts and removals, every lookup and listing matches', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 60 }), fc.array(fc.oneof(arbV4, arbV6), { maxLength: 30 }), (ops, probes) => {
        const t = new AllowedIps<number>();
        const ref = new ReferenceTable();
        for (const o of ops) {
          if (o.op === 'insert') {
            t.insert(o.p, o.peer);
            ref.insert(o.p, o.peer);
          } else if (o.op === 'remove') {
            t.remove(o.p, o.peer);
            ref.remove(o.p, o.peer);
          } else {
            t.removePeer(o.peer);
            ref.removePeer(o.peer);
          }
        }
        // Probe the prefixes themselves (boundaries) as well as random addresses.
        const all = [...probes, ...[...ref.entries.values()].map((e) => e.p.address)];
        for (const a of all) expect(t.lookup(a)).toBe(ref.lookup(a));
        for (let peer = 0; peer < 4; peer++) {
          const expected = [...ref.entries.values()].filter((e) => e.peer === peer).map((e) => ReferenceTable.key(e.p)).sort();
          expect(t.prefixesOf(peer).map((p) => ReferenceTable.key(p)).sort()).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});
