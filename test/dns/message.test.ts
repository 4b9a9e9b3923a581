import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex } from '../../src/runtime/bytes.js';
import { cnameTargets, equalsIgnoreCase, parseMessage, readName, scanResponse, skipName } from '../../src/dns/message.js';
import { A, CNAME, SOA, TXT, query, reply } from './wire.js';

// dig-style query for "Example.COM A" with RD and an OPT record (1232 bytes, DO clear).
const EXAMPLE_QUERY_HEX =
  'abcd' + '0120' + '0001' + '0000' + '0000' + '0001' +
  '07' + '4578616d706c65' + '03' + '434f4d' + '00' + '0001' + '0001' +
  '00' + '0029' + '04d0' + '00' + '00' + '0000' + '0000';

describe('parseMessage', () => {
  it('reads the header, the first question (lower-cased) and the OPT record of a real query', () => {
    const r = parseMessage(fromHex(EXAMPLE_QUERY_HEX));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.msg.id).toBe(0xabcd);
    expect(r.msg.flags).toBe(0x0120);
    expect(r.msg.qname).toBe('example.com');
    expect(r.msg.qtype).toBe(1);
    expect(r.msg.qclass).toBe(1);
    expect(r.msg.questionEnd).toBe(12 + 13 + 4);
    expect(r.msg.edns).toEqual({ udpPayloadBytes: 1232, version: 0, dnssecOk: false });
    expect(r.msg.questionCompressed).toBe(false);
  });

  it('drops messages shorter than a header', () => {
    expect(parseMessage(fromHex('abcd01000001000000'))).toEqual({ ok: false, reason: 'short-header' });
  });

  it('reports a missing question with the header so a FORMERR can echo the ID', () => {
    expect(parseMessage(fromHex('abcd01000000000000000000'))).toEqual({ ok: false, reason: 'no-question', id: 0xabcd, flags: 0x0100 });
  });

  it('raises an EDNS payload below 512 to 512 and reads DO', () => {
    const r = parseMessage(query('a.b', 1, { edns: { size: 100, do: true } }));
    expect(r.ok && r.msg.edns).toEqual({ udpPayloadBytes: 512, version: 0, dnssecOk: true });
  });

  it('rejects two OPT records', () => {
    const q = query('a.b', 1, { edns: {} });
    const two = Uint8Array.from([...q, ...q.subarray(q.length - 11)]);
    two[11] = 2;
    expect(parseMessage(two)).toMatchObject({ ok: false, reason: 'multiple-opt' });
  });

  it('rejects a record count larger than the message', () => {
    const q = query('a.b', 1);
    q[11] = 5; // ARCOUNT 5, no records
    expect(parseMessage(q)).toMatchObject({ ok: false, reason: 'bad-record' });
    expect(parseMessage(q, false).ok).toBe(true);
  });

  it('flags a compressed question name', () => {
    // QNAME = label "a" then a pointer to offset 4 (inside the header, strictly earlier)
    const b = fromHex('00010100000100000000000001 61 c004 00010001'.replace(/ /g, ''));
    const r = parseMessage(b);
    expect(r.ok && r.msg.questionCompressed).toBe(true);
  });
});

describe('readName', () => {
  const cases: [string, string, string][] = [
    ['self-pointer', '000000000000000000000000' + 'c00c', 'bad-pointer'],
    ['forward pointer', '000000000000000000000000' + 'c00e' + '0161' + '00', 'bad-pointer'],
    ['two-step loop', '000000000000000000000000' + '0161c00c', 'bad-pointer'],
    ['pointer past the end', '000000000000000000000000' + 'c0', 'bad-pointer'],
    ['label type 01', '000000000000000000000000' + '4100', 'bad-name'],
    ['label type 10', '000000000000000000000000' + '8100', 'bad-name'],
    ['label past the end', '000000000000000000000000' + '05616263', 'bad-name'],
    ['missing root octet', '000000000000000000000000' + '0161', 'bad-name'],
  ];
  for (const [name, hex, reason] of cases) {
    it(`rejects a ${name}`, () => {
      expect(readName(fromHex(hex), 12)).toEqual({ ok: false, reason });
      expect(skipName(fromHex(hex), 12) === -1 || reason === 'bad-pointer').toBe(true);
    });
  }

  it('follows a pointer back into a run that pointed there, but not in a loop', () => {
    // offset 12: "b" "c" root; offset 17: "a" + pointer to 12 → a.b.c
    const b = fromHex('000000000000000000000000' + '0162016300' + '0141c00c');
    expect(readName(b, 17)).toEqual({ ok: true, name: 'a.b.c', end: 21, compressed: true });
    // a pointer from inside the target run back to the run start's own pointer is a loop
    const loop = fromHex('000000000000000000000000' + '0162c011' + '0141c00c');
    expect(readName(loop, 16)).toEqual({ ok: false, reason: 'bad-pointer' });
  });

  it('stops after 127 pointer hops (a chain of pointers, each to the one before)', () => {
    const chain = (n: number) => {
      const b = [...new Uint8Array(12), 0]; // offset 12: the root
      for (let i = 0; i < n; i++) {
        const target = i === 0 ? 12 : 13 + 2 * (i - 1); // the previous pointer
        b.push(0xc0 | (target >> 8), target & 0xff);
      }
      return Uint8Array.from(b);
    };
    const ok = chain(127);
    expect(readName(ok, ok.length - 2)).toMatchObject({ ok: true, name: '' });
    const long = chain(200);
    expect(readName(long, long.length - 2)).toEqual({ ok: false, reason: 'bad-pointer' });
  });

  it('accepts a 255-byte name and rejects 256 bytes', () => {
    const label63 = '3f' + '61'.repeat(63);
    // 3 × 64 + 62 + root = 255 bytes
    const ok = fromHex('00'.repeat(12) + label63.repeat(3) + '3d' + '61'.repeat(61) + '00');
    const r = readName(ok, 12);
    expect(r.ok).toBe(true);
    const tooLong = fromHex('00'.repeat(12) + label63.repeat(3) + '3e' + '61'.repeat(62) + '00');
    expect(readName(tooLong, 12)).toEqual({ ok: false, reason: 'name-too-long' });
    expect(skipName(tooLong, 12)).toBe(-1);
  });

  it('escapes dots, backslashes and non-printable bytes so one label never looks like two', () => {
    const b = fromHex('00'.repeat(12) + '03612e62' + '015c' + '02ff20' + '00');
    expect(readName(b, 12)).toEqual({ ok: true, name: 'a\\.b.\\\\.\\255\\032', end: 12 + 10, compressed: false });
  });

  it('lower-cases ASCII only', () => {
    const b = fromHex('00'.repeat(12) + '03414243' + '00');
    expect(readName(b, 12)).toMatchObject({ ok: true, name: 'abc' });
  });
});

