/**
 * derper's /debug/ pages: derper metric names in /debug/varz (so dashboards written for derper
 * keep working), /debug/vars JSON, and derper's access rule (loopback and Tailscale addresses,
 * never through a proxy). Loopback only, port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowDebugAccess, formatVarz } from '../../src/derp/debug-varz.js';
import { DerpServerStats } from '../../src/derp/server-stats.js';
import { FrameType } from '../../src/derp/frame.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { StreamDerpClient } from './support/stream-client.js';

describe('allowDebugAccess (derper\'s rule)', () => {
  it.each([
    ['127.0.0.1', true], ['127.8.9.10', true], ['::1', true], ['::ffff:127.0.0.1', true],
    ['100.64.0.1', true], ['100.127.255.254', true], ['fd7a:115c:a1e0::1', true],
    ['100.128.0.1', false], ['100.63.255.255', false], ['10.0.0.1', false], ['192.168.1.2', false],
    ['fd7a:115c:a1e1::1', false], ['2001:db8::1', false], ['::', false], ['garbage', false],
  ])('%s → %s', (ip, want) => {
    expect(allowDebugAccess(ip, undefined)).toBe(want);
  });
  it('refuses anything that came through a proxy, and an unknown peer', () => {
    expect(allowDebugAccess('127.0.0.1', '203.0.113.9')).toBe(false);
    expect(allowDebugAccess('127.0.0.1', '')).toBe(false);
    expect(allowDebugAccess(undefined, undefined)).toBe(false);
  });
});

describe('formatVarz', () => {
  it('uses derper\'s names and counts both drop-reason forms', () => {
    const stats = new DerpServerStats();
    stats.accepts = 3n;
    stats.packetsReceived = 10n;
    stats.packetsReceivedDisco = 4n;
    stats.drop('queue_head', 'disco', 100);
    stats.drop('queue_head', 'other', 100);
    const text = formatVarz({
      stats,
      gauges: { currentConnections: 2, currentHomeConnections: 1, currentNotIdealConnections: 0, clientsTotal: 2, clientsLocal: 2, clientsRemote: 0, currentDupClientKeys: 0, currentDupClientConns: 0, watchers: 0, handshakesInProgress: 0, queuedPackets: 0 },
      uptimeSeconds: 12.7,
    });
    expect(text).toContain('# TYPE derp_accepts counter\nderp_accepts 3\n');
    expect(text).toContain('derp_packets_received_kind{kind="disco"} 4\nderp_packets_received_kind{kind="other"} 6\n');
    expect(text).toContain('derp_packets_dropped_reason{reason="queue_head"} 2\n');
    expect(text).toContain('derp_packets_dropped{reason="queue_head",kind="disco"} 1\n');
    expect(text).toContain('# TYPE derp_current_connections gauge\nderp_current_connections 2\n');
    expect(text).toContain('derp_bytes_dropped 200\n');
    expect(text).toContain('process_uptime_seconds 12\n');
    expect(text).not.toContain('tsplane_');
    expect(text).not.toContain('derp_accepts_total'); // derper's counters carry no _total suffix
    expect(text).not.toContain('stun_requests'); // no STUN responder given
  });
});

describe('GET /debug/* on the relay', () => {
  const rng = new SystemRng();
  let srv: RunningDerpServer;
  beforeAll(async () => {
    srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), stun: { host: '127.0.0.1', port: 0 } },
      { clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }) });
  });
  afterAll(async () => {
    await srv.close();
  });

  it('/debug/varz moves with relayed traffic and includes STUN counters', async () => {
    const before = await (await fetch(`${srv.url}/debug/varz`)).text();
    const a = await StreamDerpClient.connect(srv.url);
    const b = await StreamDerpClient.connect(srv.url);
    try {
      a.sendPacket(b.pub, Uint8Array.of(9, 9, 9));
      await b.nextOfType(FrameType.RecvPacket);
      const r = await fetch(`${srv.url}/debug/varz`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      const after = await r.text();
      const value = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      expect(value(after, 'derp_accepts') - value(before, 'derp_accepts')).toBe(2);
      expect(value(after, 'derp_packets_sent') - value(before, 'derp_packets_sent')).toBe(1);
      expect(value(after, 'derp_current_connections')).toBe(2);
      expect(after).toContain('stun_requests{disposition="success"} 0');
      const vars = await (await fetch(`${srv.url}/debug/vars`)).json() as { derp: Record<string, unknown> };
      expect(vars.derp['packets_sent']).toBe(value(after, 'derp_packets_sent'));
      expect(vars.derp['gauge_current_connections']).toBe(2);
    } finally {
      a.close();
      b.close();
    }
  });

  it('/debug/ is an index; a request carrying X-Forwarded-For is refused', async () => {
    const index = await fetch(`${srv.url}/debug/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('/debug/varz');
    const proxied = await fetch(`${srv.url}/debug/varz`, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
    expect(proxied.status).toBe(403);
    expect((await fetch(`${srv.url}/debug/pprof/`)).status).toBe(404);
  });
});
