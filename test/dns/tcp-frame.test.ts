import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TcpFrameDecoder, frameMessage } from '../../src/dns/tcp-frame.js';
import { toHex } from '../../src/runtime/bytes.js';
import { query } from './wire.js';

describe('TcpFrameDecoder', () => {
  const m1 = query('a.example', 1, { id: 1 });
  const m2 = query('bb.example', 28, { id: 2, edns: {} });
  const stream = Uint8Array.from([...frameMessage(m1), ...frameMessage(m2)]);

  it('decodes two pipelined messages split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new TcpFrameDecoder();
      const a = d.push(stream.subarray(0, cut));
      const b = d.push(stream.subarray(cut));
      if (!a.ok || !b.ok) throw new Error('decode');
      expect([...a.messages, ...b.messages].map(toHex)).toEqual([toHex(m1), toHex(m2)]);
      expect(d.midMessage).toBe(false);
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const d = new TcpFrameDecoder();
    const got: string[] = [];
    for (const byte of stream) {
      const r = d.push(Uint8Array.of(byte));
      if (!r.ok) throw new Error('decode');
      got.push(...r.messages.map(toHex));
    }
    expect(got).toEqual([toHex(m1), toHex(m2)]);
  });

  it('returns copies that later chunks cannot change, also for Buffer chunks', () => {
    const d = new TcpFrameDecoder();
    const buf = Buffer.from(frameMessage(m1));
    const r = d.push(buf);
    buf.fill(0);
    expect(r.ok && toHex(r.messages[0]!)).toBe(toHex(m1));
  });

  it('rejects frames shorter than a DNS header', () => {
    expect(new TcpFrameDecoder().push(Uint8Array.of(0, 0))).toEqual({ ok: false, reason: 'short-frame' });
    expect(new TcpFrameDecoder().push(Uint8Array.of(0, 11, 1))).toEqual({ ok: false, reason: 'short-frame' });
  });

  it('never throws and never buffers more than one declared message', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (chunks) => {
      const d = new TcpFrameDecoder();
      for (const c of chunks) {
        const r = d.push(c);
        if (!r.ok) break;
        for (const m of r.messages) expect(m.length).toBeGreaterThanOrEqual(12);
      }
    }));
  });
});
