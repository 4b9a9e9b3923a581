/**
 * Edge limits over loopback: the handshake deadline on a real socket, the accept rate limit,
 * WebSocket text messages, and the Ideal-Node header (not-ideal connections).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect as netConnect } from 'node:net';
import { WebSocket } from 'ws';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { startDerpServer, type DerpServiceOptions, type RunningDerpServer } from '../../src/derp/io/service.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { StreamDerpClient } from './support/stream-client.js';

const rng = new SystemRng();
const running: RunningDerpServer[] = [];
const clients: StreamDerpClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of running) await r.close();
});

async function start(extra: Partial<DerpServiceOptions> = {}): Promise<RunningDerpServer> {
  const srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), ...extra }, {
    clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }),
  });
  running.push(srv);
  return srv;
}

describe('edge limits', () => {
  it('closes a client that upgrades but never sends ClientInfo, at the handshake deadline', async () => {
    const srv = await start({ handshakeTimeoutMs: 300 });
    const c = await StreamDerpClient.connect(srv.url, { noHandshake: true });
    clients.push(c);
    const t0 = Date.now();
    await c.waitClosed(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(srv.core.stats.handshakeTimeouts).toBe(1n);
  });

  it('closes connections beyond the accept rate at once', async () => {
    const srv = await start({ acceptRatePerSec: 0.01, acceptBurst: 2 }); // no refill during the test
    const sockets = Array.from({ length: 5 }, () => {
      const sock = netConnect({ host: '127.0.0.1', port: srv.address.port });
      sock.on('error', () => {});
      return sock;
    });
    const until = async (pred: () => boolean): Promise<void> => {
      const end = Date.now() + 10_000;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    await until(() => srv.http.stats.rejectedConnections === 3n && sockets.filter((x) => x.closed).length === 3);
    expect(srv.http.stats.rejectedConnections).toBe(3n);
    expect(sockets.filter((x) => !x.closed)).toHaveLength(2);
    for (const x of sockets) x.destroy();
  });

  it('closes a WebSocket that sends a text message with 1003', async () => {
    const srv = await start();
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/derp`, ['derp']);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const code = await new Promise<number>((resolve) => {
      ws.once('close', (c) => resolve(c));
      ws.send('hello');
    });
    expect(code).toBe(1003);
  });

  it('counts clients that sent Ideal-Node as not ideal', async () => {
    const srv = await start();
    const c = await StreamDerpClient.connect(srv.url, { extraHeaders: { 'Ideal-Node': '999a' } });
    clients.push(c);
    expect(srv.core.gauges().currentNotIdealConnections).toBe(1);
  });
});
