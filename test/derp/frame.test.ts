import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES, FrameDecoder, FrameType, MAGIC, MAX_CLIENT_INFO_FRAME_BYTES, MAX_FORWARD_PACKET_FRAME_BYTES,
  MAX_PACKET_BYTES, MAX_SEND_PACKET_FRAME_BYTES, encodeFrame, frameTypeName, isKnownFrameType, readFrameHeader,
  writeFrame, type Frame,
} from '../../src/derp/frame.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';

describe('frame types match derp.go and derp.md §3.2', () => {
  const table: [keyof typeof FrameType, number][] = [
    ['ServerKey', 0x01], ['ClientInfo', 0x02], ['ServerInfo', 0x03], ['SendPacket', 0x04], ['RecvPacket', 0x05],
    ['KeepAlive', 0x06], ['NotePreferred', 0x07], ['PeerGone', 0x08], ['PeerPresent', 0x09], ['ForwardPacket', 0x0a],
    ['WatchConns', 0x10], ['ClosePeer', 0x11], ['Ping', 0x12], ['Pong', 0x13], ['Health', 0x14], ['Restarting', 0x15],
  ];
  it.each(table)('%s is 0x%s', (name, value) => {
    expect(FrameType[name]).toBe(value);
    expect(isKnownFrameType(value)).toBe(true);
    expect(frameTypeName(value)).toBe(name);
  });
  it('has exactly these 16 types', () => {
    expect(Object.keys(FrameType)).toHaveLength(table.length);
    expect(isKnownFrameType(0x0b)).toBe(false);
    expect(frameTypeName(0x2a)).toBe('unknown_0x2a');
  });
});

describe('constants', () => {
  it('magic is "DERP🔑" in UTF-8, 8 bytes 44 45 52 50 f0 9f 94 91', () => {
    expect(toHex(MAGIC)).toBe('44455250f09f9491');
    expect(new TextEncoder().encode('DERP🔑')).toEqual(MAGIC);
  });
  it('max packet is 64 KiB and frame maxima add the key bytes', () => {
    expect(MAX_PACKET_BYTES).toBe(65536);
    expect(MAX_SEND_PACKET_FRAME_BYTES).toBe(65568);
    expect(MAX_FORWARD_PACKET_FRAME_BYTES).toBe(65600);
    expect(MAX_CLIENT_INFO_FRAME_BYTES).toBe(262144);
  });
});

describe('header codec', () => {
  const cases: { name: string; type: number; payload: string; hex: string }[] = [
    { name: 'keep alive (empty)', type: FrameType.KeepAlive, payload: '', hex: '0600000000' },
    { name: 'note preferred 1', type: FrameType.NotePreferred, payload: '01', hex: '070000000101' },
    { name: 'ping 8 bytes', type: FrameType.Ping, payload: '0102030405060708', hex: '12000000080102030405060708' },
    { name: 'restarting', type: FrameType.Restarting, payload: '000003e800007530', hex: '1500000008000003e800007530' },
  ];
  it.each(cases)('encodes $name as $hex', ({ type, payload, hex }) => {
    expect(toHex(encodeFrame(type, fromHex(payload)))).toBe(hex);
  });
  it('the ServerKey frame starts 01 00 00 00 28 44 45 52 50 f0 9f 94 91 (derp.md §2.1, verified)', () => {
    const key = new Uint8Array(32).fill(0xab);
    const f = encodeFrame(FrameType.ServerKey, MAGIC, key);
    expect(toHex(f.subarray(0, 13))).toBe('010000002844455250f09f9491');
    expect(f.length).toBe(45);
  });
  it('reads a length as uint32 big-endian, above 2^31 too', () => {
    expect(readFrameHeader(fromHex('04ffffffff'))).toEqual({ type: 4, length: 0xffffffff });
    expect(readFrameHeader(fromHex('0400010020'))).toEqual({ type: 4, length: 65568 });
    expect(readFrameHeader(fromHex('04000100'))).toBeUndefined();
  });
  it('writes several parts at an offset', () => {
    const out = new Uint8Array(20).fill(0xee);
    const end = writeFrame(out, 3, FrameType.SendPacket, fromHex('aa'), fromHex('bbcc'));
    expect(end).toBe(3 + FRAME_HEADER_BYTES + 3);
    expect(toHex(out.subarray(0, end + 1))).toBe('eeeeee0400000003aabbccee');
  });
});

