import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMessage, scanResponse } from '../../src/dns/message.js';
import {
  buildErrorResponse, buildLocalAnswer, buildUpstreamQuery, encodeName, finishCopyForClient, finishForClient, udpLimitFor, type ClientView,
} from '../../src/dns/response.js';
import { A, TXT, query, rd16, reply } from './wire.js';
import { toHex } from '../../src/runtime/bytes.js';

function view(q: Uint8Array, maxBytes: number | undefined): ClientView {
  const p = parseMessage(q);
  if (!p.ok) throw new Error('parse');
  return { id: p.msg.id, flags: p.msg.flags, question: q.subarray(12, p.msg.questionEnd), edns: p.msg.edns, maxBytes };
}

describe('encodeName', () => {
  it('writes labels, escapes and the root', () => {
    expect(toHex(encodeName('a.Bc.')!)).toBe('0161024263' + '00');
    expect(toHex(encodeName('a\\.b')!)).toBe('03612e62' + '00');
    expect(toHex(encodeName('\\255x')!)).toBe('02ff78' + '00');
    expect(toHex(encodeName('')!)).toBe('00');
  });
  it('rejects empty labels, 64-byte labels and names over 255 bytes', () => {
    expect(encodeName('a..b')).toBeUndefined();
    expect(encodeName('a'.repeat(64))).toBeUndefined();
    expect(encodeName(Array(5).fill('a'.repeat(63)).join('.'))).toBeUndefined();
  });
});

describe('buildUpstreamQuery', () => {
  it('uses the new ID, keeps RD/CD, and replaces client EDNS with our own 1232-byte OPT', () => {
    const q = query('Ex.Com', 1, { id: 9, flags: 0x0110, edns: { size: 4096, do: true } });
    const v = view(q, 512);
    const u = buildUpstreamQuery(v.question, v.flags, 0xbeef, true);
    const p = parseMessage(u);
    expect(p.ok && [p.msg.id, p.msg.flags, p.msg.qname, p.msg.edns]).toEqual([0xbeef, 0x0110, 'ex.com', { udpPayloadBytes: 1232, version: 0, dnssecOk: true }]);
    expect(toHex(u.subarray(12, 12 + v.question.length))).toBe(toHex(v.question)); // case kept
  });
});

describe('buildErrorResponse', () => {
  it('echoes ID, question, RD and OPT', () => {
    const q = query('x.example', 28, { id: 0x4242, edns: {} });
    const r = buildErrorResponse(view(q, 512), 2);
    const p = parseMessage(r);
    expect(p.ok && [p.msg.id, p.msg.flags & 0x810f, p.msg.qname, p.msg.qtype, p.msg.edns !== undefined]).toEqual([0x4242, 0x8102, 'x.example', 28, true]);
  });
});

describe('buildErrorResponse with an Extended DNS Error', () => {
  it('puts EDE option 15 with the info code into the OPT record (RFC 8914), only for EDNS clients', () => {
    const q = query('x.example', 1, { id: 1, edns: {} });
    const r = buildErrorResponse(view(q, 1232), 2, 0, 22);
    expect(toHex(r.subarray(r.length - 6))).toBe('000f' + '0002' + '0016');
    expect(rd16(r, r.length - 8)).toBe(6); // OPT RDLENGTH
    const p = parseMessage(r);
    expect(p.ok && p.msg.edns !== undefined).toBe(true);
    const plain = buildErrorResponse(view(query('x.example', 1), 512), 2, 0, 22);
    expect(rd16(plain, 10)).toBe(0);
  });
});

