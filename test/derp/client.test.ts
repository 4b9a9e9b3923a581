/**
 * DerpClient against a real relay on loopback, over every transport: Upgrade: DERP on TCP and
 * TLS, WebSocket on TCP and TLS (self-signed certificate made with openssl at test time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { generateNodePrivateKey, type NodePublicKey } from '../../src/derp/protocol.js';
import { DerpClient, type DerpClientOptions } from '../../src/derp/io/client.js';
import type { ClientMessage } from '../../src/derp/client.js';
import { WebSocketServer } from 'ws';
import { dialDerp, WS_MAX_MESSAGE_BYTES } from '../../src/derp/io/client-transport.js';
import { makeSelfSignedCert, startRelay, type SelfSignedCert, type TestRelay } from './support/relay.js';
import { missing } from '../support/prereq.js';

const rng = new SystemRng();

function nextPacket(c: DerpClient, timeoutMs = 3000): Promise<{ source: NodePublicKey; data: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error('no packet'));
    }, timeoutMs);
    const off = c.onPacket((source, data) => {
      clearTimeout(t);
      off();
      resolve({ source: new Uint8Array(source) as NodePublicKey, data: new Uint8Array(data) });
    });
  });
}

function nextMessage(c: DerpClient, type: ClientMessage['type'], timeoutMs = 3000): Promise<ClientMessage> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${type}`));
    }, timeoutMs);
    const off = c.onMessage((m) => {
      if (m.type !== type) return;
      clearTimeout(t);
      off();
      resolve(m);
    });
  });
}

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const clients: DerpClient[] = [];
function client(opts: Omit<DerpClientOptions, 'privateKey'>): DerpClient {
  const c = new DerpClient({ privateKey: generateNodePrivateKey(rng), ...opts });
  clients.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

const haveOpenssl = missing({ command: 'openssl' }).length === 0;
let cert: SelfSignedCert | undefined;
let plain: TestRelay;
let tls: TestRelay | undefined;

beforeAll(async () => {
  plain = await startRelay();
  if (haveOpenssl) {
    cert = makeSelfSignedCert();
    tls = await startRelay({ tls: cert });
  }
});
afterAll(async () => {
  await plain?.close();
  await tls?.close();
});

type Variant = { name: string; url: () => string; tlsOpts?: () => DerpClientOptions['tls']; needsTls?: boolean };
const variants: Variant[] = [
  { name: 'Upgrade: DERP over TCP (http)', url: () => plain.url },
  { name: 'WebSocket over TCP (ws)', url: () => plain.wsUrl },
  { name: 'Upgrade: DERP over TLS (https)', url: () => tls!.url, tlsOpts: () => ({ ca: cert!.cert }), needsTls: true },
  { name: 'WebSocket over TLS (wss)', url: () => tls!.wsUrl, tlsOpts: () => ({ ca: cert!.cert }), needsTls: true },
];

for (const v of variants) {
  describe.skipIf(v.needsTls === true && !haveOpenssl)(`DerpClient, ${v.name}`, () => {
    it('connects, relays packets both ways with the sender key, and measures ping', async () => {
      const opts = { url: v.url(), ...(v.tlsOpts ? { tls: v.tlsOpts() } : {}) };
      const a = client(opts);
      const b = client(opts);
      await Promise.all([a.connect(), b.connect()]);
      expect(a.connected && b.connected).toBe(true);
      expect(toHex(a.serverKey!)).toBe(toHex((v.needsTls ? tls! : plain).server.publicKey));

      const gotB = nextPacket(b);
      expect(a.sendPacket(b.publicKey, Uint8Array.of(1, 2, 3))).toBe(true);
      const pb = await gotB;
      expect(toHex(pb.source)).toBe(toHex(a.publicKey));
      expect(toHex(pb.data)).toBe('010203');

      const gotA = nextPacket(a);
      b.sendPacket(a.publicKey, new Uint8Array(1200).fill(7));
      const pa = await gotA;
      expect(toHex(pa.source)).toBe(toHex(b.publicKey));
      expect(pa.data).toEqual(new Uint8Array(1200).fill(7));

      const rtt = await a.ping();
      expect(rtt).toBeGreaterThanOrEqual(0);
      expect(rtt).toBeLessThan(3000);
    });

    it('carries a 64 KiB packet intact (WebSocket writes are split at 32 KiB)', async () => {
      const opts = { url: v.url(), ...(v.tlsOpts ? { tls: v.tlsOpts() } : {}) };
      const a = client(opts);
      const b = client(opts);
      await Promise.all([a.connect(), b.connect()]);
      const big = rng.fill(new Uint8Array(65536));
      const got = nextPacket(b);
      a.sendPacket(b.publicKey, big);
      expect(toHex((await got).data)).toBe(toHex(big));
      // And the connection is still healthy afterwards.
      expect(await a.ping()).toBeLessThan(3000);
    });
  });
}

describe.skipIf(!haveOpenssl)('DerpClient TLS verification', () => {
  it('refuses a self-signed certificate it was not told to trust', async () => {
    const c = client({ url: tls!.url, reconnect: false });
    await expect(c.connect()).rejects.toThrow(/self-signed|certificate/i);
  });
  it('connects with --insecure semantics (verification off)', async () => {
    const c = client({ url: tls!.url, tls: { insecureSkipVerify: true } });
    await c.connect();
    expect(c.connected).toBe(true);
  });
});

describe('DerpClient failures and reconnects', () => {
  it('reports a refused upgrade with the HTTP status', async () => {
    const http: Server = createServer((_req, res) => res.writeHead(404).end('nope'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    try {
      const c = client({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/derp`, reconnect: false });
      await expect(c.connect()).rejects.toMatchObject({ code: 'DERP_ERR_HTTP', message: expect.stringMatching(/404/) });
    } finally {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    }
  });

  it('connects over IPv6 loopback ([::1]) with both transports', async () => {
    const v6 = await startRelay({ host: '::1' });
    try {
      for (const url of [v6.url, v6.wsUrl]) {
        const a = client({ url, reconnect: false });
        const b = client({ url, reconnect: false });
        await Promise.all([a.connect(), b.connect()]);
        const got = nextPacket(b);
        a.sendPacket(b.publicKey, Uint8Array.of(6));
        expect(toHex((await got).data)).toBe('06');
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      await v6.close();
    }
  });

  it('rejects connect() to a dead port', async () => {
    const dead = await startRelay();
    const url = dead.url;
    await dead.close();
    await expect(client({ url, reconnect: false }).connect()).rejects.toThrow();
  });

  it('with several URLs, moves past a dead one to the next (and from a handshake failure too)', async () => {
    const dead = await startRelay();
    const deadUrl = dead.url;
    await dead.close();
    const refuses: Server = createServer((_req, res) => res.writeHead(404).end('nope'));
    await new Promise<void>((r) => refuses.listen(0, '127.0.0.1', r));
    const live = await startRelay();
    try {
      const refusedUrl = `http://127.0.0.1:${(refuses.address() as AddressInfo).port}/derp`;
      const c = client({ url: [deadUrl, refusedUrl, live.url], backoff: { initialMs: 10, maxMs: 50 } });
      expect(String(c.url)).toBe(deadUrl);
      c.start();
      await until(() => c.connected);
      expect(String(c.url)).toBe(live.url);
      const peer = client({ url: live.url, reconnect: false });
      await peer.connect();
      const got = nextPacket(peer);
      c.sendPacket(peer.publicKey, Uint8Array.of(7));
      expect(toHex((await got).data)).toBe('07');
    } finally {
      refuses.closeAllConnections();
      await new Promise((r) => refuses.close(r));
      await live.close();
    }
  });

  it('reconnects after the server restarts on the same port', async () => {
    const r1 = await startRelay();
    const port = r1.port;
    const privateKey = r1.privateKey;
    const c = client({ url: r1.url, backoff: { initialMs: 20, maxMs: 200 } });
    const peer = client({ url: r1.url, backoff: { initialMs: 20, maxMs: 200 } });
    await Promise.all([c.connect(), peer.connect()]);
    const down = new Promise<string>((resolve) => c.onDisconnected(resolve));
    await r1.close();
    await down;
    expect(c.connected).toBe(false);
    const r2 = await startRelay({ port, privateKey });
    try {
      await until(() => c.connected && peer.connected);
      expect(c.reconnects).toBeGreaterThanOrEqual(1n);
      const got = nextPacket(peer);
      c.sendPacket(peer.publicKey, Uint8Array.of(42));
      expect(toHex((await got).data)).toBe('2a');
    } finally {
      await r2.close();
    }
  });

  it('honours Restarting: waits reconnect-in before trying again', async () => {
    const r1 = await startRelay();
    const { port, privateKey } = r1;
    const c = client({ url: r1.url, backoff: { initialMs: 10, maxMs: 20 } });
    await c.connect();
    const restarting = nextMessage(c, 'restarting');
    const down = new Promise<number>((resolve) => c.onDisconnected(() => resolve(Date.now())));
    r1.server.shutdown(600, 10_000);
    expect(await restarting).toEqual({ type: 'restarting', reconnectInMs: 600, tryForMs: 10_000 });
    const t0 = await down;
    await r1.close();
    const r2 = await startRelay({ port, privateKey });
    try {
      await until(() => c.connected);
      // Without Restarting the 10–20 ms backoff would have reconnected at once.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    } finally {
      await r2.close();
    }
  });
});

describe('WebSocket transport framing', () => {
  it('never sends a message over 32 KiB, so a derper-like 32768-byte read limit never closes us', async () => {
    // A bare WebSocket server with derper's library default read limit (derp.md §2.2).
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 32 * 1024, handleProtocols: (p) => (p.has('derp') ? 'derp' : false) });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const sizes: number[] = [];
    let total = 0;
    let closeCode: number | undefined;
    wss.on('connection', (ws) => {
      ws.on('message', (d: Buffer) => {
        sizes.push(d.length);
        total += d.length;
      });
      ws.on('close', (code) => (closeCode = code));
    });
    try {
      const port = (wss.address() as AddressInfo).port;
      const s = await dialDerp(`ws://127.0.0.1:${port}/derp`);
      expect(s.write(new Uint8Array(70_000))).toBe(true);
      await until(() => total === 70_000);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(WS_MAX_MESSAGE_BYTES);
      expect(sizes.length).toBe(3);
      expect(closeCode).toBeUndefined();
      s.close();
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });
});
