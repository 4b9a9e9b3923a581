/**
 * The Upgrade: DERP dialer against hand-written servers on loopback: the exact request it
 * sends, a 101 that dribbles in byte by byte with DERP frames in the same segment, a server
 * that never answers (dial timeout), and URL rules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { dialDerp, derpUrl } from '../../src/derp/io/client-transport.js';
import { FrameType, encodeFrame } from '../../src/derp/frame.js';
import { encodeServerKey } from '../../src/derp/protocol.js';
import { toHex } from '../../src/runtime/bytes.js';

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});

async function listen(onConn: (s: Socket) => void): Promise<number> {
  server = createServer((s) => {
    sockets.push(s);
    onConn(s);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('Upgrade: DERP dialer', () => {
  it('sends GET /derp with Upgrade: DERP and hands over bytes that follow the 101 in the same segment', async () => {
    const key = new Uint8Array(32).fill(0x42);
    const serverKeyFrame = encodeFrame(FrameType.ServerKey, encodeServerKey(key));
    let request = '';
    const port = await listen((s) => {
      s.on('data', async (d: Buffer) => {
        request += d.toString('latin1');
        if (!request.includes('\r\n\r\n')) return;
        const head = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\nDerp-Public-Key: nodekey:00\r\n\r\n');
        // Dribble the head one byte per write, then the last head byte and a frame together.
        for (let i = 0; i < head.length - 1; i++) {
          s.write(head.subarray(i, i + 1));
          if (i % 16 === 0) await new Promise((r) => setImmediate(r));
        }
        s.write(Buffer.concat([head.subarray(head.length - 1), serverKeyFrame]));
      });
    });
    const stream = await dialDerp(`http://127.0.0.1:${port}`);
    const received: Uint8Array[] = [];
    stream.onData((b) => received.push(new Uint8Array(b)));
    const deadline = Date.now() + 3000;
    while (received.reduce((n, b) => n + b.length, 0) < serverKeyFrame.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(toHex(Buffer.concat(received))).toBe(toHex(serverKeyFrame));
    expect(request).toMatch(/^GET \/derp HTTP\/1\.1\r\n/);
    expect(request).toMatch(/\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(request).toMatch(/\r\nUpgrade: DERP\r\n/);
    expect(request).toMatch(/\r\nConnection: Upgrade\r\n/);
    stream.close();
  });

  it('gives up after the dial timeout when the server never answers', async () => {
    const port = await listen(() => undefined);
    const t0 = Date.now();
    await expect(dialDerp(`http://127.0.0.1:${port}/derp`, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'DERP_ERR_DIAL_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('refuses an oversized response head instead of buffering it', async () => {
    const port = await listen((s) => {
      s.once('data', () => s.write(`HTTP/1.1 101 Switching Protocols\r\nX-Junk: ${'a'.repeat(20_000)}`));
    });
    await expect(dialDerp(`http://127.0.0.1:${port}/derp`, { timeoutMs: 3000 })).rejects.toMatchObject({ code: 'DERP_ERR_HTTP', message: expect.stringMatching(/too large/) });
  });

  it('normalises URLs: default path /derp, only http(s) and ws(s)', () => {
    expect(derpUrl('http://127.0.0.1:3340').toString()).toBe('http://127.0.0.1:3340/derp');
    expect(derpUrl('https://derp.example.com/').toString()).toBe('https://derp.example.com/derp');
    expect(derpUrl('wss://[::1]:8443/derp').toString()).toBe('wss://[::1]:8443/derp');
    expect(() => derpUrl('ftp://example.com')).toThrow(expect.objectContaining({ code: 'DERP_ERR_URL' }));
  });
});