describe('finishForClient', () => {
  const up = reply('a.example', 1, { id: 0x7777, answers: [A('a.example', '192.0.2.1')], edns: true });
  const pu = parseMessage(up, false);
  if (!pu.ok) throw new Error('parse');
  const su = scanResponse(up, pu.msg)!;

  it("writes the client's ID and question case and strips OPT for a client without EDNS", () => {
    const q = query('A.Example', 1, { id: 0x0102 });
    const out = finishForClient(Uint8Array.from(up), pu.msg.questionEnd, su.optStart, su.optEnd, view(q, 512));
    expect(rd16(out, 0)).toBe(0x0102);
    expect(Buffer.from(out.subarray(13, 14)).toString()).toBe('A');
    expect(rd16(out, 10)).toBe(0);
    expect(out.length).toBe(up.length - 11);
    const p = parseMessage(out);
    expect(p.ok && p.msg.edns).toBeUndefined();
  });

  it('gives the same bytes from the copying variant, leaving the reply untouched', () => {
    for (const q of [query('A.Example', 1, { id: 0x0102 }), query('a.EXAMPLE', 1, { id: 0x0103, edns: {} })]) {
      const before = toHex(up);
      const a = finishCopyForClient(up, pu.msg.questionEnd, su.optStart, su.optEnd, view(q, 512));
      const b = finishForClient(Uint8Array.from(up), pu.msg.questionEnd, su.optStart, su.optEnd, view(q, 512));
      expect(toHex(a)).toBe(toHex(b));
      expect(toHex(up)).toBe(before);
    }
  });

  it('sets TC and drops the records when the answer exceeds the client limit', () => {
    const big = reply('t.example', 16, { id: 1, answers: Array.from({ length: 8 }, (_, i) => TXT('t.example', 'x'.repeat(100) + i)), edns: true });
    const pb = parseMessage(big, false);
    if (!pb.ok) throw new Error('parse');
    const sb = scanResponse(big, pb.msg)!;
    const q = query('t.example', 16, { id: 5 });
    const out = finishForClient(Uint8Array.from(big), pb.msg.questionEnd, sb.optStart, sb.optEnd, view(q, 512));
    expect(rd16(out, 2) & 0x0200).toBe(0x0200);
    expect(rd16(out, 6)).toBe(0);
    expect(out.length).toBeLessThanOrEqual(512);
    const tcp = finishForClient(Uint8Array.from(big), pb.msg.questionEnd, sb.optStart, sb.optEnd, view(q, undefined));
    expect(rd16(tcp, 6)).toBe(8);
  });
});

describe('buildLocalAnswer', () => {
  it('answers with pointers to the question name and parses back', () => {
    const q = query('Host.Home.Lan', 1, { id: 3, edns: {} });
    const out = buildLocalAnswer(view(q, 1232), 'host.home.lan', [{ name: 'host.home.lan', type: 1, ttl: 60, rdata: Uint8Array.of(10, 0, 0, 5) }], 0);
    const p = parseMessage(out);
    if (!p.ok) throw new Error('parse');
    expect([p.msg.id, p.msg.ancount, p.msg.flags & 0x0400]).toEqual([3, 1, 0x0400]);
    const s = scanResponse(out, p.msg)!;
    expect(s.minTtl).toBe(60);
    expect(toHex(out.subarray(out.length - 11 - 4, out.length - 11))).toBe('0a000005');
  });
  it('never throws for arbitrary record names and rdata', () => {
    const q = query('a.b', 1);
    fc.assert(fc.property(fc.string(), fc.uint8Array({ maxLength: 300 }), (name, rdata) => {
      buildLocalAnswer(view(q, 512), 'a.b', [{ name, type: 16, ttl: 1, rdata }], 0);
    }));
  });
});

describe('udpLimitFor', () => {
  it('is 512 without EDNS and the client size capped at 1232 with it', () => {
    expect(udpLimitFor(undefined)).toBe(512);
    expect(udpLimitFor({ udpPayloadBytes: 512, version: 0, dnssecOk: false })).toBe(512);
    expect(udpLimitFor({ udpPayloadBytes: 1000, version: 0, dnssecOk: false })).toBe(1000);
    expect(udpLimitFor({ udpPayloadBytes: 4096, version: 0, dnssecOk: false })).toBe(1232);
  });
});
