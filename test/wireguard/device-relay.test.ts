import { describe, expect, it } from 'vitest';
import type { DeviceOutput } from '../../src/wireguard/device-api.js';
import { REKEY_TIMEOUT_MS } from '../../src/wireguard/constants.js';
import { DIRECT_PATH_TIMEOUT_MS, DIRECT_PROBE_INTERVAL_MS } from '../../src/wireguard/path.js';
import { ipPacket, keyPair, peerChange, prefix, sameBytes, TestNet, type TestNode } from './device-harness.js';

const EP_A = { family: 4, address: '192.0.2.1', port: 51820 } as const;
const EP_B = { family: 4, address: '192.0.2.2', port: 51820 } as const;

/** Two devices with a relay; `direct.ok` says whether UDP between them gets through. */
function relayedPair(seed = 7): { net: TestNet; a: TestNode; b: TestNode; direct: { ok: boolean } } {
  const net = new TestNet(seed);
  const a = net.addNode('a', EP_A);
  const b = net.addNode('b', EP_B);
  net.link(a, ['10.0.0.1/32'], b, ['10.0.0.2/32']);
  a.dev.setRelayEnabled(true);
  b.dev.setRelayEnabled(true);
  const direct = { ok: false };
  net.filter = () => direct.ok;
  return { net, a, b, direct };
}

/** Takes the datagram just queued (not yet delivered) off the network. */
function takeQueued(net: TestNet): Uint8Array {
  const q = net.queue.pop();
  if (q === undefined) throw new Error('nothing queued');
  return q.datagram;
}

function typeOf(d: Uint8Array): number {
  return d[0]!;
}

/** Sends one packet each way and runs the network; returns how many arrived. */
function pingPong(net: TestNet, a: TestNode, b: TestNode): number {
  const before = a.tun.length + b.tun.length;
  net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 56));
  net.run();
  net.send(b, ipPacket('10.0.0.2', '10.0.0.1', 56));
  net.run();
  return a.tun.length + b.tun.length - before;
}

