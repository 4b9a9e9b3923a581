import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Device } from '../../src/wireguard/device.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { ManualClock } from '../../src/runtime/clock.js';
import type { DeviceOutput } from '../../src/wireguard/device-api.js';
import { KEEPALIVE_TIMEOUT_MS, MAX_STAGED_PACKETS, REJECT_AFTER_TIME_MS, REKEY_AFTER_TIME_MS, REKEY_TIMEOUT_MS } from '../../src/wireguard/constants.js';
import { ipPacket, keyPair, peerChange, prefix, sameBytes, TestNet, type TestNode } from './device-harness.js';

const EP_A = { family: 4, address: '192.0.2.1', port: 51820 } as const;
const EP_B = { family: 4, address: '192.0.2.2', port: 51820 } as const;
const EP_C = { family: 6, address: '2001:db8::3', port: 51820 } as const;

function pair(seed = 1, bOptions = {}): { net: TestNet; a: TestNode; b: TestNode } {
  const net = new TestNet(seed);
  const a = net.addNode('a', EP_A);
  const b = net.addNode('b', EP_B, bOptions);
  net.link(a, ['10.0.0.1/32', 'fd00::1/128'], b, ['10.0.0.2/32', 'fd00::2/128']);
  return { net, a, b };
}

function typeOf(d: Uint8Array): number {
  return d[0]!;
}

