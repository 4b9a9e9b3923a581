import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SeededRng } from '../../src/runtime/rng.js';
import { concatBytes, fromHex, toHex } from '../../src/runtime/bytes.js';
import { DerpClientCore, CLIENT_READ_TIMEOUT_MS, CLIENT_HANDSHAKE_TIMEOUT_MS, type ClientMessage } from '../../src/derp/client.js';
import { FrameType, encodeFrame } from '../../src/derp/frame.js';
import {
  decodeClientInfoJson, encodeServerKey, generateNodePrivateKey, openBox, openClientInfo, publicKeyOf, sealServerInfo,
  type NodePrivateKey,
} from '../../src/derp/protocol.js';

const T0 = 1_000_000;
const rng = new SeededRng(7);
const serverPriv = generateNodePrivateKey(rng);
const serverPub = publicKeyOf(serverPriv);
const clientPriv = generateNodePrivateKey(rng);
const clientPub = publicKeyOf(clientPriv);
const PEER = fromHex('11'.repeat(32));
const MESH_KEY = fromHex('ab'.repeat(32));

function hexFrame(type: number, payloadHex: string): Uint8Array {
  const p = fromHex(payloadHex);
  return fromHex(type.toString(16).padStart(2, '0') + p.length.toString(16).padStart(8, '0') + payloadHex);
}

function newCore(opts: { meshKey?: Uint8Array; priv?: NodePrivateKey; expectedServerKey?: Uint8Array } = {}): DerpClientCore {
  return new DerpClientCore({ privateKey: opts.priv ?? clientPriv, rng: new SeededRng(1), now: T0, ...opts });
}

function serverInfoFrame(info = { version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 }): Uint8Array {
  return encodeFrame(FrameType.ServerInfo, sealServerInfo(serverPriv, clientPub, new Uint8Array(24).fill(9), info)!);
}

function connected(opts: { meshKey?: Uint8Array } = {}): DerpClientCore {
  const c = newCore(opts);
  c.receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), T0);
  c.takeOutgoing();
  const m = c.receive(serverInfoFrame(), T0);
  expect(m).toEqual([{ type: 'serverInfo', serverKey: serverPub, info: { version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 } }]);
  return c;
}

/** Copies views so results from separate pushes compare by value. */
function snapshot(ms: ClientMessage[]): unknown[] {
  return ms.map((m) => JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))) as unknown);
}