describe('Device: DERP relay fallback', () => {
  it('without a relay, behaves as plain WireGuard: no relay outputs, initiations only to the endpoint', () => {
    const { net, a, b } = relayedPair();
    a.dev.setRelayEnabled(false);
    b.dev.setRelayEnabled(false);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 56));
    net.advance(4 * REKEY_TIMEOUT_MS);
    expect(a.relayed).toEqual([]);
    expect(a.sent.length).toBeGreaterThanOrEqual(4);
    expect(a.sent.every((s) => typeOf(s.datagram) === 1)).toBe(true);
    expect(b.tun).toEqual([]);
  });

  it('falls back to the relay after two unanswered direct initiations (2 x REKEY_TIMEOUT)', () => {
    const { net, a, b } = relayedPair();
    const p = ipPacket('10.0.0.1', '10.0.0.2', 56);
    net.send(a, p);
    net.run();
    expect(a.sent.map((s) => typeOf(s.datagram))).toEqual([1]);
    expect(a.relayed).toEqual([]);
    net.advance(REKEY_TIMEOUT_MS + 400); // first retransmit: still direct
    expect(a.relayed).toEqual([]);
    expect(a.sent).toHaveLength(2);
    net.advance(REKEY_TIMEOUT_MS + 400); // third initiation: relayed (and probed directly)
    expect(a.relayed.length).toBeGreaterThan(0);
    expect(sameBytes(a.relayed[0]!.to, b.publicKey)).toBe(true);
    expect(typeOf(a.relayed[0]!.datagram)).toBe(1);
    expect(sameBytes(b.tun[0], p)).toBe(true); // the staged packet went through the relay
    expect(a.dev.status(net.now).peers[0]!.relayed).toBe(true);
    // B moved to the relay on its own (no direct packet ever arrived) and answered through it.
    expect(b.dev.status(net.now).peers[0]!.relayed).toBe(true);
    expect(b.relayed.some((r) => typeOf(r.datagram) === 2)).toBe(true);
    // UAPI keeps showing the direct endpoint.
    expect(a.dev.status(net.now).peers[0]!.endpoint).toEqual(EP_B);
    expect(pingPong(net, a, b)).toBe(2);
  });

  it('reaches a peer that has no endpoint at all through the relay at once', () => {
    const net = new TestNet(3);
    const a = net.addNode('a', EP_A);
    const b = net.addNode('b', EP_B);
    a.dev.configure({ replacePeers: false, peers: [peerChange(b.publicKey, { allowedIps: [prefix('10.0.0.2/32')] })] }, net.now);
    b.dev.configure({ replacePeers: false, peers: [peerChange(a.publicKey, { allowedIps: [prefix('10.0.0.1/32')] })] }, net.now);
    const out: DeviceOutput[] = [];
    a.dev.sendFromTun(ipPacket('10.0.0.1', '10.0.0.2', 10), net.now, out);
    expect(out.map((o) => o.type)).toEqual(['drop']); // no relay yet: no-endpoint
    a.dev.setRelayEnabled(true);
    b.dev.setRelayEnabled(true);
    expect(pingPong(net, a, b)).toBe(2);
    expect(a.sent).toEqual([]);
    expect(b.sent).toEqual([]);
    expect(b.dev.status(net.now).peers[0]!.endpoint).toBeUndefined();
  });

  it('goes back to direct once UDP works again, and the relay goes quiet', () => {
    const { net, a, b, direct } = relayedPair();
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 56));
    net.advance(3 * REKEY_TIMEOUT_MS);
    expect(a.dev.status(net.now).peers[0]!.relayed).toBe(true);
    direct.ok = true;
    // Keep traffic flowing for a probe interval: the probe initiation gets a direct answer.
    for (let i = 0; i < 12 && a.dev.status(net.now).peers[0]!.relayed; i++) {
      pingPong(net, a, b);
      net.advance(1000);
    }
    expect(a.dev.status(net.now).peers[0]!.relayed).toBe(false);
    expect(b.dev.status(net.now).peers[0]!.relayed).toBe(false);
    const relayedBefore = a.relayed.length + b.relayed.length;
    const sentBefore = a.sent.length + b.sent.length;
    for (let i = 0; i < 5; i++) expect(pingPong(net, a, b)).toBe(2);
    expect(a.relayed.length + b.relayed.length).toBe(relayedBefore);
    expect(a.sent.length + b.sent.length).toBe(sentBefore + 10);
  });

  it('a relayed packet does not take the peer off a working direct path', () => {
    const { net, a, b, direct } = relayedPair();
    direct.ok = true;
    expect(pingPong(net, a, b)).toBe(2);
    expect(b.dev.status(net.now).peers[0]!.relayed).toBe(false);
    // Replay A's fresh transport message through the relay: authenticated, but direct works.
    const p = ipPacket('10.0.0.1', '10.0.0.2', 20);
    net.send(a, p);
    const data = takeQueued(net);
    net.receive(b, data, { family: 'derp', publicKey: a.publicKey });
    expect(b.dev.status(net.now).peers[0]!.relayed).toBe(false);
    expect(sameBytes(b.tun.at(-1), p)).toBe(true);
    // After DIRECT_PATH_TIMEOUT without direct traffic (keepalives included), a relayed packet does move it.
    net.advance(2 * DIRECT_PATH_TIMEOUT_MS);
    direct.ok = false;
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 20));
    const late = a.sent.at(-1)!.datagram;
    expect(typeOf(late)).toBe(4);
    net.receive(b, late, { family: 'derp', publicKey: a.publicKey });
    expect(b.dev.status(net.now).peers[0]!.relayed).toBe(true);
  });

  it('drops a relayed packet whose DERP source key is not the peer it authenticates as', () => {
    const { net, a, b, direct } = relayedPair();
    direct.ok = true;
    pingPong(net, a, b);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 20));
    const data = takeQueued(net);
    const tunBefore = b.tun.length;
    net.receive(b, data, { family: 'derp', publicKey: keyPair(net.rng).publicKey });
    expect(b.drops.at(-1)).toBe('relay-source-mismatch');
    expect(b.tun.length).toBe(tunBefore);
  });

  it('does not probe an idle relayed peer', () => {
    const { net, a, b } = relayedPair();
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 56));
    net.advance(3 * REKEY_TIMEOUT_MS);
    expect(a.dev.status(net.now).peers[0]!.relayed).toBe(true);
    net.advance(30_000); // let keepalives settle
    const before = a.sent.length + a.relayed.length + b.sent.length + b.relayed.length;
    net.advance(10 * DIRECT_PROBE_INTERVAL_MS);
    expect(a.sent.length + a.relayed.length + b.sent.length + b.relayed.length).toBe(before);
  });
});
