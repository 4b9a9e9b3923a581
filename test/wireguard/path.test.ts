import { describe, expect, it } from 'vitest';
import { DIRECT_PATH_TIMEOUT_MS, DIRECT_PROBE_INTERVAL_MS, FALLBACK_AFTER_UNANSWERED_INITIATIONS, PeerPath, relaySourceMatches } from '../../src/wireguard/path.js';

describe('PeerPath', () => {
  it('without a relay: direct when there is an endpoint, none otherwise, never relayed', () => {
    const p = new PeerPath();
    for (let i = 0; i < 5; i++) expect(p.initiationSent(i * 5000, false, true)).toBe('direct');
    expect(p.initiationSent(0, false, false)).toBe('none');
    expect(p.dataPath(0, false, true)).toBe('direct');
    expect(p.relayed).toBe(false);
    expect(p.nextDeadline()).toBeUndefined();
  });

  it(`sends ${FALLBACK_AFTER_UNANSWERED_INITIATIONS} direct initiations, then both paths, with a probe deadline`, () => {
    const p = new PeerPath();
    const seen = [0, 5000, 10_000, 15_000].map((t) => p.initiationSent(t, true, true));
    expect(seen).toEqual(['direct', 'direct', 'both', 'both']);
    expect(p.relayed).toBe(true);
    expect(p.dataPath(15_000, true, true)).toBe('relay');
    expect(p.nextDeadline()).toBe(15_000 + DIRECT_PROBE_INTERVAL_MS);
    expect(p.probeDue(15_000 + DIRECT_PROBE_INTERVAL_MS - 1)).toBe(false);
    expect(p.probeDue(15_000 + DIRECT_PROBE_INTERVAL_MS)).toBe(true);
    expect(p.probeDue(15_000 + DIRECT_PROBE_INTERVAL_MS)).toBe(false); // once
    expect(p.dataPath(40_000, true, true)).toBe('relay'); // traffic re-arms the probe
    expect(p.nextDeadline()).toBe(40_000 + DIRECT_PROBE_INTERVAL_MS);
  });

  it('an answer on the direct path resets the count of unanswered initiations', () => {
    const p = new PeerPath();
    p.initiationSent(0, true, true);
    p.directAuthenticatedReceived(100);
    expect(p.initiationSent(5000, true, true)).toBe('direct');
    expect(p.initiationSent(10_000, true, true)).toBe('direct');
    expect(p.initiationSent(15_000, true, true)).toBe('both');
  });

  it('a peer without an endpoint uses the relay and is never probed', () => {
    const p = new PeerPath();
    expect(p.initiationSent(0, true, false)).toBe('relay');
    expect(p.dataPath(0, true, false)).toBe('relay');
    p.relayAuthenticatedReceived(0, false);
    expect(p.nextDeadline()).toBeUndefined();
  });

  it('a relayed packet moves the peer only when no direct packet came within DIRECT_PATH_TIMEOUT', () => {
    const p = new PeerPath();
    p.directAuthenticatedReceived(1000);
    p.relayAuthenticatedReceived(1000 + DIRECT_PATH_TIMEOUT_MS - 1, true);
    expect(p.relayed).toBe(false);
    p.relayAuthenticatedReceived(1000 + DIRECT_PATH_TIMEOUT_MS, true);
    expect(p.relayed).toBe(true);
    p.directAuthenticatedReceived(50_000); // direct always wins back
    expect(p.relayed).toBe(false);
    expect(p.nextDeadline()).toBeUndefined();
  });

  it('turning the relay off returns to direct', () => {
    const p = new PeerPath();
    p.relayAuthenticatedReceived(0, true);
    expect(p.relayed).toBe(true);
    p.relayDisabled();
    expect(p.relayed).toBe(false);
    expect(p.dataPath(0, false, true)).toBe('direct');
  });

  it('relaySourceMatches: UDP sources always, DERP sources only with the peer key', () => {
    const k = new Uint8Array(32).fill(7);
    expect(relaySourceMatches({ family: 4, address: '192.0.2.1', port: 1 }, k)).toBe(true);
    expect(relaySourceMatches({ family: 'derp', publicKey: k.slice() }, k)).toBe(true);
    const other = k.slice();
    other[31] = 8;
    expect(relaySourceMatches({ family: 'derp', publicKey: other }, k)).toBe(false);
    expect(relaySourceMatches({ family: 'derp', publicKey: k.subarray(0, 31) }, k)).toBe(false);
  });
});