describe('scanResponse', () => {
  it('finds TTL offsets, the minimum TTL, CNAME targets and the OPT record', () => {
    const b = reply('www.example.com', 1, {
      id: 7, answers: [CNAME('www.example.com', 'cdn.example.net', 600), A('cdn.example.net', '192.0.2.1', 120)], edns: true,
    });
    const p = parseMessage(b, false);
    if (!p.ok) throw new Error('parse');
    const s = scanResponse(b, p.msg)!;
    expect(s.ttlOffsets).toHaveLength(2);
    expect(s.minTtl).toBe(120);
    expect(s.minAnswerTtl).toBe(120);
    expect(s.optEnd).toBe(b.length);
    expect(s.optStart).toBe(b.length - 11);
    expect(cnameTargets(b, s)).toEqual(['cdn.example.net']);
  });

  it('takes the negative TTL as min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)', () => {
    const b = reply('nope.example', 1, { id: 1, rcode: 3, authority: [SOA('example', 900, 60)] });
    const p = parseMessage(b, false);
    if (!p.ok) throw new Error('parse');
    expect(scanResponse(b, p.msg)!.negativeTtl).toBe(60);
    const b2 = reply('nope.example', 1, { id: 1, rcode: 3, authority: [SOA('example', 30, 600)] });
    const p2 = parseMessage(b2, false);
    if (!p2.ok) throw new Error('parse');
    expect(scanResponse(b2, p2.msg)!.negativeTtl).toBe(30);
  });

  it('rejects an RDLENGTH past the end', () => {
    const b = reply('t.example', 16, { id: 1, answers: [TXT('t.example', 'hello')] });
    const cut = b.subarray(0, b.length - 2);
    const p = parseMessage(cut, false);
    if (!p.ok) throw new Error('parse');
    expect(scanResponse(cut, p.msg)).toBeUndefined();
  });
});

describe('never throws', () => {
  it('on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseMessage(bytes);
        if (r.ok) scanResponse(bytes, r.msg);
        readName(bytes, 0);
        skipName(bytes, 5);
      }),
      { numRuns: 3000 },
    );
  });

  it('on mutations of a valid reply', () => {
    const base = reply('www.example.com', 1, {
      id: 7, answers: [CNAME('www.example.com', 'cdn.example.net'), A('cdn.example.net', '192.0.2.1')],
      authority: [SOA('example.net', 60, 60)], edns: true,
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (muts) => {
        const b = Uint8Array.from(base);
        for (const [i, v] of muts) b[i] = v;
        const r = parseMessage(b);
        if (r.ok) {
          const s = scanResponse(b, r.msg);
          if (s) cnameTargets(b, s);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('equalsIgnoreCase', () => {
  it('compares ASCII letters without case and other bytes exactly', () => {
    const a = Uint8Array.from(Buffer.from('AbC[')); // '[' (0x5b) must not equal '{' (0x7b)
    expect(equalsIgnoreCase(a, 0, Uint8Array.from(Buffer.from('aBc[')), 0, 4)).toBe(true);
    expect(equalsIgnoreCase(a, 0, Uint8Array.from(Buffer.from('abc{')), 0, 4)).toBe(false);
  });
});
