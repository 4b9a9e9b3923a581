/**
 * The UDP upstream transport's source ports (RFC 5452 §9.2): each socket gets a kernel-chosen
 * random ephemeral port, sockets are replaced after `udpMaxUsesPerSocket` queries, and a dead
 * upstream (ICMP port unreachable on the connected socket) is reported at once. Loopback only.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamTransports } from '../../src/dns/io/upstream.js';
import type { UpstreamSpec } from '../../src/dns/upstream-spec.js';
import { parseUpstream } from '../support/upstream-text.js';
import { freePort, sleep } from './dns-support.js';

describe('UDP upstream source ports', () => {
  let echo: dgram.Socket;
  let spec: UpstreamSpec;
  const ports: number[] = [];

  beforeAll(async () => {
    echo = dgram.createSocket('udp4');
    echo.on('message', (msg, rinfo) => {
      ports.push(rinfo.port);
      echo.send(msg, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
    const p = parseUpstream(`127.0.0.1:${echo.address().port}`);
    if (!p.ok) throw new Error(p.error);
    spec = p.spec;
  });
  afterAll(() => echo.close());

  async function run(maxUses: number, n: number): Promise<{ replies: number; ports: Set<number> }> {
    ports.length = 0;
    let replies = 0;
    const t = new UpstreamTransports({ reply: (token) => { replies++; t.cancel(token); }, error: () => {}, unexpected: () => {} }, { udpMaxUsesPerSocket: maxUses, udpSocketsPerUpstream: 4 });
    for (let i = 0; i < n; i++) {
      t.send(i + 1, spec, 'udp', Uint8Array.of(i >> 8, i & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0));
      if (i % 16 === 15) await sleep(5);
    }
    for (let k = 0; k < 100 && replies < n; k++) await sleep(10);
    t.close();
    return { replies, ports: new Set(ports) };
  }

  it('uses a new random port for every query with udpMaxUsesPerSocket 1', async () => {
    const r = await run(1, 64);
    expect(r.replies).toBe(64);
    expect(r.ports.size).toBeGreaterThanOrEqual(60); // the kernel may reuse a freed port now and then
  });

  it('rotates a small pool of sockets by default', async () => {
    const r = await run(8, 64);
    expect(r.replies).toBe(64);
    expect(r.ports.size).toBeGreaterThanOrEqual(8);
    expect(r.ports.size).toBeLessThanOrEqual(12);
  });

  it('reports a dead upstream at once through ICMP port unreachable', async () => {
    const dead = parseUpstream(`127.0.0.1:${await freePort()}`);
    if (!dead.ok) throw new Error(dead.error);
    const errors: number[] = [];
    const t = new UpstreamTransports({ reply: () => {}, error: (token) => errors.push(token), unexpected: () => {} });
    const start = Date.now();
    t.send(7, dead.spec, 'udp', Uint8Array.of(0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0));
    for (let k = 0; k < 50 && errors.length === 0; k++) await sleep(10);
    t.close();
    expect(errors).toEqual([7]);
    expect(Date.now() - start).toBeLessThan(400);
  });
});
