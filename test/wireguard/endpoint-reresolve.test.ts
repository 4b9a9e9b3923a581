/**
 * Host-name endpoints: the text parser, and the re-resolution policy (contrib/reresolve-dns
 * built in): resolve at once, retry failures with backoff, look again only while the peer's
 * handshake is stale, forget peers whose name changed or went away.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseEndpointText } from '../../src/wireguard/endpoint-text.js';
import { EndpointReresolver, HANDSHAKE_STALE_MS, RERESOLVE_INTERVAL_MS, RETRY_MIN_MS } from '../../src/wireguard/endpoint-reresolve.js';

describe('parseEndpointText', () => {
  it.each([
    ['192.0.2.1:51820', { kind: 'ip', endpoint: { family: 4, address: '192.0.2.1', port: 51820 } }],
    ['[2001:db8::1]:51820', { kind: 'ip', endpoint: { family: 6, address: '2001:db8::1', port: 51820 } }],
    ['vpn.Example.com:51820', { kind: 'host', endpoint: { host: 'vpn.example.com', port: 51820 } }],
    ['vpn.example.com.:1', { kind: 'host', endpoint: { host: 'vpn.example.com', port: 1 } }],
    ['localhost:65535', { kind: 'host', endpoint: { host: 'localhost', port: 65535 } }],
  ])('%s', (text, want) => {
    expect(parseEndpointText(text)).toEqual(want);
  });
  it.each(['vpn.example.com', 'vpn.example.com:0', 'vpn.example.com:65536', '[vpn.example.com]:1', 'a..b:1', '-a.b:1', 'a b:1', '2001:db8::1:51820', ':51820', `${'a'.repeat(64)}.com:1`])('rejects %s', (text) => {
    expect(parseEndpointText(text).kind).toBe('error');
  });
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), (t) => ['ip', 'host', 'error'].includes(parseEndpointText(t).kind)), { numRuns: 2000 });
  });
});

describe('EndpointReresolver', () => {
  const peer = (key: string, host: string, port = 51820) => ({ key, endpoint: { host, port } });
  const A = { address: '10.0.0.1', family: 4 as const };
  const never = () => undefined;

  it('looks a new name up at once and configures the first answer', () => {
    const r = new EndpointReresolver();
    r.set([peer('k1', 'a.example')], 1000);
    expect(r.nextDeadline()).toBe(1000);
    expect(r.poll(1000, never)).toEqual([{ key: 'k1', host: 'a.example' }]);
    expect(r.nextDeadline()).toBeUndefined(); // in flight
    expect(r.poll(5000, never)).toEqual([]);
    expect(r.resolved('k1', 'a.example', A, 1010)).toEqual({ family: 4, address: '10.0.0.1', port: 51820 });
    expect(r.nextDeadline()).toBe(1010 + RERESOLVE_INTERVAL_MS);
  });

  it('retries a failed lookup with doubling backoff capped at the interval', () => {
    const r = new EndpointReresolver();
    r.set([peer('k1', 'a.example')], 0);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(r.poll(now, never)).toHaveLength(1);
      expect(r.resolved('k1', 'a.example', undefined, now)).toBeUndefined();
      delays.push(r.nextDeadline()! - now);
      now = r.nextDeadline()!;
    }
    expect(delays).toEqual([1, 2, 4, 8, 16, 30, 30, 30].map((s) => Math.min(RERESOLVE_INTERVAL_MS, s * RETRY_MIN_MS)));
  });

  it('leaves a peer with a fresh handshake alone, and looks again once it is stale', () => {
    const r = new EndpointReresolver();
    r.set([peer('k1', 'a.example')], 0);
    r.poll(0, never);
    r.resolved('k1', 'a.example', A, 0);
    let age = 1_000;
    expect(r.poll(RERESOLVE_INTERVAL_MS, () => age)).toEqual([]);
    expect(r.nextDeadline()).toBe(2 * RERESOLVE_INTERVAL_MS);
    age = HANDSHAKE_STALE_MS + 1;
    expect(r.poll(2 * RERESOLVE_INTERVAL_MS, () => age)).toEqual([{ key: 'k1', host: 'a.example' }]);
    // a peer that never completed a handshake is stale too
    r.resolved('k1', 'a.example', { address: '10.0.0.2', family: 4 }, 2 * RERESOLVE_INTERVAL_MS);
    expect(r.poll(3 * RERESOLVE_INTERVAL_MS, never)).toHaveLength(1);
  });

  it('keeps the schedule of unchanged peers across set(), restarts changed ones, drops removed ones', () => {
    const r = new EndpointReresolver();
    r.set([peer('k1', 'a.example'), peer('k2', 'b.example')], 0);
    expect(r.poll(0, never)).toHaveLength(2);
    r.resolved('k1', 'a.example', A, 0);
    r.set([peer('k1', 'a.example'), peer('k2', 'c.example')], 10);
    // k2's old lookup answers late: ignored, its new name is due now
    expect(r.resolved('k2', 'b.example', A, 11)).toBeUndefined();
    expect(r.poll(11, never)).toEqual([{ key: 'k2', host: 'c.example' }]);
    expect(r.nextDeadline()).toBe(RERESOLVE_INTERVAL_MS); // k1 unchanged
    r.set([], 20);
    expect(r.size).toBe(0);
    expect(r.nextDeadline()).toBeUndefined();
    expect(r.resolved('k2', 'c.example', A, 21)).toBeUndefined();
  });
});
