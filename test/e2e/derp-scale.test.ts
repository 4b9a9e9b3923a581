/**
 * 1,000 concurrent DERP clients over loopback (127.0.0.1, port 0): all connect, each relays a
 * packet to its neighbour, every packet arrives, within a bounded time and a bounded RSS growth.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/derp/frame.js';
import { decodeRecvPacket, generateNodePrivateKey } from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { createRegistry } from '../../src/runtime/metrics.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { StreamDerpClient } from '../derp/support/stream-client.js';

const CLIENTS = 1000;
const CONNECT_CONCURRENCY = 50;

describe('DERP relay at 1,000 concurrent clients', () => {
  let srv: RunningDerpServer | undefined;
  const clients: StreamDerpClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv?.close();
  });

  it('connects them all and relays one packet per client to its neighbour', async () => {
    const rng = new SystemRng();
    srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng) }, {
      clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }), registry: createRegistry(),
    });
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    for (let i = 0; i < CLIENTS; i += CONNECT_CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, CLIENTS - i) }, (_, j) =>
        StreamDerpClient.connect(srv!.url, { transport: (i + j) % 10 === 0 ? 'websocket' : 'upgrade' })));
      clients.push(...batch);
    }
    const connectedMs = Date.now() - started;
    expect(srv.core.gauges().currentConnections).toBe(CLIENTS);
    for (let i = 0; i < CLIENTS; i++) clients[i]!.sendPacket(clients[(i + 1) % CLIENTS]!.pub, new Uint8Array(1200).fill(i & 0xff));
    const got = await Promise.all(clients.map(async (c, i) => {
      const f = await c.nextOfType(FrameType.RecvPacket, 20_000);
      const r = decodeRecvPacket(f.payload);
      return r.ok && toHex(r.src) === toHex(clients[(i + CLIENTS - 1) % CLIENTS]!.pub) && r.packet.length === 1200;
    }));
    const totalMs = Date.now() - started;
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`derp scale: ${CLIENTS} clients connected in ${connectedMs} ms, relayed in ${totalMs} ms total, RSS +${rssGrowthMiB.toFixed(1)} MiB (clients and server in one process)`);
    expect(got.every(Boolean)).toBe(true);
    expect(srv.core.stats.packetsSent).toBe(BigInt(CLIENTS));
    expect(totalMs).toBeLessThan(60_000);
    // Both ends of 1,000 connections live in this process; a leak per connection would show here.
    expect(rssGrowthMiB).toBeLessThan(400);
  }, 90_000);
});