describe('DERP client handshake', () => {
  it('answers ServerKey with a ClientInfo sealed to the server, carrying version 2, CanAckPings and the mesh key', () => {
    const c = newCore({ meshKey: MESH_KEY });
    // ServerKey frame as derper sends it: 01 00000028 "DERP🔑" key.
    const serverKeyHex = '0100000028' + '44455250f09f9491' + toHex(serverPub);
    expect(c.receive(fromHex(serverKeyHex), T0)).toEqual([]);
    expect(c.state).toBe('awaitServerInfo');
    const out = concatBytes(...c.takeOutgoing());
    expect(out[0]).toBe(FrameType.ClientInfo);
    const len = new DataView(out.buffer).getUint32(1);
    expect(len).toBe(out.length - 5);
    const opened = openClientInfo(serverPriv, out.subarray(5));
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.clientKey).toEqual(clientPub);
    expect(opened.info).toEqual({ version: 2, meshKey: 'ab'.repeat(32), canAckPings: true, isProber: false });
    // And the raw JSON uses Go's field names.
    const plain = openBox(serverPriv, clientPub, out.subarray(5 + 32))!;
    expect(new TextDecoder().decode(plain)).toBe(`{"version":2,"meshKey":"${'ab'.repeat(32)}","CanAckPings":true}`);
    expect(decodeClientInfoJson(plain).ok).toBe(true);
  });

  it('becomes connected on ServerInfo and reports it', () => {
    const c = connected();
    expect(c.state).toBe('connected');
    expect(c.serverKey).toEqual(serverPub);
  });

  it('accepts trailing bytes after the server key ("future use")', () => {
    const c = newCore();
    c.receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub), fromHex('00010203')), T0);
    expect(c.state).toBe('awaitServerInfo');
  });

  const fatal: [string, () => ClientMessage[], string][] = [
    ['a frame other than ServerKey first', () => newCore().receive(hexFrame(0x06, ''), T0), 'unexpectedFrame'],
    ['ServerKey without the magic', () => newCore().receive(encodeFrame(FrameType.ServerKey, new Uint8Array(40)), T0), 'badServerKey'],
    ['a short ServerKey', () => newCore().receive(hexFrame(0x01, '44455250f09f9491'), T0), 'badServerKey'],
    ['a ServerKey over the 1 KiB cap (checked on the header)', () => newCore().receive(fromHex('0100000401'), T0), 'frameTooLarge'],
    [
      'a server key other than the pinned one',
      () => newCore({ expectedServerKey: PEER }).receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), T0),
      'serverKeyMismatch',
    ],
    [
      'a ServerInfo box that does not open',
      () => {
        const c = newCore();
        c.receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), T0);
        return c.receive(encodeFrame(FrameType.ServerInfo, new Uint8Array(60)), T0);
      },
      'serverInfoRejected',
    ],
    [
      'a packet before ServerInfo',
      () => {
        const c = newCore();
        c.receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), T0);
        return c.receive(encodeFrame(FrameType.RecvPacket, PEER), T0);
      },
      'unexpectedFrame',
    ],
    ['a frame over 1 MiB after the handshake', () => connected().receive(fromHex('0500100001'), T0), 'frameTooLarge'],
    ['an unknown frame over 1 MiB (the Go client fails too)', () => connected().receive(fromHex('7f00100001'), T0), 'frameTooLarge'],
  ];
  for (const [name, run, reason] of fatal) {
    it(`closes on ${name}`, () => {
      const ms = run();
      expect(ms.at(-1)).toMatchObject({ type: 'closed', reason });
    });
  }

  it('times out a handshake after 10 s and a silent connection after 120 s', () => {
    const h = newCore();
    expect(h.nextDeadline()).toBe(T0 + CLIENT_HANDSHAKE_TIMEOUT_MS);
    expect(h.poll(T0 + CLIENT_HANDSHAKE_TIMEOUT_MS - 1)).toEqual([]);
    expect(h.poll(T0 + CLIENT_HANDSHAKE_TIMEOUT_MS)).toMatchObject([{ type: 'closed', reason: 'handshakeTimeout' }]);
    expect(h.nextDeadline()).toBeUndefined();

    const c = connected();
    c.receive(hexFrame(0x06, ''), T0 + 50_000);
    expect(c.nextDeadline()).toBe(T0 + 50_000 + CLIENT_READ_TIMEOUT_MS);
    expect(c.poll(T0 + 50_000 + CLIENT_READ_TIMEOUT_MS - 1)).toEqual([]);
    expect(c.poll(T0 + 50_000 + CLIENT_READ_TIMEOUT_MS)).toMatchObject([{ type: 'closed', reason: 'readTimeout' }]);
    expect(c.state).toBe('closed');
  });
});

