/**
 * A client that stops reading cannot make the relay buffer without bound: over real loopback
 * sockets, a flood towards it is absorbed by the kernel, then by at most the socket high-water
 * mark plus a 32-packet queue (head drop), and the silent client is closed at the write deadline.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { PER_CLIENT_SEND_QUEUE_DEPTH } from '../../src/derp/send-queue.js';
import { DropReason } from '../../src/derp/server-stats.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { StreamDerpClient } from './support/stream-client.js';

const rng = new SystemRng();

describe('slow and silent clients', () => {
  let srv: RunningDerpServer;
  const clients: StreamDerpClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await srv?.close();
  });

  it('bounds what is queued for a client that never reads, and closes it at the write deadline', async () => {
    srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng) }, {
      clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }),
    });
    const silent = await StreamDerpClient.connect(srv.url);
    const sender = await StreamDerpClient.connect(srv.url);
    clients.push(silent, sender);
    silent.pauseReading();
    const packet = new Uint8Array(1200);
    let maxQueued = 0;
    // ~48 MB in 40 rounds: far beyond loopback socket buffers.
    for (let round = 0; round < 40 && srv.core.stats.writeTimeouts === 0n; round++) {
      for (let i = 0; i < 1000; i++) sender.sendPacket(silent.pub, packet);
      await new Promise((r) => setTimeout(r, 25));
      maxQueued = Math.max(maxQueued, srv.core.gauges().queuedPackets);
    }
    const deadline = Date.now() + 10_000;
    // The silent client is paused, so it would not notice the close itself: ask the relay.
    while (srv.core.gauges().currentConnections > 1 && Date.now() < deadline) {
      maxQueued = Math.max(maxQueued, srv.core.gauges().queuedPackets);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(maxQueued).toBeLessThanOrEqual(2 * PER_CLIENT_SEND_QUEUE_DEPTH);
    expect(srv.core.stats.dropped(DropReason.QueueHead)).toBeGreaterThan(0n);
    expect(srv.core.stats.writeTimeouts).toBe(1n);
    expect(srv.core.isLocal(silent.pub)).toBe(false);
    expect(srv.core.isLocal(sender.pub)).toBe(true);
    expect(sender.closed).toBe(false);
  }, 40_000);
});
