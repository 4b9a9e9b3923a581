import { describe, expect, it } from 'vitest';
import { LocalRecordStore, peerRecords, type LocalRecordInput } from '../../src/dns/local-records.js';
import { RCODE, RR_TYPE } from '../../src/dns/rdata.js';
import { toHex } from '../../src/runtime/bytes.js';

const RECORDS: LocalRecordInput[] = [
  { name: 'nas.home.lan', type: 'A', address: '10.0.0.5' },
  { name: 'nas.home.lan', type: 'AAAA', address: 'fd00::5', ttl: 60 },
  { name: 'files.home.lan', type: 'CNAME', target: 'nas.home.lan' },
  { name: 'alias.home.lan', type: 'CNAME', target: 'files.home.lan' },
  { name: 'out.home.lan', type: 'CNAME', target: 'www.example.org' },
  { name: 'loop1.home.lan', type: 'CNAME', target: 'loop2.home.lan' },
  { name: 'loop2.home.lan', type: 'CNAME', target: 'loop1.home.lan' },
  { name: 'deep.a.b.home.lan', type: 'TXT', text: ['hello'] },
  { name: 'Printer.Elsewhere.', type: 'A', address: '192.168.1.9' },
];

function store(opts: ConstructorParameters<typeof LocalRecordStore>[0] = { zones: ['home.lan'] }): LocalRecordStore {
  const s = new LocalRecordStore(opts);
  expect(s.setGroup('config', RECORDS)).toEqual([]);
  return s;
}

describe('LocalRecordStore.lookup', () => {
  const s = store();

  it('answers A and AAAA with wire RDATA and per-record TTLs', () => {
    const a = s.lookup('nas.home.lan', RR_TYPE.A)!;
    expect(a.rcode).toBe(RCODE.NOERROR);
    expect(a.records.map((r) => [r.name, r.type, r.ttl, toHex(r.rdata)])).toEqual([['nas.home.lan', 1, 300, '0a000005']]);
    expect(s.lookup('nas.home.lan', RR_TYPE.AAAA)!.records[0]).toMatchObject({ type: 28, ttl: 60 });
  });

  it('answers ANY with every record of the name', () => {
    expect(s.lookup('nas.home.lan', RR_TYPE.ANY)!.records.map((r) => r.type)).toEqual([1, 28]);
  });

  it('gives NODATA for a name that exists with other types', () => {
    expect(s.lookup('nas.home.lan', RR_TYPE.TXT)).toEqual({ records: [], rcode: RCODE.NOERROR });
  });

  it('gives NXDOMAIN for an absent name inside a local zone', () => {
    expect(s.lookup('nothere.home.lan', RR_TYPE.A)).toEqual({ records: [], rcode: RCODE.NXDOMAIN });
  });

  it('gives NODATA for the zone apex and empty non-terminals', () => {
    expect(s.lookup('home.lan', RR_TYPE.A)?.rcode).toBe(RCODE.NOERROR);
    expect(s.lookup('a.b.home.lan', RR_TYPE.A)).toEqual({ records: [], rcode: RCODE.NOERROR });
    expect(s.lookup('b.home.lan', RR_TYPE.A)?.rcode).toBe(RCODE.NOERROR);
  });

  it('forwards absent names outside local zones, but answers records held there', () => {
    expect(s.lookup('www.example.org', RR_TYPE.A)).toBeUndefined();
    expect(s.lookup('elsewhere', RR_TYPE.A)).toBeUndefined();
    expect(s.lookup('printer.elsewhere', RR_TYPE.A)?.records).toHaveLength(1);
  });

  it('follows CNAME chains through local data', () => {
    const r = s.lookup('alias.home.lan', RR_TYPE.A)!;
    expect(r.records.map((x) => [x.name, x.type])).toEqual([['alias.home.lan', 5], ['files.home.lan', 5], ['nas.home.lan', 1]]);
    expect(toHex(r.records[0]!.rdata)).toBe('0566696c657304686f6d65036c616e00');
  });

  it('returns the CNAME itself for qtype CNAME and stops at names it does not hold', () => {
    expect(s.lookup('files.home.lan', RR_TYPE.CNAME)!.records.map((x) => x.type)).toEqual([5]);
    expect(s.lookup('out.home.lan', RR_TYPE.A)!.records.map((x) => x.name)).toEqual(['out.home.lan']);
  });

  it('does not loop on CNAME cycles', () => {
    expect(s.lookup('loop1.home.lan', RR_TYPE.A)!.records.map((x) => x.name)).toEqual(['loop1.home.lan', 'loop2.home.lan']);
  });
});

