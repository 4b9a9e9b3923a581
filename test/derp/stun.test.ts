import { describe, expect, it, afterEach } from 'vitest';
import fc from 'fast-check';
import { createSocket } from 'node:dgram';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import {
  answerBindingRequest,
  crc32,
  createBindingRequest,
  createBindingResponse,
  parseBindingRequest,
  parseBindingResponse,
} from '../../src/derp/stun.js';
import { formatIp, parseIp } from '../../src/derp/ip-address.js';
import { StunListener } from '../../src/derp/io/stun.js';

// Transaction ID 01..0c; FINGERPRINT computed with Python's zlib.crc32 ^ 0x5354554e (independent of our CRC).
const TX = fromHex('0102030405060708090a0b0c');
const TAILSCALE_REQUEST_HEX = '000100142112a4420102030405060708090a0b0c802200087461696c6e6f646580280004b32c370f';

function withFingerprint(bodyHex: string): Uint8Array {
  const body = fromHex(bodyHex);
  const fp = (zlibCrc32(body) ^ 0x5354554e) >>> 0;
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, 0x80280004);
  new DataView(out.buffer).setUint32(body.length + 4, fp);
  return out;
}

describe('STUN binding responder (RFC 5389, derper-compatible)', () => {
  it('builds the 40-byte Tailscale binding request exactly', () => {
    expect(toHex(createBindingRequest(TX))).toBe(TAILSCALE_REQUEST_HEX);
  });

  it('answers a hand-built IPv4 request with the exact XOR-MAPPED-ADDRESS response', () => {
    // 192.0.2.1:54321 → port 0xd431^0x2112 = f523, address c0000201^2112a442 = e112a643.
    const r = answerBindingRequest(fromHex(TAILSCALE_REQUEST_HEX), { ip: fromHex('c0000201'), port: 54321 });
    expect(r.type).toBe('reply');
    if (r.type !== 'reply') return;
    expect(toHex(r.bytes)).toBe('0101000c2112a4420102030405060708090a0b0c' + '00200008' + '0001f523' + 'e112a643');
  });

  it('answers with an IPv6 XOR-MAPPED-ADDRESS keyed by cookie and transaction ID', () => {
    // [2001:db8::1]:443 → port 01bb^2112 = 20a9; address ^ (2112a442 || txid).
    const r = answerBindingRequest(fromHex(TAILSCALE_REQUEST_HEX), { ip: parseIp('2001:db8::1')!, port: 443 });
    expect(r.type).toBe('reply');
    if (r.type !== 'reply') return;
    expect(toHex(r.bytes)).toBe(
      '010100182112a4420102030405060708090a0b0c' + '00200014' + '000220a9' + '0113a9fa' + '01020304' + '05060708' + '090a0b0d',
    );
  });

  it('parses its own response back (client side)', () => {
    for (const [ip, port] of [['127.0.0.1', 1], ['::1', 65535], ['fe80::1:2:3', 3478]] as const) {
      const resp = parseBindingResponse(createBindingResponse(TX, { ip: parseIp(ip)!, port }));
      expect(resp.type).toBe('bindingResponse');
      if (resp.type !== 'bindingResponse') continue;
      expect(formatIp(resp.address.ip)).toBe(ip);
      expect(resp.address.port).toBe(port);
      expect(resp.transactionId).toEqual(TX);
    }
  });

  it('falls back to MAPPED-ADDRESS when the response has no XOR-MAPPED-ADDRESS', () => {
    const resp = parseBindingResponse(fromHex('0101000c2112a4420102030405060708090a0b0c' + '00010008' + '00010d96' + '7f000001'));
    expect(resp).toMatchObject({ type: 'bindingResponse', address: { port: 3478 } });
    if (resp.type === 'bindingResponse') expect(formatIp(resp.address.ip)).toBe('127.0.0.1');
  });

  const drops: [string, Uint8Array, string, boolean?][] = [
    ['empty datagram', new Uint8Array(0), 'notStun'],
    ['19-byte datagram', fromHex(TAILSCALE_REQUEST_HEX).subarray(0, 19), 'notStun'],
    ['top bits set (e.g. a WireGuard or DTLS packet)', fromHex('c00100142112a442' + TAILSCALE_REQUEST_HEX.slice(16)), 'notStun'],
    ['RFC 3489 request without the magic cookie', fromHex('0001001401020304' + TAILSCALE_REQUEST_HEX.slice(16)), 'wrongMagicCookie'],
    ['declared length longer than the datagram', fromHex('000100182112a442' + TAILSCALE_REQUEST_HEX.slice(16)), 'badLength'],
    ['declared length not a multiple of 4', fromHex('000100132112a442' + TAILSCALE_REQUEST_HEX.slice(16, 78)), 'badLength'],
    ['trailing bytes after the declared length', fromHex(TAILSCALE_REQUEST_HEX + '00000000'), 'badLength'],
    ['binding indication (class 01)', fromHex('001100142112a442' + TAILSCALE_REQUEST_HEX.slice(16)), 'notBindingRequest'],
    ['a success response sent to the server', fromHex('010100142112a442' + TAILSCALE_REQUEST_HEX.slice(16)), 'notBindingRequest'],
    ['attribute running past the end', fromHex('000100082112a4420102030405060708090a0b0c' + '80220008' + '74616900'), 'malformedAttributes'],
    ['other SOFTWARE', withFingerprint('000100142112a4420102030405060708090a0b0c' + '80220008' + toHex(new TextEncoder().encode('tailnodf'))), 'wrongSoftware'],
    ['no SOFTWARE', withFingerprint('000100082112a4420102030405060708090a0b0c'), 'wrongSoftware'],
    ['no FINGERPRINT', fromHex('0001000c2112a4420102030405060708090a0b0c802200087461696c6e6f6465'), 'noFingerprint'],
    ['bogus FINGERPRINT', fromHex(TAILSCALE_REQUEST_HEX.slice(0, -2) + '0e'), 'wrongFingerprint'],
    ['bogus FINGERPRINT, lenient policy', fromHex(TAILSCALE_REQUEST_HEX.slice(0, -2) + '0e'), 'wrongFingerprint', false],
  ];
  for (const [name, bytes, reason, strict] of drops) {
    it(`drops ${name} as ${reason}`, () => {
      expect(parseBindingRequest(bytes, strict === undefined ? {} : { requireTailnodeSoftware: strict })).toEqual({ type: 'drop', reason });
    });
  }

  it('with the lenient policy answers a bare 20-byte binding request', () => {
    const bare = fromHex('000100002112a4420102030405060708090a0b0c');
    expect(parseBindingRequest(bare)).toEqual({ type: 'drop', reason: 'wrongSoftware' });
    expect(parseBindingRequest(bare, { requireTailnodeSoftware: false })).toMatchObject({ type: 'bindingRequest' });
  });

  it('computes the same CRC-32 as zlib', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => crc32(b) === zlibCrc32(b) >>> 0));
  });

  it('never throws on arbitrary bytes (request and response parsers)', () => {
    const stunLike = fc.tuple(fc.uint8Array({ minLength: 2, maxLength: 2 }), fc.uint8Array({ maxLength: 80 })).map(([t, attrs]) => {
      const out = new Uint8Array(20 + attrs.length);
      out.set(t);
      new DataView(out.buffer).setUint16(2, attrs.length);
      out.set(fromHex('2112a442'), 4);
      out.set(attrs, 20);
      return out;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), stunLike), (b) => {
        const a = parseBindingRequest(b);
        const c = parseBindingRequest(b, { requireTailnodeSoftware: false });
        const d = parseBindingResponse(b);
        expect(['drop', 'bindingRequest']).toContain(a.type);
        expect(['drop', 'bindingRequest']).toContain(c.type);
        expect(['drop', 'bindingResponse']).toContain(d.type);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('STUN listener (UDP, loopback)', () => {
  let listener: StunListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  async function roundTrip(host: string, payload: Uint8Array): Promise<Uint8Array | undefined> {
    listener = await StunListener.listen({ host, port: 0 });
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve) => sock.bind(0, host, resolve));
      const got = new Promise<Uint8Array | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 1000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(new Uint8Array(m));
        });
      });
      sock.send(payload, listener.address().port, host);
      const reply = await got;
      if (reply) {
        const r = parseBindingResponse(reply);
        expect(r.type).toBe('bindingResponse');
        if (r.type === 'bindingResponse') {
          expect(formatIp(r.address.ip)).toBe(host);
          expect(r.address.port).toBe(sock.address().port);
        }
      }
      return reply;
    } finally {
      sock.close();
    }
  }

  for (const host of ['127.0.0.1', '::1']) {
    it(`reports the sender's address and port on ${host}`, async () => {
      const reply = await roundTrip(host, createBindingRequest(TX));
      expect(reply).toBeDefined();
      expect(listener!.counters.success).toBe(1n);
      expect(host.includes(':') ? listener!.counters.ipv6 : listener!.counters.ipv4).toBe(1n);
    });
  }

  it('ignores a non-STUN datagram and counts it', async () => {
    const reply = await roundTrip('127.0.0.1', fromHex('deadbeef'));
    expect(reply).toBeUndefined();
    expect(listener!.counters.notStun).toBe(1n);
    expect(listener!.counters.drops.get('notStun')).toBe(1n);
  });
});