function decodeAll(d: FrameDecoder, chunks: Uint8Array[]): { frames: Frame[]; skipped: number; error?: string } {
  const frames: Frame[] = [];
  let skipped = 0;
  for (const c of chunks) {
    const r = d.push(c);
    // Copy payloads: they may alias the pushed chunk.
    frames.push(...r.frames.map((f) => ({ type: f.type, payload: f.payload.slice() })));
    skipped += r.skipped;
    if (r.error) return { frames, skipped, error: r.error.code };
  }
  return { frames, skipped };
}

describe('FrameDecoder', () => {
  const stream = new Uint8Array([
    ...encodeFrame(FrameType.ServerKey, MAGIC, new Uint8Array(32).fill(1)),
    ...encodeFrame(FrameType.KeepAlive),
    ...encodeFrame(FrameType.RecvPacket, new Uint8Array(32).fill(2), fromHex('deadbeef')),
    ...encodeFrame(0x7f, fromHex('00112233')),
    ...encodeFrame(FrameType.Ping, fromHex('0102030405060708')),
  ]);
  const expected = [
    { type: 1, len: 40 }, { type: 6, len: 0 }, { type: 5, len: 36 }, { type: 0x7f, len: 4 }, { type: 0x12, len: 8 },
  ];

  it('decodes a stream pushed whole', () => {
    const r = decodeAll(new FrameDecoder({ maxFrameBytes: 1024 }), [stream]);
    expect(r.frames.map((f) => ({ type: f.type, len: f.payload.length }))).toEqual(expected);
    expect(toHex(r.frames[2]!.payload.subarray(32))).toBe('deadbeef');
  });

  it('decodes the same frames when split at every byte boundary', () => {
    const whole = decodeAll(new FrameDecoder({ maxFrameBytes: 1024 }), [stream]).frames;
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = decodeAll(new FrameDecoder({ maxFrameBytes: 1024 }), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(r.frames, `cut at ${cut}`).toEqual(whole);
    }
  });

  it('decodes the same frames fed one byte at a time', () => {
    const d = new FrameDecoder({ maxFrameBytes: 1024 });
    const chunks = Array.from(stream, (b) => Uint8Array.of(b));
    expect(decodeAll(d, chunks).frames).toEqual(decodeAll(new FrameDecoder({ maxFrameBytes: 1024 }), [stream]).frames);
    expect(d.bufferedBytes).toBe(0);
  });

  it('rejects an oversized known frame on its header, before buffering any payload', () => {
    const d = new FrameDecoder({ maxFrameBytes: MAX_SEND_PACKET_FRAME_BYTES });
    const r = d.push(fromHex('0400010021')); // SendPacket declaring 65569 bytes: one over
    expect(r.error).toEqual({ code: 'frame-too-large', frameType: 4, declaredLength: 65569, limit: 65568 });
    expect(d.bufferedBytes).toBe(0);
    expect(d.push(fromHex('00')).error?.code).toBe('frame-too-large');
  });

  it('accepts a frame at exactly the limit', () => {
    const d = new FrameDecoder({ maxFrameBytes: 4 });
    expect(decodeAll(d, [encodeFrame(FrameType.Pong, fromHex('01020304'))]).frames).toHaveLength(1);
  });

  it('discards an oversized unknown frame by length without buffering it', () => {
    const d = new FrameDecoder({ maxFrameBytes: 16 });
    const big = encodeFrame(0x33, new Uint8Array(1000));
    const after = encodeFrame(FrameType.KeepAlive);
    const r1 = d.push(big.subarray(0, 500));
    expect(r1.skipped).toBe(1);
    expect(d.bufferedBytes).toBe(0);
    const r2 = decodeAll(d, [big.subarray(500), after]);
    expect(r2.frames).toEqual([{ type: FrameType.KeepAlive, payload: new Uint8Array(0) }]);
  });

  it('treats oversized unknown frames as errors when skipping is off', () => {
    const d = new FrameDecoder({ maxFrameBytes: 16, skipOversizedUnknown: false });
    expect(d.push(encodeFrame(0x33, new Uint8Array(17))).error?.code).toBe('frame-too-large');
  });

  it('keeps a truncated frame pending and returns nothing for it', () => {
    const d = new FrameDecoder({ maxFrameBytes: 1024 });
    const f = encodeFrame(FrameType.SendPacket, new Uint8Array(40));
    const r = d.push(f.subarray(0, f.length - 1));
    expect(r.frames).toHaveLength(0);
    expect(r.error).toBeUndefined();
    expect(d.bufferedBytes).toBe(f.length - 1 - FRAME_HEADER_BYTES); // the header is parsed, the payload held
  });

  it('allocates in step with arriving bytes, not with the declared length', () => {
    const d = new FrameDecoder({ maxFrameBytes: MAX_CLIENT_INFO_FRAME_BYTES });
    d.push(fromHex('0200040000')); // ClientInfo declaring 256 KiB, then silence
    expect(d.allocatedBytes).toBeLessThanOrEqual(4096);
    const payload = new Uint8Array(MAX_CLIENT_INFO_FRAME_BYTES).map((_, i) => i & 0xff);
    let frames: Frame[] = [];
    for (let off = 0; off < payload.length; off += 1000) {
      frames = d.push(payload.subarray(off, off + 1000)).frames;
      if (frames.length === 0) expect(d.allocatedBytes).toBeLessThanOrEqual(2 * d.bufferedBytes + 4096);
    }
    expect(frames).toHaveLength(1);
    expect(frames[0]!.payload).toEqual(payload);
  });

  it('applies a raised limit after the handshake (pre-auth cap first)', () => {
    const d = new FrameDecoder({ maxFrameBytes: 8 });
    expect(decodeAll(d, [encodeFrame(FrameType.Ping, new Uint8Array(8))]).frames).toHaveLength(1);
    d.setMaxFrameBytes(MAX_FORWARD_PACKET_FRAME_BYTES);
    expect(decodeAll(d, [encodeFrame(FrameType.SendPacket, new Uint8Array(1000))]).frames).toHaveLength(1);
  });

  it('never throws on arbitrary bytes in arbitrary chunks, and never buffers over the limit', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), fc.integer({ min: 0, max: 200 }), (chunks, limit) => {
      const d = new FrameDecoder({ maxFrameBytes: limit });
      for (const c of chunks) {
        const r = d.push(c);
        for (const f of r.frames) expect(f.payload.length).toBeLessThanOrEqual(limit);
        expect(d.bufferedBytes).toBeLessThanOrEqual(limit + FRAME_HEADER_BYTES);
      }
    }), { numRuns: 500 });
  });

  it('round-trips random frame sequences across random splits', () => {
    const frameArb = fc.record({ type: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 100 }) });
    fc.assert(fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 5 }), (frames, cuts) => {
      const bytes = new Uint8Array(frames.flatMap((f) => [...encodeFrame(f.type, f.payload)]));
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let prev = 0;
      for (const p of points) {
        chunks.push(bytes.subarray(prev, p));
        prev = p;
      }
      chunks.push(bytes.subarray(prev));
      const r = decodeAll(new FrameDecoder({ maxFrameBytes: 100 }), chunks);
      expect(r.frames).toEqual(frames.map((f) => ({ type: f.type, payload: f.payload })));
    }), { numRuns: 300 });
  });
});