describe('Device: two peers in memory', () => {
  it('completes a handshake and carries IPv4 and IPv6 data both ways', () => {
    const { net, a, b } = pair();
    const p1 = ipPacket('10.0.0.1', '10.0.0.2', 100);
    net.send(a, p1);
    expect(a.sent.map((s) => typeOf(s.datagram))).toEqual([1]); // staged; initiation goes out
    net.run();
    expect(b.tun).toHaveLength(1);
    expect(sameBytes(b.tun[0], p1)).toBe(true);
    const p2 = ipPacket('fd00::2', 'fd00::1', 333);
    net.send(b, p2);
    const p3 = ipPacket('10.0.0.2', '10.0.0.1', 0);
    net.send(b, p3);
    net.run();
    expect(a.tun.map((p) => p.length)).toEqual([p2.length, p3.length]);
    expect(sameBytes(a.tun[0], p2)).toBe(true);
    expect(sameBytes(a.tun[1], p3)).toBe(true);
    net.send(a, ipPacket('fd00::1', 'fd00::2', 1380));
    net.run();
    expect(b.tun.map((p) => p.length)).toEqual([120, 1420]);
    // Wire-level checks: padding to 16 (capped at the MTU) and counters.
    const dataFromA = a.sent.filter((s) => typeOf(s.datagram) === 4).map((s) => s.datagram.length);
    expect(dataFromA).toEqual([32 + 128, 32 + 1420]);
    expect(a.drops).toEqual([]);
    expect(b.drops).toEqual([]);
    // rx/tx count WireGuard message bytes, and each side's tx is the other's rx.
    const sa = a.dev.status(net.now).peers[0]!;
    const sb = b.dev.status(net.now).peers[0]!;
    expect(sa.txBytes).toBe(sb.rxBytes);
    expect(sb.txBytes).toBe(sa.rxBytes);
    expect(sa.txBytes).toBe(BigInt(148 + 160 + 1452));
    expect(sa.lastHandshakeWallMs).toBe(net.clock.wallTimeMs());
    expect(sb.lastHandshakeWallMs).toBe(net.clock.wallTimeMs());
    expect(sb.endpoint).toEqual(EP_A);
  });

  it('rekeys after REKEY_AFTER_TIME without losing a packet, even with reordering', () => {
    const { net, a, b } = pair(2);
    net.reorderWindow = 3;
    const indices = new Set<number>();
    let sentA = 0;
    let sentB = 0;
    for (let t = 0; t < 400; t++) {
      net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 64, t & 0xff));
      sentA++;
      net.run();
      net.send(b, ipPacket('10.0.0.2', '10.0.0.1', 64, t & 0xff));
      sentB++;
      net.run();
      const cur = a.dev.peer(b.publicKey)!.keypairs.current;
      if (cur) indices.add(cur.localIndex);
      net.advance(1000);
    }
    expect(b.tun.length).toBe(sentA);
    expect(a.tun.length).toBe(sentB);
    expect(a.drops.filter((d) => d !== 'replayed-counter')).toEqual([]);
    expect(b.drops.filter((d) => d !== 'replayed-counter')).toEqual([]);
    // 400 s of traffic: a rehandshake at least every REKEY_AFTER_TIME.
    expect(indices.size).toBeGreaterThanOrEqual(Math.floor(400_000 / REKEY_AFTER_TIME_MS));
  });

  it('still decrypts a packet sent under the previous keypair after a rekey', () => {
    const { net, a, b } = pair(19);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    net.filter = ({ from }) => from !== b;
    const late = ipPacket('10.0.0.2', '10.0.0.1', 30, 0x77);
    net.send(b, late); // encrypted under the first keypair, held back
    const held = b.sent.at(-1)!.datagram;
    net.filter = () => true;
    const first = a.dev.peer(b.publicKey)!.keypairs.current!;
    net.clock.advance(REKEY_AFTER_TIME_MS + 1);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10)); // a is the initiator: rekeys on send
    net.run();
    const ka = a.dev.peer(b.publicKey)!.keypairs;
    expect(ka.current).not.toBe(first);
    expect(ka.previous).toBe(first);
    net.receive(a, held, EP_B);
    expect(sameBytes(a.tun.at(-1), late)).toBe(true);
    expect(a.drops).toEqual([]);
  });

  it('never sends with a keypair older than REJECT_AFTER_TIME: data is staged behind a new handshake', () => {
    const { net, a, b } = pair(3);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    // Hold one packet encrypted under the first keypair.
    net.filter = () => false;
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    const held = a.sent.at(-1)!.datagram;
    expect(typeOf(held)).toBe(4);
    net.filter = () => true;
    net.advance(REJECT_AFTER_TIME_MS + 1000);
    const before = a.sent.length;
    const p = ipPacket('10.0.0.1', '10.0.0.2', 20, 7);
    net.send(a, p);
    expect(a.sent.slice(before).map((s) => typeOf(s.datagram))).toEqual([1]);
    expect(a.dev.peer(b.publicKey)!.stagedCount).toBe(1);
    net.run();
    expect(sameBytes(b.tun.at(-1), p)).toBe(true);
    // The held packet under the expired keypair: the keypair is gone (index unknown) or expired.
    net.receive(b, held, EP_A);
    expect(['expired-keypair', 'unknown-index']).toContain(b.drops.at(-1));
  });

  it('rejects transport data on a keypair past REJECT_AFTER_TIME on receive', () => {
    const { net, a, b } = pair(4);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    net.filter = () => false;
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    const held = a.sent.at(-1)!.datagram;
    net.clock.advance(REJECT_AFTER_TIME_MS); // no polls: the keypair still exists, but is too old
    net.receive(b, held, EP_A);
    expect(b.drops).toEqual(['expired-keypair']);
  });

  it('a wrong preshared key or public key never completes a handshake', () => {
    const rng = new SeededRng(9);
    const psk1 = rng.fill(new Uint8Array(32));
    const psk2 = rng.fill(new Uint8Array(32));
    const net = new TestNet(5);
    const a = net.addNode('a', EP_A);
    const b = net.addNode('b', EP_B);
    net.link(a, ['10.0.0.1/32'], b, ['10.0.0.2/32'], { presharedKey: psk1 }, { presharedKey: psk2 });
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    net.advance(30_000);
    expect(b.tun).toEqual([]);
    expect(a.drops).toContain('decrypt-failed');
    expect(a.dev.status(net.now).peers[0]!.lastHandshakeWallMs).toBe(0);

    const c = net.addNode('c', EP_C);
    const wrong = keyPair(rng).publicKey; // c believes b has this key
    c.dev.configure({ replacePeers: false, peers: [peerChange(wrong, { endpoint: EP_B, allowedIps: [prefix('10.0.0.2/32')] })] }, net.now);
    b.dev.configure({ replacePeers: false, peers: [peerChange(c.publicKey, { allowedIps: [prefix('10.0.0.3/32')] })] }, net.now);
    b.drops.length = 0;
    net.send(c, ipPacket('10.0.0.3', '10.0.0.2', 10));
    net.run();
    net.advance(30_000);
    expect(b.drops.length).toBeGreaterThan(0);
    expect(new Set(b.drops)).toEqual(new Set(['bad-mac1']));
    expect(b.tun).toEqual([]);
  });

  it('rejects replayed transport data and a replayed initiation', () => {
    const { net, a, b } = pair(6);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    const initiation = a.sent.find((s) => typeOf(s.datagram) === 1)!.datagram;
    const data = a.sent.find((s) => typeOf(s.datagram) === 4)!.datagram;
    expect(b.tun).toHaveLength(1);
    net.receive(b, data, EP_A);
    expect(b.drops).toEqual(['replayed-counter']);
    net.clock.advance(1000);
    net.receive(b, initiation, EP_A);
    expect(b.drops).toEqual(['replayed-counter', 'stale-timestamp']);
    expect(b.tun).toHaveLength(1);
  });

  it('under load, answers an initiation without mac2 with a cookie reply, then accepts the retry carrying mac2', () => {
    const { net, a, b } = pair(7, { underLoadHandshakesPerSecond: 0 });
    const p = ipPacket('10.0.0.1', '10.0.0.2', 10);
    net.send(a, p);
    net.run();
    expect(b.drops).toEqual(['under-load-no-cookie']);
    expect(b.sent.map((s) => s.datagram.length)).toEqual([64]);
    expect(b.tun).toEqual([]);
    // The cookie reply neither retransmits nor roams: a still has only its first initiation out.
    expect(a.sent.map((s) => typeOf(s.datagram))).toEqual([1]);
    net.advance(REKEY_TIMEOUT_MS + 400);
    expect(b.tun).toHaveLength(1);
    expect(sameBytes(b.tun[0], p)).toBe(true);
    expect(b.drops).toEqual(['under-load-no-cookie']);
  });

  it('not under load by default: a handful of handshakes needs no cookie', () => {
    const { net, a, b } = pair(8);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    expect(b.dev.isUnderLoad(net.now)).toBe(false);
    expect(b.tun).toHaveLength(1);
  });

  it('roams: replies follow the endpoint of the last authenticated packet', () => {
    const { net, a, b } = pair(10);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    a.endpoint = { family: 6, address: '2001:db8::a', port: 4000 };
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    expect(b.dev.status(net.now).peers[0]!.endpoint).toEqual(a.endpoint);
    net.send(b, ipPacket('10.0.0.2', '10.0.0.1', 10));
    expect(b.sent.at(-1)!.to).toEqual(a.endpoint);
    net.run();
    expect(a.tun).toHaveLength(1);
  });

  it('drops a decrypted packet whose inner source is not in the sender\'s allowed IPs', () => {
    const { net, a, b } = pair(11);
    a.dev.configure({ replacePeers: false, peers: [peerChange(b.publicKey, { allowedIps: [prefix('10.9.0.0/16')] })] }, net.now);
    net.send(a, ipPacket('10.0.0.99', '10.9.1.1', 10));
    net.run();
    expect(b.tun).toEqual([]);
    expect(b.drops).toEqual(['disallowed-source']);
  });

  it('routes to several peers by longest-prefix match on the destination', () => {
    const net = new TestNet(12);
    const a = net.addNode('a', EP_A);
    const b = net.addNode('b', EP_B);
    const c = net.addNode('c', EP_C);
    net.link(a, ['10.0.0.1/32'], b, ['10.0.0.0/8']);
    net.link(a, ['10.0.0.1/32'], c, ['10.5.0.0/16', 'fd05::/16']);
    for (const [dst, to] of [['10.1.2.3', b], ['10.5.2.3', c], ['10.6.0.1', b], ['fd05::9', c]] as const) {
      net.send(a, ipPacket(dst.includes(':') ? 'fd00::1' : '10.0.0.1', dst, 10));
      net.run();
      expect(to.tun.length, dst).toBeGreaterThan(0);
    }
    expect(b.tun).toHaveLength(2);
    expect(c.tun).toHaveLength(1); // c does not allow fd00::1 as a source...
    expect(c.drops).toEqual(['disallowed-source']); // ...so its crypto-RP filter drops it
    expect(a.drops).toEqual([]);
    net.send(a, ipPacket('10.0.0.1', '192.168.1.1', 10));
    expect(a.drops).toEqual(['no-route']);
  });

  it(`caps the staged queue at ${MAX_STAGED_PACKETS}, dropping the oldest`, () => {
    const { net, a, b } = pair(13);
    net.filter = () => false; // b unreachable
    for (let i = 0; i < 200; i++) net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 4, i));
    const peer = a.dev.peer(b.publicKey)!;
    expect(peer.stagedCount).toBe(MAX_STAGED_PACKETS);
    expect(peer.stagedDropped).toBe(200 - MAX_STAGED_PACKETS);
    expect(a.drops.filter((d) => d === 'queue-full')).toHaveLength(200 - MAX_STAGED_PACKETS);
    net.filter = () => true;
    net.advance(REKEY_TIMEOUT_MS + 400); // the retransmitted initiation gets through
    expect(b.tun).toHaveLength(MAX_STAGED_PACKETS);
    expect(b.tun[0]![20]).toBe(200 - MAX_STAGED_PACKETS); // the oldest surviving packet first
  });

  it('gives up after 20 initiations and drops the staged packets', () => {
    const { net, a } = pair(14);
    net.filter = () => false;
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 4));
    net.advance(120_000);
    expect(a.sent.filter((s) => typeOf(s.datagram) === 1)).toHaveLength(20);
    expect(a.drops).toContain('handshake-timeout');
  });

  it('sends a passive keepalive KEEPALIVE_TIMEOUT after receiving data it did not answer', () => {
    const { net, a, b } = pair(15);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    const before = b.sent.length;
    net.advance(KEEPALIVE_TIMEOUT_MS + 1);
    expect(b.sent.slice(before).map((s) => s.datagram.length)).toEqual([32]);
  });

  it('starts a new handshake when data sent for KEEPALIVE + REKEY_TIMEOUT got no answer', () => {
    const { net, a, b } = pair(17);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    net.filter = ({ from }) => from !== b; // b goes silent
    net.advance(1000);
    const before = a.sent.length;
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.advance(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS - 1);
    expect(a.sent.slice(before).map((s) => typeOf(s.datagram))).toEqual([4]);
    net.advance(400); // + jitter < 334 ms
    expect(a.sent.slice(before).map((s) => typeOf(s.datagram))).toEqual([4, 1]);
  });

  it('the responder sends nothing under a new keypair before key confirmation', () => {
    const { net, a, b } = pair(18);
    net.filter = ({ from, datagram }) => !(from === a && datagram[0] === 4); // a's confirmation is lost
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    expect(a.dev.peer(b.publicKey)!.keypairs.current).toBeDefined();
    const bp = b.dev.peer(a.publicKey)!;
    expect(bp.keypairs.current).toBeUndefined();
    expect(bp.keypairs.next).toBeDefined();
    const before = b.sent.length;
    net.send(b, ipPacket('10.0.0.2', '10.0.0.1', 10));
    expect(b.sent.slice(before).map((s) => typeOf(s.datagram))).toEqual([1]); // staged behind its own initiation
    expect(bp.stagedCount).toBe(1);
    net.filter = () => true;
    net.run();
    expect(a.tun).toHaveLength(1);
  });

  it('polls 1000 peers by deadline, not by scanning', () => {
    const net = new TestNet(16);
    const a = net.addNode('a', EP_A);
    const rng = new SeededRng(1616); // not the TestNet seed: that would regenerate a's own key
    const peers = Array.from({ length: 1000 }, (_, i) =>
      peerChange(keyPair(rng).publicKey, { endpoint: { family: 4, address: `198.51.100.${i % 250}`, port: 1000 + i }, allowedIps: [prefix(`10.${i >> 8}.${i & 0xff}.0/24`)], persistentKeepaliveIntervalS: 25 }));
    a.dev.configure({ replacePeers: false, peers }, net.now);
    // Each peer owes one keepalive now (persistent keepalive switched on) -> 1000 initiations.
    expect(a.dev.nextDeadline()).toBe(net.now);
    const out: DeviceOutput[] = [];
    a.dev.poll(net.now, out);
    expect(out.filter((o) => o.type === 'toNetwork')).toHaveLength(1000);
    expect(a.dev.nextDeadline()).toBeGreaterThan(net.now);
  });
});

