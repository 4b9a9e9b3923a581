import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipClaimedLength, ipVersion, parseIpAddress } from '../../src/wireguard/ip-packet.js';
import { DeadlineHeap } from '../../src/wireguard/deadline-heap.js';
import { IndexTable } from '../../src/wireguard/index-table.js';
import { SeededRng, type Rng } from '../../src/runtime/rng.js';
import { fromHex } from '../../src/runtime/bytes.js';

describe('parseIpAddress', () => {
  it.each([
    ['192.0.2.1', 'c0000201'],
    ['0.0.0.0', '00000000'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['fe80::1%eth0', 'fe800000000000000000000000000001'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
  ])('%s', (text, hex) => {
    expect(parseIpAddress(text)).toEqual(fromHex(hex));
  });
  it.each(['', '1.2.3', '1.2.3.256', '1.2.3.4.5', 'a.b.c.d', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'example.com', ':::'])('rejects %j', (text) => {
    expect(parseIpAddress(text)).toBeUndefined();
  });
  it('never throws', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
      parseIpAddress(s);
    }));
  });
});

describe('IP header reading', () => {
  it('reads version and the claimed length, rejecting lengths beyond the packet', () => {
    const v4 = fromHex('450000140000000040110000c0000201c0000202');
    expect(ipVersion(v4)).toBe(4);
    expect(ipClaimedLength(v4, 4)).toBe(20);
    const padded = new Uint8Array(32);
    padded.set(v4);
    expect(ipClaimedLength(padded, 4)).toBe(20);
    const lying = v4.slice();
    lying[3] = 21;
    expect(ipClaimedLength(lying, 4)).toBe(0);
    const v6 = new Uint8Array(48);
    v6[0] = 0x60;
    v6[5] = 8;
    expect(ipVersion(v6)).toBe(6);
    expect(ipClaimedLength(v6, 6)).toBe(48);
    expect(ipVersion(v6.subarray(0, 39))).toBe(0);
    expect(ipVersion(new Uint8Array([0x50]))).toBe(0);
  });
  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const v = ipVersion(b);
      if (v !== 0) expect(ipClaimedLength(b, v)).toBeLessThanOrEqual(b.length);
    }));
  });
});

describe('DeadlineHeap', () => {
  it('pops in deadline order and skips stale entries', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 50 }), (ats) => {
      const h = new DeadlineHeap<number>();
      ats.forEach((at, i) => h.push(at, i));
      const live = (i: number) => i % 3 !== 0;
      const popped: number[] = [];
      for (let item = h.popDue(1000, (i) => live(i)); item !== undefined; item = h.popDue(1000, (i) => live(i))) popped.push(ats[item]!);
      expect(popped).toEqual(ats.filter((_, i) => live(i)).sort((a, b) => a - b));
    }));
  });
  it('popDue leaves entries that are not due yet', () => {
    const h = new DeadlineHeap<string>();
    h.push(10, 'a');
    h.push(5, 'b');
    expect(h.popDue(7, () => true)).toBe('b');
    expect(h.popDue(7, () => true)).toBeUndefined();
    expect(h.peek(() => true)).toBe(10);
  });
});

describe('IndexTable', () => {
  it('hands out distinct random indices even when the Rng repeats itself', () => {
    let n = 0;
    const repeating: Rng = { fill: (out) => out.fill(n++ % 4 === 3 ? 1 : 0) }; // 0,0,0,1,0,0,0,1...
    const t = new IndexTable<string>(repeating);
    const a = t.insert({ kind: 'handshake', peer: 'a' });
    const b = t.insert({ kind: 'handshake', peer: 'b' });
    expect(a).not.toBe(b);
    expect(t.lookup(a)).toEqual({ kind: 'handshake', peer: 'a' });
    t.remove(a, 'b'); // not b's: stays
    expect(t.size).toBe(2);
    t.remove(a, 'a');
    expect(t.lookup(a)).toBeUndefined();
  });
  it('uses the injected Rng (reproducible)', () => {
    const x = new IndexTable<string>(new SeededRng(3)).insert({ kind: 'handshake', peer: 'a' });
    const y = new IndexTable<string>(new SeededRng(3)).insert({ kind: 'handshake', peer: 'a' });
    expect(x).toBe(y);
  });
});
