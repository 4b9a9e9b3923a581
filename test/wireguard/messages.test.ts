import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { parseMessage, writeTransportHeader } from '../../src/wireguard/messages.js';

function msg(type: number, length: number, fill: (b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(length);
  b[0] = type;
  fill(b);
  return b;
}

describe('parseMessage', () => {
  it.each([
    ['empty datagram', new Uint8Array(0), 'short-packet'],
    ['3 bytes', new Uint8Array([1, 0, 0]), 'short-packet'],
    ['type 0', msg(0, 148), 'unknown-type'],
    ['type 5', msg(5, 148), 'unknown-type'],
    ['initiation one byte short', msg(1, 147), 'bad-length'],
    ['initiation one byte long', msg(1, 149), 'bad-length'],
    ['response one byte short', msg(2, 91), 'bad-length'],
    ['response one byte long', msg(2, 93), 'bad-length'],
    ['cookie reply 63 bytes', msg(3, 63), 'bad-length'],
    ['cookie reply 65 bytes', msg(3, 65), 'bad-length'],
    ['transport 31 bytes', msg(4, 31), 'short-packet'],
    ['initiation with reserved byte 1 set', msg(1, 148, (b) => (b[1] = 1)), 'unknown-type'],
    ['transport with reserved byte 3 set', msg(4, 32, (b) => (b[3] = 0x80)), 'unknown-type'],
  ])('drops %s', (_name, bytes, reason) => {
    expect(parseMessage(bytes)).toEqual({ type: 'drop', reason });
  });

  it('reads the indices of an initiation, response and cookie reply (little-endian)', () => {
    const init = msg(1, 148, (b) => b.set(fromHex('78563412'), 4));
    expect(parseMessage(init)).toEqual({ type: 'initiation', senderIndex: 0x12345678, bytes: init });
    const resp = msg(2, 92, (b) => b.set(fromHex('01000000ffffffff'), 4));
    expect(parseMessage(resp)).toEqual({ type: 'response', senderIndex: 1, receiverIndex: 0xffffffff, bytes: resp });
    const cookie = msg(3, 64, (b) => b.set(fromHex('0a000000'), 4));
    expect(parseMessage(cookie)).toEqual({ type: 'cookieReply', receiverIndex: 10, bytes: cookie });
  });

  it('reads a transport header with a 64-bit counter and returns a view of the datagram', () => {
    const buf = new Uint8Array(100);
    const datagram = buf.subarray(10, 10 + 48);
    writeTransportHeader(datagram, 0xdeadbeef, 0xfedcba9876543210n);
    expect(toHex(datagram.subarray(0, 16))).toBe('04000000efbeadde1032547698badcfe');
    const m = parseMessage(datagram);
    expect(m).toEqual({ type: 'transport', receiverIndex: 0xdeadbeef, counter: 0xfedcba9876543210n, bytes: datagram });
    if (m.type === 'transport') expect(m.bytes.buffer).toBe(buf.buffer);
  });

  it('accepts a 32-byte keepalive', () => {
    expect(parseMessage(msg(4, 32)).type).toBe('transport');
  });

  it('never throws on arbitrary bytes and classifies exactly by (type, length)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0, 1, 2, 3, 4, 5), (bytes, t) => {
        if (bytes.length >= 4) bytes.set([t, 0, 0, 0]);
        const m = parseMessage(bytes);
        const expected =
          bytes.length < 4 ? 'drop'
          : t === 1 && bytes.length === 148 ? 'initiation'
          : t === 2 && bytes.length === 92 ? 'response'
          : t === 3 && bytes.length === 64 ? 'cookieReply'
          : t === 4 && bytes.length >= 32 ? 'transport'
          : 'drop';
        expect(m.type).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});