describe('Device: untrusted input never throws', () => {
  it('receiveFromNetwork and sendFromTun accept arbitrary bytes', () => {
    const { net, a, b } = pair(20);
    net.send(a, ipPacket('10.0.0.1', '10.0.0.2', 10));
    net.run();
    const index = b.sent.find((s) => typeOf(s.datagram) === 2)!.datagram.subarray(4, 8); // b's index: a sends to it
    const out: DeviceOutput[] = [];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(0, 1, 2, 3, 4), fc.boolean(), (bytes, type, useIndex) => {
        const d = Uint8Array.from(bytes);
        if (type > 0 && d.length >= 4) d.set([type, 0, 0, 0]);
        if (useIndex && d.length >= 8) d.set(index, 4);
        out.length = 0;
        b.dev.receiveFromNetwork(d, EP_A, net.now, out);
        a.dev.sendFromTun(d, net.now, out);
        if (d.length > 0) d[0] = (d[0]! & 0x0f) | 0x40;
        a.dev.sendFromTun(d, net.now, out);
        if (d.length > 0) d[0] = (d[0]! & 0x0f) | 0x60;
        a.dev.sendFromTun(d, net.now, out);
        for (const o of out) expect(['drop', 'toNetwork', 'toTun']).toContain(o.type);
      }),
      { numRuns: 500 },
    );
  });

  it('a device without a private key drops handshakes and never throws', () => {
    const dev = new Device({ clock: new ManualClock(), rng: new SeededRng(1) });
    const out: DeviceOutput[] = [];
    dev.receiveFromNetwork(new Uint8Array(148).fill(0).fill(1, 0, 1), EP_A, 0, out);
    dev.sendFromTun(ipPacket('10.0.0.1', '10.0.0.2', 1), 0, out);
    expect(out).toEqual([{ type: 'drop', reason: 'no-private-key' }, { type: 'drop', reason: 'no-route' }]);
  });
});
