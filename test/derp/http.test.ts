/**
 * The HTTP edge over loopback (127.0.0.1, port 0): Upgrade: DERP (with and without fast start),
 * WebSocket `derp`, the probe/captive-portal/metrics endpoints, and TLS with a throwaway
 * self-signed certificate made by openssl at test time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { WebSocket } from 'ws';
import { FrameDecoder, FrameType, encodeFrame } from '../../src/derp/frame.js';
import {
  decodeRecvPacket, decodeServerKey, generateNodePrivateKey, keyHex, openServerInfo, publicKeyOf, sealClientInfo,
} from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { createRegistry } from '../../src/runtime/metrics.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { missing } from '../support/prereq.js';
import { StreamDerpClient } from './support/stream-client.js';

const rng = new SystemRng();
const deps = () => ({ clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }), registry: createRegistry() });

async function relayCheck(a: StreamDerpClient, b: StreamDerpClient, size = 3): Promise<void> {
  const payload = new Uint8Array(size).map((_, i) => i & 0xff);
  a.sendPacket(b.pub, payload);
  const f = await b.nextOfType(FrameType.RecvPacket);
  const r = decodeRecvPacket(f.payload);
  expect(r.ok && toHex(r.src)).toBe(toHex(a.pub));
  expect(r.ok && r.packet.length).toBe(size);
  expect(r.ok && toHex(r.packet.subarray(0, 16))).toBe(toHex(payload.subarray(0, 16)));
}

describe('plain HTTP', () => {
  let srv: RunningDerpServer;
  const clients: StreamDerpClient[] = [];
  const connect = async (opts: Parameters<typeof StreamDerpClient.connect>[1] = {}) => {
    const c = await StreamDerpClient.connect(srv.url, opts);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), hostname: 'derp.test' }, deps());
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv.close();
  });

  it('answers Upgrade: DERP with derper\'s exact 101 response, then relays', async () => {
    const a = await connect();
    expect(a.responseHead).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n' +
        `Derp-Public-Key: ${keyHex(srv.publicKey)}\r\n\r\n`,
    );
    expect(toHex(a.serverKey!)).toBe(toHex(srv.publicKey));
    const b = await connect();
    await relayCheck(a, b);
    await relayCheck(b, a, 65536);
  });

  it('fast start: no HTTP response, ServerKey first, ClientInfo may ride with the request', async () => {
    const priv = generateNodePrivateKey(rng);
    const socket = netConnect({ host: '127.0.0.1', port: srv.address.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const ci = sealClientInfo(priv, srv.publicKey, rng.fill(new Uint8Array(24)), { version: 2, canAckPings: true, isProber: false })!;
    const req = Buffer.from(`GET /derp HTTP/1.1\r\nHost: derp.test\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Fast-Start: 1\r\n\r\n`);
    socket.write(Buffer.concat([req, encodeFrame(FrameType.ClientInfo, ci)])); // back to back, one write
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    const first: Buffer[] = [];
    const frames = await new Promise<{ type: number; payload: Uint8Array }[]>((resolve, reject) => {
      const got: { type: number; payload: Uint8Array }[] = [];
      socket.on('data', (b: Buffer) => {
        first.push(b);
        got.push(...decoder.push(new Uint8Array(b)).frames.map((f) => ({ type: f.type, payload: f.payload.slice() })));
        if (got.length >= 2) resolve(got);
      });
      setTimeout(() => reject(new Error('timeout')), 5000).unref();
    });
    socket.destroy();
    expect(Buffer.concat(first).subarray(0, 13).toString('hex')).toBe('010000002844455250f09f9491');
    expect(frames[0]!.type).toBe(FrameType.ServerKey);
    const sk = decodeServerKey(frames[0]!.payload);
    expect(sk.ok && toHex(sk.serverKey)).toBe(toHex(srv.publicKey));
    expect(frames[1]!.type).toBe(FrameType.ServerInfo);
    expect(openServerInfo(priv, srv.publicKey, frames[1]!.payload).ok).toBe(true);
  });

  it('relays between a WebSocket client and an Upgrade client, 64 KiB packets included', async () => {
    const w = await connect({ transport: 'websocket' });
    const u = await connect();
    await relayCheck(w, u);
    await relayCheck(u, w, 65536);
    await relayCheck(w, u, 65536);
    expect(srv.http.stats.websocketAccepts).toBeGreaterThanOrEqual(1n);
  });

  it('keeps every server→client WebSocket message within 32 KiB', async () => {
    const sizes: number[] = [];
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/derp`, ['derp'], { perMessageDeflate: false });
    ws.on('message', (d: Buffer) => sizes.push(d.length));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const priv = generateNodePrivateKey(rng);
    ws.send(encodeFrame(FrameType.ClientInfo, sealClientInfo(priv, srv.publicKey, rng.fill(new Uint8Array(24)), { version: 2, canAckPings: true, isProber: false })!));
    const sender = await connect();
    for (let i = 0; i < 250 && !srv.core.isLocal(publicKeyOf(priv)); i++) await new Promise((r) => setTimeout(r, 20));
    sender.sendPacket(publicKeyOf(priv), new Uint8Array(65536));
    const deadline = Date.now() + 5000;
    while (sizes.reduce((a, b) => a + b, 0) < 65536 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ws.terminate();
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(65536);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(32 * 1024);
  });

  it('answers 426 to /derp without an upgrade, and to other upgrade protocols', async () => {
    const r = await fetch(`${srv.url}/derp`);
    expect(r.status).toBe(426);
    expect(await r.text()).toBe('DERP requires connection upgrade');
    const socket = netConnect({ host: '127.0.0.1', port: srv.address.port });
    const text = await new Promise<string>((resolve) => {
      let acc = '';
      socket.on('data', (b: Buffer) => (acc += b.toString()));
      socket.on('close', () => resolve(acc));
      socket.write('GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
    });
    expect(text.startsWith('HTTP/1.1 426 Upgrade Required')).toBe(true);
    expect(text.endsWith('DERP requires connection upgrade')).toBe(true);
  });

  it('serves /derp/probe and /derp/latency-check to GET and HEAD with CORS *, 405 otherwise', async () => {
    for (const path of ['/derp/probe', '/derp/latency-check']) {
      for (const method of ['GET', 'HEAD']) {
        const r = await fetch(`${srv.url}${path}`, { method });
        expect(r.status).toBe(200);
        expect(r.headers.get('access-control-allow-origin')).toBe('*');
        expect(await r.text()).toBe('');
      }
      const bad = await fetch(`${srv.url}${path}`, { method: 'POST' });
      expect(bad.status).toBe(405);
      expect(await bad.text()).toBe('bogus probe method');
    }
  });

  it('serves /generate_204 and echoes a valid X-Tailscale-Challenge only', async () => {
    const ok = await fetch(`${srv.url}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'ts_abc-1.2:3' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('x-tailscale-response')).toBe('response ts_abc-1.2:3');
    const bad = await fetch(`${srv.url}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'a b<script>' } });
    expect(bad.status).toBe(204);
    expect(bad.headers.get('x-tailscale-response')).toBeNull();
    const long = await fetch(`${srv.url}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'a'.repeat(65) } });
    expect(long.headers.get('x-tailscale-response')).toBeNull();
  });

  it('serves Prometheus metrics, a status page and robots.txt', async () => {
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    expect(m).toMatch(/^tsplane_derp_accepts_total \d+$/m);
    expect(m).toMatch(/^tsplane_derp_current_connections \d+$/m);
    expect(m).toMatch(/^tsplane_derp_packets_dropped_total\{reason="queue_head",kind="other"\} \d+$/m);
    expect(m).toMatch(/^tsplane_derp_websocket_accepts_total [1-9]\d*$/m);
    const home = await (await fetch(`${srv.url}/`)).text();
    expect(home).toContain(`nodekey:${keyHex(srv.publicKey)}`);
    expect(await (await fetch(`${srv.url}/robots.txt`)).text()).toContain('Disallow: /');
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
  });
});

describe.skipIf(missing({ command: 'openssl' }).length > 0)('over TLS with a self-signed certificate', () => {
  let dir: string;
  let srv: RunningDerpServer;
  let cert: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsp-derps-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'));
    srv = await startDerpServer({
      listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng),
      tls: { cert, key: readFileSync(join(dir, 'key.pem')) },
    }, deps());
  });
  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('relays over Upgrade: DERP and WebSocket through TLS', async () => {
    expect(srv.url.startsWith('https://')).toBe(true);
    const a = await StreamDerpClient.connect(srv.url, { ca: cert });
    const b = await StreamDerpClient.connect(srv.url, { ca: cert, transport: 'websocket' });
    await relayCheck(a, b, 1200);
    await relayCheck(b, a, 1200);
    a.close();
    b.close();
  });

  it('sends derper\'s meta certificate (CN derpkey<server key>, serial 2) after the real chain', async () => {
    // Async: the server runs in this process, so a blocking spawn would deadlock it.
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${srv.address.port}`, '-servername', 'localhost', '-showcerts', '-tls1_3'], { stdio: ['pipe', 'pipe', 'ignore'] });
      let text = '';
      p.stdout.on('data', (b: Buffer) => (text += b.toString()));
      p.on('error', reject);
      p.on('close', () => resolve(text));
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.on('close', () => clearTimeout(t));
      p.stdin.end();
    });
    const pems = out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(pems).toHaveLength(2);
    const meta = new X509Certificate(pems[1]!);
    expect(meta.subject).toBe(`CN=derpkey${keyHex(srv.publicKey)}`);
    expect(meta.serialNumber).toBe('02');
    expect(meta.verify(meta.publicKey)).toBe(true);
    expect(new Date(meta.validFrom).getTime()).toBeLessThan(Date.now() - 29 * 86400_000);
    expect(new Date(meta.validTo).getTime()).toBeGreaterThan(Date.now() + 29 * 86400_000);
  });

  it('serves the probe over HTTPS', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${srv.url}/derp/probe`, { ca: cert, servername: 'localhost' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
  });
});

describe('verify-clients allow-list file', () => {
  let dir: string;
  let srv: RunningDerpServer;
  const allowed = generateNodePrivateKey(rng);
  const other = generateNodePrivateKey(rng);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsp-derps-'));
    writeFileSync(join(dir, 'allow.txt'), `# allowed nodes\nnodekey:${keyHex(publicKeyOf(allowed))}\n`);
    srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), verifyClientsFile: join(dir, 'allow.txt') }, deps());
  });
  afterAll(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('admits listed keys, rejects others, and picks up a reload on SIGHUP', async () => {
    const ok = await StreamDerpClient.connect(srv.url, { priv: allowed });
    await expect(StreamDerpClient.connect(srv.url, { priv: other })).rejects.toThrow();
    writeFileSync(join(dir, 'allow.txt'), `nodekey:${keyHex(publicKeyOf(other))}\n`);
    process.emit('SIGHUP', 'SIGHUP');
    const now = await StreamDerpClient.connect(srv.url, { priv: other });
    expect(now.closed).toBe(false);
    ok.close();
    now.close();
  });
});