// Every server-to-client frame type, as hex, with the message the client must report.
const K = '11'.repeat(32);
const SERVER_FRAMES: [string, Uint8Array, unknown[]][] = [
  ['RecvPacket', hexFrame(0x05, K + 'cafebabe'), [{ type: 'receivedPacket', source: K, data: 'cafebabe' }]],
  ['RecvPacket with an empty packet', hexFrame(0x05, K), [{ type: 'receivedPacket', source: K, data: '' }]],
  ['KeepAlive', hexFrame(0x06, ''), [{ type: 'keepAlive' }]],
  ['PeerGone, bare 32 bytes', hexFrame(0x08, K), [{ type: 'peerGone', peer: K, reason: 'disconnected' }]],
  ['PeerGone Disconnected', hexFrame(0x08, K + '00'), [{ type: 'peerGone', peer: K, reason: 'disconnected' }]],
  ['PeerGone NotHere', hexFrame(0x08, K + '01'), [{ type: 'peerGone', peer: K, reason: 'notHere' }]],
  ['PeerGone, unknown reason, trailing bytes', hexFrame(0x08, K + '7700'), [{ type: 'peerGone', peer: K, reason: 0x77 }]],
  ['PeerPresent, old 32-byte form', hexFrame(0x09, K), [{ type: 'peerPresent', peer: K, flags: 0 }]],
  [
    'PeerPresent, 50 bytes (no flags)',
    hexFrame(0x09, K + '00000000000000000000ffff7f000001' + '0d96'),
    [{ type: 'peerPresent', peer: K, endpoint: { ip: '127.0.0.1', port: 3478 }, flags: 0 }],
  ],
  [
    'PeerPresent, 51 bytes',
    hexFrame(0x09, K + '00000000000000000000ffff0a000001' + '1f90' + '02'),
    [{ type: 'peerPresent', peer: K, endpoint: { ip: '10.0.0.1', port: 8080 }, flags: 2 }],
  ],
  ['Ping', hexFrame(0x12, '0102030405060708'), [{ type: 'ping', data: '0102030405060708' }]],
  ['Ping with extra bytes', hexFrame(0x12, '0102030405060708ffff'), [{ type: 'ping', data: '0102030405060708' }]],
  ['Pong', hexFrame(0x13, 'a1a2a3a4a5a6a7a8'), [{ type: 'pong', data: 'a1a2a3a4a5a6a7a8' }]],
  ['Health problem', hexFrame(0x14, toHex(new TextEncoder().encode('dup client key'))), [{ type: 'health', problem: 'dup client key' }]],
  ['Health cleared', hexFrame(0x14, ''), [{ type: 'health', problem: '' }]],
  ['Restarting', hexFrame(0x15, '000003e8' + '00007530'), [{ type: 'restarting', reconnectInMs: 1000, tryForMs: 30000 }]],
  ['late ServerKey (fast start)', encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), []],
  ['unknown type 0x7f', hexFrame(0x7f, 'deadbeef'), []],
  ['unknown type 0x16, empty', hexFrame(0x16, ''), []],
  ['ForwardPacket (client-bound nonsense)', hexFrame(0x0a, K + K + '00'), []],
  ['short RecvPacket (dropped)', hexFrame(0x05, '11'.repeat(31)), []],
  ['short PeerGone (dropped)', hexFrame(0x08, '11'.repeat(31)), []],
  ['short Ping (dropped)', hexFrame(0x12, '01020304'), []],
  ['short Pong (dropped)', hexFrame(0x13, '01'), []],
  ['short Restarting (dropped)', hexFrame(0x15, '000003e8'), []],
];

