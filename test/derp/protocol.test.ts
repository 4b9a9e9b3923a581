import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  PeerGoneReason, PeerPresentFlags, boxBeforeNm, decodeClientInfoFrame, decodeClientInfoJson, decodeClosePeer,
  decodeForwardPacket, decodeHealth, decodeNotePreferred, decodePeerGone, decodePeerPresent, decodePing, decodePong,
  decodeRecvPacket, decodeRestarting, decodeSendPacket, decodeServerInfoJson, decodeServerKey, decodeWatchConns,
  encodeClientInfoJson, encodeHealth, encodePeerGone, encodePeerPresent, encodeRestarting, encodeServerInfoJson,
  encodeServerKey, formatNodePrivateKey, formatNodePublicKey, generateNodePrivateKey, ipFrom16, ipTo16, looksLikeDisco,
  openBox, openClientInfo, openServerInfo, parseMeshKey, parseNodePrivateKey, parseNodePublicKey, publicKeyOf, sealBox,
  sealClientInfo, sealServerInfo, shortKey, type NodePrivateKey,
} from '../../src/derp/protocol.js';
import { MAGIC } from '../../src/derp/frame.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { SeededRng } from '../../src/runtime/rng.js';

// The crypto_box example of D. J. Bernstein, "Cryptography in NaCl" (2009) §§2–10, the same
// vector that NaCl's tests/box.c, libsodium and PyNaCl use. The private keys are RFC 7748 §6.1's.
const NACL = {
  aliceSk: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePk: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobSk: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPk: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  firstKey: '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389',
  nonce: '69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37',
  m: 'be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705',
  c: 'f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5',
};
const priv = (hex: string) => fromHex(hex) as NodePrivateKey;