describe('LocalRecordStore groups and validation', () => {
  it('adds automatic PTR records when asked', () => {
    const s = store({ autoPtr: true });
    const ptr = s.lookup('5.0.0.10.in-addr.arpa', RR_TYPE.PTR)!;
    expect(ptr.records.map((r) => toHex(r.rdata))).toEqual(['036e617304686f6d65036c616e00']);
    expect(s.lookup('5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa', RR_TYPE.PTR)?.records).toHaveLength(1);
  });

  it('reports invalid records instead of throwing', () => {
    const s = new LocalRecordStore();
    const rejected = s.setGroup('x', [
      { name: 'bad..name', type: 'A', address: '10.0.0.1' },
      { name: 'ok.lan', type: 'A', address: '10.0.0.300' },
      { name: 'ok.lan', type: 'AAAA', address: '10.0.0.1' },
      { name: 'ok.lan', type: 'CNAME', target: 'x y' },
      { name: 'ok.lan', type: 'TXT', text: [] },
      { name: 'ok.lan', type: 'A', address: '10.0.0.1', ttl: -1 },
      { name: 'good.lan', type: 'A', address: '10.0.0.1' },
    ]);
    expect(rejected.map((r) => [r.index, r.reason])).toEqual([[0, 'bad-name'], [1, 'bad-address'], [2, 'bad-address'], [3, 'bad-target'], [4, 'bad-text'], [5, 'bad-ttl']]);
    expect(s.size).toBe(1);
  });

  it('rejects data beside a CNAME (RFC 1034 §3.6.2), keeping the earlier group', () => {
    const s = store();
    const rejected = s.setGroup('peers', [{ name: 'files.home.lan', type: 'A', address: '10.0.0.9' }]);
    expect(rejected).toEqual([{ index: 0, name: 'files.home.lan', reason: 'cname-conflict' }]);
    expect(s.lookup('files.home.lan', RR_TYPE.A)!.records[0]!.type).toBe(RR_TYPE.CNAME);
  });

  it('replaces a group whole, so peer names can be refreshed (MagicDNS hook)', () => {
    const s = store();
    s.addZone('ts.lan');
    s.setGroup('wireguard-peers', peerRecords([{ name: 'Laptop (Viktor)', addresses: ['100.64.0.2', 'fd7a::2'] }], 'ts.lan'));
    expect(s.lookup('laptop-viktor.ts.lan', RR_TYPE.A)!.records[0]).toMatchObject({ ttl: 60 });
    expect(s.lookup('laptop-viktor.ts.lan', RR_TYPE.AAAA)!.records).toHaveLength(1);
    s.setGroup('wireguard-peers', peerRecords([{ name: 'phone', addresses: ['100.64.0.3'] }, { name: '***', addresses: ['100.64.0.4'] }], 'ts.lan'));
    expect(s.lookup('laptop-viktor.ts.lan', RR_TYPE.A)!.rcode).toBe(RCODE.NXDOMAIN);
    expect(s.lookup('phone.ts.lan', RR_TYPE.A)!.records).toHaveLength(1);
    expect(s.lookup('nas.home.lan', RR_TYPE.A)!.records).toHaveLength(1);
  });
});

describe('LocalRecordStore robustness', () => {
  it('never throws on arbitrary inputs and lookups', async () => {
    const fc = (await import('fast-check')).default;
    const name = fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom('a.lan', 'b.a.lan', 'lan', 'A.LAN.'));
    const input = fc.oneof(
      fc.record({ name, type: fc.constantFrom('A' as const, 'AAAA' as const), address: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('10.0.0.1', '::1')), ttl: fc.option(fc.integer(), { nil: undefined }) }),
      fc.record({ name, type: fc.constantFrom('CNAME' as const, 'PTR' as const), target: name }),
      fc.record({ name, type: fc.constant('TXT' as const), text: fc.array(fc.string({ maxLength: 300 }), { maxLength: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(input, { maxLength: 12 }), fc.array(fc.tuple(name, fc.integer({ min: 0, max: 65535 })), { maxLength: 8 }), (inputs, queries) => {
        const s = new LocalRecordStore({ zones: ['lan'], autoPtr: true });
        s.setGroup('g', inputs);
        for (const [q, t] of queries) {
          const a = s.lookup(q, t);
          if (a) for (const r of a.records) expect(r.rdata.length).toBeLessThanOrEqual(65535);
        }
      }),
      { numRuns: 300 },
    );
  });
});