describe('DERP client frames after the handshake', () => {
  for (const [name, frame, expected] of SERVER_FRAMES) {
    it(`handles ${name}`, () => {
      const c = connected();
      expect(snapshot(c.receive(frame, T0))).toEqual(expected);
      expect(c.state).toBe('connected');
    });
  }

  it('answers Ping with a Pong carrying the first 8 bytes', () => {
    const c = connected();
    c.receive(hexFrame(0x12, '0102030405060708ffff'), T0);
    expect(toHex(concatBytes(...c.takeOutgoing()))).toBe('1300000008' + '0102030405060708');
    expect(c.counters.pingsAnswered).toBe(1n);
  });

  it('counts unknown frames and drops, and keeps going', () => {
    const c = connected();
    c.receive(concatBytes(hexFrame(0x7f, 'deadbeef'), hexFrame(0x08, '11'), hexFrame(0x06, '')), T0);
    expect(c.counters.unknownFrames).toBe(1n);
    expect(c.counters.drops.get('shortFrame')).toBe(1n);
  });

  it('gives the same messages when the stream is split at every byte boundary', () => {
    const all = concatBytes(...SERVER_FRAMES.map(([, f]) => f));
    const whole = snapshot(connected().receive(all, T0));
    expect(whole.length).toBeGreaterThan(15);
    // Each pass ends on a frame boundary, so one connected core can take every split in turn.
    const one = connected();
    for (let i = 0; i <= all.length; i++) {
      const got = [...snapshot(one.receive(all.slice(0, i), T0)), ...snapshot(one.receive(all.slice(i), T0))];
      one.takeOutgoing();
      expect(got, `split at ${i}`).toEqual(whole);
    }
    expect(one.state).toBe('connected');
    const c = connected();
    const oneByOne: unknown[] = [];
    for (let i = 0; i < all.length; i++) oneByOne.push(...snapshot(c.receive(all.subarray(i, i + 1), T0)));
    expect(oneByOne).toEqual(whole);
  });

  it('splits the handshake at every byte boundary too', () => {
    const hs = concatBytes(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), serverInfoFrame(), hexFrame(0x05, K + '01'));
    for (let i = 0; i <= hs.length; i++) {
      const c = newCore();
      const ms = [...c.receive(hs.slice(0, i), T0), ...c.receive(hs.slice(i), T0)];
      expect(ms.map((m) => m.type), `split at ${i}`).toEqual(['serverInfo', 'receivedPacket']);
    }
  });

  it('never throws on arbitrary bytes, before or after the handshake', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), fc.boolean(), (chunks, afterHandshake) => {
        const c = afterHandshake ? connected() : newCore();
        for (const ch of chunks) c.receive(ch, T0);
        c.poll(T0 + 1);
        c.takeOutgoing();
      }),
      { numRuns: 500 },
    );
  });
});

describe('DERP client sending', () => {
  it('writes SendPacket as 04 ‖ len ‖ dst ‖ packet', () => {
    const c = connected();
    expect(c.sendPacket(PEER, fromHex('abcd'), T0)).toEqual({ type: 'queued' });
    expect(toHex(concatBytes(...c.takeOutgoing()))).toBe('0400000022' + K + 'abcd');
  });

  it('writes the mesh and control frames with their exact layouts', () => {
    const c = connected();
    c.forwardPacket(PEER, fromHex('22'.repeat(32)), fromHex('ee'));
    c.sendPing(fromHex('0102030405060708'));
    c.notePreferred(true);
    c.watchConns();
    c.closePeer(PEER);
    expect(c.takeOutgoing().map(toHex)).toEqual([
      '0a00000041' + K + '22'.repeat(32) + 'ee',
      '12000000080102030405060708',
      '070000000101',
      '1000000000',
      '1100000020' + K,
    ]);
  });

  it('refuses to send before the handshake, to a bad key, or more than 64 KiB', () => {
    expect(newCore().sendPacket(PEER, new Uint8Array(1), T0)).toEqual({ type: 'drop', reason: 'notConnected' });
    const c = connected();
    expect(c.sendPacket(PEER.subarray(1), new Uint8Array(1), T0)).toEqual({ type: 'drop', reason: 'badKey' });
    expect(c.sendPacket(PEER, new Uint8Array(65537), T0)).toEqual({ type: 'drop', reason: 'packetTooLarge' });
    expect(c.sendPacket(PEER, new Uint8Array(65536), T0)).toEqual({ type: 'queued' });
  });

  it('honours a ServerInfo token bucket by dropping its own sends', () => {
    const c = newCore();
    c.receive(encodeFrame(FrameType.ServerKey, encodeServerKey(serverPub)), T0);
    c.receive(serverInfoFrame({ version: 2, tokenBucketBytesPerSecond: 1000, tokenBucketBytesBurst: 200 }), T0);
    // Each send costs 5 + 32 + 63 = 100 bytes: two fit the burst, the third does not.
    const pkt = new Uint8Array(63);
    expect(c.sendPacket(PEER, pkt, T0).type).toBe('queued');
    expect(c.sendPacket(PEER, pkt, T0).type).toBe('queued');
    expect(c.sendPacket(PEER, pkt, T0)).toEqual({ type: 'drop', reason: 'rateLimited' });
    // 100 ms later 100 bytes have accrued.
    expect(c.sendPacket(PEER, pkt, T0 + 100).type).toBe('queued');
  });
});