describe('NaCl box', () => {
  it('derives the NaCl "firstkey" with crypto_box_beforenm from both sides', () => {
    expect(toHex(boxBeforeNm(priv(NACL.aliceSk), fromHex(NACL.bobPk))!)).toBe(NACL.firstKey);
    expect(toHex(boxBeforeNm(priv(NACL.bobSk), fromHex(NACL.alicePk))!)).toBe(NACL.firstKey);
  });
  it('seals the NaCl box vector byte for byte, laid out as nonce ‖ MAC ‖ ciphertext', () => {
    const sealed = sealBox(priv(NACL.aliceSk), fromHex(NACL.bobPk), fromHex(NACL.nonce), fromHex(NACL.m))!;
    expect(toHex(sealed)).toBe(NACL.nonce + NACL.c);
    expect(toHex(openBox(priv(NACL.bobSk), fromHex(NACL.alicePk), sealed)!)).toBe(NACL.m);
  });
  it('refuses a box with any single bit flipped', () => {
    const sealed = sealBox(priv(NACL.aliceSk), fromHex(NACL.bobPk), fromHex(NACL.nonce), fromHex(NACL.m))!;
    for (const i of [0, 23, 24, 39, 40, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      expect(openBox(priv(NACL.bobSk), fromHex(NACL.alicePk), bad), `bit at byte ${i}`).toBeUndefined();
    }
  });
  it('refuses a low-order public key (all-zero shared secret) and short boxes', () => {
    expect(boxBeforeNm(priv(NACL.aliceSk), new Uint8Array(32))).toBeUndefined();
    expect(openBox(priv(NACL.aliceSk), fromHex(NACL.bobPk), new Uint8Array(39))).toBeUndefined();
  });
});

describe('keys', () => {
  it('formats and parses nodekey:/privkey: text forms', () => {
    const k = generateNodePrivateKey(new SeededRng(1));
    const pub = publicKeyOf(k);
    expect(formatNodePublicKey(pub)).toMatch(/^nodekey:[0-9a-f]{64}$/);
    expect(parseNodePublicKey(formatNodePublicKey(pub))).toEqual(pub);
    expect(parseNodePrivateKey(formatNodePrivateKey(k))).toEqual(k);
    expect(parseNodePublicKey('nodekey:' + 'ab'.repeat(31))).toBeUndefined();
    expect(parseNodePublicKey('ab'.repeat(32))).toBeUndefined();
    expect(parseNodePrivateKey('nodekey:' + 'ab'.repeat(32))).toBeUndefined();
  });
  it('clamps generated and parsed private keys (RFC 7748 §5)', () => {
    const k = parseNodePrivateKey('privkey:' + 'ff'.repeat(32))!;
    expect(k[0]! & 7).toBe(0);
    expect(k[31]! & 0x80).toBe(0);
    expect(k[31]! & 0x40).toBe(0x40);
  });
  it('derives RFC 7748 §6.1 public keys', () => {
    expect(toHex(publicKeyOf(priv(NACL.aliceSk)))).toBe(NACL.alicePk);
  });
  it('short form is the first 5 base64 characters in brackets', () => {
    expect(shortKey(new Uint8Array(32))).toBe('[AAAAA]');
  });
  it('mesh keys are exactly 64 hex digits, whitespace trimmed', () => {
    expect(parseMeshKey(` ${'0a'.repeat(32)}\n`)).toEqual(new Uint8Array(32).fill(10));
    expect(parseMeshKey('0a'.repeat(33))).toBeUndefined();
  });
});

describe('ClientInfo and ServerInfo', () => {
  const rng = new SeededRng(7);
  const server = generateNodePrivateKey(rng);
  const client = generateNodePrivateKey(rng);
  const nonce = rng.fill(new Uint8Array(24));

  it('encodes ClientInfo JSON with Go field names and omissions', () => {
    const json = new TextDecoder().decode(encodeClientInfoJson({ version: 2, canAckPings: true, isProber: false }));
    expect(json).toBe('{"version":2,"CanAckPings":true}');
    const mesh = new TextDecoder().decode(encodeClientInfoJson({ version: 2, meshKey: 'ab'.repeat(32), canAckPings: false, isProber: true, appName: 'x' }));
    expect(mesh).toBe(`{"version":2,"meshKey":"${'ab'.repeat(32)}","CanAckPings":false,"IsProber":true,"AppName":"x"}`);
  });
  it('parses ClientInfo field names case-insensitively, like encoding/json', () => {
    const r = decodeClientInfoJson(new TextEncoder().encode('{"Version":2,"canackpings":true,"MeshKey":""}'));
    expect(r).toEqual({ ok: true, info: { version: 2, canAckPings: true, isProber: false } });
  });
  it.each([
    ['not JSON', '{', 'bad-json'],
    ['an array', '[]', 'bad-json'],
    ['a string version', '{"version":"2"}', 'bad-json'],
    ['a short mesh key', '{"meshKey":"abcd"}', 'bad-mesh-key'],
    ['a non-hex mesh key', `{"meshKey":"${'zz'.repeat(32)}"}`, 'bad-mesh-key'],
  ])('rejects ClientInfo JSON with %s', (_name, json, code) => {
    const r = decodeClientInfoJson(new TextEncoder().encode(json));
    expect(r.ok ? undefined : r.code).toBe(code);
  });
  it('round-trips a sealed ClientInfo frame through the server', () => {
    const payload = sealClientInfo(client, publicKeyOf(server), nonce, { version: 2, canAckPings: true, isProber: false })!;
    expect(payload.length).toBe(32 + 24 + 16 + '{"version":2,"CanAckPings":true}'.length);
    const r = openClientInfo(server, payload);
    expect(r.ok && toHex(r.clientKey)).toBe(toHex(publicKeyOf(client)));
    expect(r.ok && r.info.canAckPings).toBe(true);
  });
  it('fails ClientInfo sealed to another server with box-open-failed', () => {
    const other = generateNodePrivateKey(rng);
    const payload = sealClientInfo(client, publicKeyOf(other), nonce, { version: 2, canAckPings: true, isProber: false })!;
    const r = openClientInfo(server, payload);
    expect(r.ok ? undefined : r.code).toBe('box-open-failed');
  });
  it('bounds the ClientInfo frame to 56 bytes .. 256 KiB', () => {
    expect(decodeClientInfoFrame(new Uint8Array(55)).ok).toBe(false);
    expect(decodeClientInfoFrame(new Uint8Array(56)).ok).toBe(true);
    expect(decodeClientInfoFrame(new Uint8Array(256 * 1024 + 1)).ok).toBe(false);
  });
  it('round-trips ServerInfo {"version":2}', () => {
    expect(new TextDecoder().decode(encodeServerInfoJson({ version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 }))).toBe('{"version":2}');
    const payload = sealServerInfo(server, publicKeyOf(client), nonce)!;
    const r = openServerInfo(client, publicKeyOf(server), payload);
    expect(r).toEqual({ ok: true, info: { version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 } });
    expect(decodeServerInfoJson(new TextEncoder().encode('{"version":2,"TokenBucketBytesPerSecond":5,"TokenBucketBytesBurst":9}'))).toEqual({ ok: true, info: { version: 2, tokenBucketBytesPerSecond: 5, tokenBucketBytesBurst: 9 } });
  });
});

describe('payload codecs', () => {
  const key = new Uint8Array(32).fill(0x11);
  const key2 = new Uint8Array(32).fill(0x22);
  it('ServerKey: magic ‖ key, trailing bytes ignored, bad magic refused', () => {
    const p = encodeServerKey(key);
    expect(toHex(p.subarray(0, 8))).toBe(toHex(MAGIC));
    expect(decodeServerKey(new Uint8Array([...p, 1, 2, 3]))).toEqual({ ok: true, serverKey: key });
    const bad = p.slice();
    bad[0] = 0;
    expect(decodeServerKey(bad).ok ? '' : (decodeServerKey(bad) as { code: string }).code).toBe('bad-magic');
    expect(decodeServerKey(p.subarray(0, 39)).ok).toBe(false);
  });
  it('SendPacket: 32..65568 bytes; empty packets are legal', () => {
    expect(decodeSendPacket(new Uint8Array(31)).ok).toBe(false);
    const r = decodeSendPacket(key);
    expect(r.ok && r.packet.length).toBe(0);
    expect(decodeSendPacket(new Uint8Array(32 + 65536)).ok).toBe(true);
    const big = decodeSendPacket(new Uint8Array(32 + 65537));
    expect(big.ok ? '' : big.code).toBe('too-large');
  });
  it('RecvPacket and ForwardPacket split keys from the packet', () => {
    const r = decodeRecvPacket(new Uint8Array([...key, 9, 8]));
    expect(r.ok && [toHex(r.src), toHex(r.packet)]).toEqual([toHex(key), '0908']);
    const f = decodeForwardPacket(new Uint8Array([...key, ...key2, 7]));
    expect(f.ok && [toHex(f.src), toHex(f.dst), toHex(f.packet)]).toEqual([toHex(key), toHex(key2), '07']);
    expect(decodeForwardPacket(new Uint8Array(63)).ok).toBe(false);
  });
  it('NotePreferred is exactly 1 byte', () => {
    expect(decodeNotePreferred(Uint8Array.of(1))).toEqual({ ok: true, preferred: true });
    expect(decodeNotePreferred(Uint8Array.of(0))).toEqual({ ok: true, preferred: false });
    expect(decodeNotePreferred(Uint8Array.of(1, 0)).ok).toBe(false);
    expect(decodeNotePreferred(new Uint8Array(0)).ok).toBe(false);
  });
  it('PeerGone: 33 bytes with reason; the bare 32-byte form means Disconnected', () => {
    expect(toHex(encodePeerGone(key, PeerGoneReason.NotHere))).toBe(toHex(key) + '01');
    expect(decodePeerGone(key)).toEqual({ ok: true, key, reason: 0 });
    expect(decodePeerGone(encodePeerGone(key, 1))).toEqual({ ok: true, key, reason: 1 });
    expect(decodePeerGone(new Uint8Array(31)).ok).toBe(false);
  });
  it('PeerPresent: 51 bytes key ‖ IPv4-mapped IP ‖ port BE ‖ flags; accepts 32 and 50', () => {
    const p = encodePeerPresent(key, { ip: '127.0.0.1', port: 0x1234 }, PeerPresentFlags.IsRegular);
    expect(p.length).toBe(51);
    expect(toHex(p.subarray(32))).toBe('00000000000000000000ffff7f000001' + '1234' + '01');
    expect(decodePeerPresent(p)).toEqual({ ok: true, key, endpoint: { ip: '127.0.0.1', port: 0x1234 }, flags: 1 });
    expect(decodePeerPresent(p.subarray(0, 50))).toEqual({ ok: true, key, endpoint: { ip: '127.0.0.1', port: 0x1234 }, flags: 0 });
    expect(decodePeerPresent(key)).toEqual({ ok: true, key, flags: 0 });
    expect(decodePeerPresent(new Uint8Array([...p, 0xff])).ok).toBe(true);
  });
  it('IP text forms round-trip through 16 bytes', () => {
    expect(ipFrom16(ipTo16('::1'))).toBe('0:0:0:0:0:0:0:1');
    expect(ipFrom16(ipTo16('fd7a:115c:a1e0::5'))).toBe('fd7a:115c:a1e0:0:0:0:0:5');
    expect(ipFrom16(ipTo16('::ffff:10.1.2.3'))).toBe('10.1.2.3');
    expect(toHex(ipTo16('garbage'))).toBe('00'.repeat(16));
  });
  it('ClosePeer is exactly 32 bytes; WatchConns is empty', () => {
    expect(decodeClosePeer(key)).toEqual({ ok: true, key });
    expect(decodeClosePeer(new Uint8Array(33)).ok).toBe(false);
    expect(decodeWatchConns(new Uint8Array(0)).ok).toBe(true);
    expect(decodeWatchConns(new Uint8Array(1)).ok).toBe(false);
  });
  it('Ping accepts 8..1000 bytes and keeps the first 8; Pong needs 8', () => {
    expect(decodePing(fromHex('0102030405060708ff'))).toEqual({ ok: true, data: fromHex('0102030405060708') });
    expect(decodePing(new Uint8Array(7)).ok).toBe(false);
    expect(decodePing(new Uint8Array(1000)).ok).toBe(true);
    expect(decodePing(new Uint8Array(1001)).ok).toBe(false);
    expect(decodePong(fromHex('0102030405060708'))).toEqual({ ok: true, data: fromHex('0102030405060708') });
  });
  it('Health and Restarting', () => {
    expect(decodeHealth(encodeHealth('duplicate'))).toEqual({ ok: true, problem: 'duplicate' });
    expect(toHex(encodeRestarting(1000, 30000))).toBe('000003e800007530');
    expect(decodeRestarting(fromHex('000003e800007530ff'))).toEqual({ ok: true, reconnectInMs: 1000, tryForMs: 30000 });
    expect(decodeRestarting(new Uint8Array(7)).ok).toBe(false);
  });
  it('detects disco by the "TS💬" magic and a 62-byte minimum', () => {
    const magic = new TextEncoder().encode('TS💬');
    expect(toHex(magic)).toBe('5453f09f92ac');
    expect(looksLikeDisco(new Uint8Array([...magic, ...new Uint8Array(56)]))).toBe(true);
    expect(looksLikeDisco(new Uint8Array([...magic, ...new Uint8Array(55)]))).toBe(false);
  });
});

describe('decoders never throw on arbitrary bytes', () => {
  const server = generateNodePrivateKey(new SeededRng(3));
  const decoders: [string, (b: Uint8Array) => unknown][] = [
    ['ServerKey', decodeServerKey], ['ClientInfo frame', decodeClientInfoFrame], ['ClientInfo JSON', decodeClientInfoJson],
    ['openClientInfo', (b) => openClientInfo(server, b)], ['openServerInfo', (b) => openServerInfo(server, new Uint8Array(32).fill(9), b)],
    ['ServerInfo JSON', decodeServerInfoJson], ['SendPacket', decodeSendPacket], ['RecvPacket', decodeRecvPacket],
    ['ForwardPacket', decodeForwardPacket], ['NotePreferred', decodeNotePreferred], ['PeerGone', decodePeerGone],
    ['PeerPresent', decodePeerPresent], ['ClosePeer', decodeClosePeer], ['WatchConns', decodeWatchConns],
    ['Ping', (b) => decodePing(b)], ['Pong', decodePong], ['Health', decodeHealth], ['Restarting', decodeRestarting],
    ['ipFrom16', (b) => ipFrom16(b)], ['looksLikeDisco', looksLikeDisco],
  ];
  it.each(decoders)('%s', (_name, decode) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      decode(b);
    }), { numRuns: 300 });
  });
  it('ClientInfo JSON decoding of arbitrary JSON values', () => {
    fc.assert(fc.property(fc.json(), (j) => {
      decodeClientInfoJson(new TextEncoder().encode(j));
      decodeServerInfoJson(new TextEncoder().encode(j));
    }), { numRuns: 300 });
  });
  it('ipTo16 on arbitrary strings', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      expect(ipTo16(s).length).toBe(16);
    }), { numRuns: 300 });
  });
});
