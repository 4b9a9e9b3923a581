/**
 * Transport packets per second through two sans-IO Devices: A.sendFromTun (route, pad, seal)
 * then B.receiveFromNetwork (index lookup, open, replay check, crypto-RP filter), at 64- and
 * 1420-byte inner packets. Cross-validates the delivered packet before timing.
 */
import { bench, crossValidate } from '../harness.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { generatePrivateKey, publicKeyOf } from '../../src/wireguard/crypto.js';
import { Device } from '../../src/wireguard/device.js';
import type { DeviceOutput, Endpoint, PeerConfigChange } from '../../src/wireguard/device-api.js';
import { Keypair } from '../../src/wireguard/keypair.js';

const clock = new ManualClock();
const rng = new SeededRng(1);
const EP_A: Endpoint = { family: 4, address: '192.0.2.1', port: 51820 };
const EP_B: Endpoint = { family: 4, address: '192.0.2.2', port: 51820 };

function key(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = generatePrivateKey(rng.fill(new Uint8Array(32)));
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}
function peer(publicKey: Uint8Array, endpoint: Endpoint, cidr: [number, number, number, number]): PeerConfigChange {
  return { publicKey, endpoint, remove: false, updateOnly: false, replaceAllowedIps: false, removedAllowedIps: [], allowedIps: [{ family: 4, address: Uint8Array.from(cidr), bits: 32 }] };
}

const ka = key();
const kb = key();
const a = new Device({ clock, rng: new SeededRng(2) });
const b = new Device({ clock, rng: new SeededRng(3) });
a.configure({ privateKey: ka.privateKey, replacePeers: false, peers: [peer(kb.publicKey, EP_B, [10, 0, 0, 2])] }, clock.monotonicMs());
b.configure({ privateKey: kb.privateKey, replacePeers: false, peers: [peer(ka.publicKey, EP_A, [10, 0, 0, 1])] }, clock.monotonicMs());

function ipv4(len: number): Uint8Array {
  const p = new Uint8Array(len).fill(0x5a);
  p.set([0x45, 0, len >> 8, len & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
  return p;
}

// Handshake: A's first packet is staged behind an initiation; ping-pong until B delivers it.
const outA: DeviceOutput[] = [];
const outB: DeviceOutput[] = [];
function pump(from: DeviceOutput[], to: Device, src: Endpoint, back: DeviceOutput[]): void {
  const msgs = from.filter((o) => o.type === 'toNetwork').map((o) => (o.type === 'toNetwork' ? o.datagram.slice() : new Uint8Array()));
  from.length = 0;
  for (const m of msgs) to.receiveFromNetwork(m, src, clock.monotonicMs(), back);
}
a.sendFromTun(ipv4(64), clock.monotonicMs(), outA);
for (let i = 0; i < 4; i++) {
  pump(outA, b, EP_A, outB);
  pump(outB, a, EP_B, outA);
}

for (const size of [64, 1420]) {
  const packet = ipv4(size);
  // Cross-validate: what B writes to its TUN is exactly what A read from its TUN.
  outA.length = 0;
  outB.length = 0;
  a.sendFromTun(packet, clock.monotonicMs(), outA);
  const d = outA[0];
  if (d?.type !== 'toNetwork') throw new Error(`bench setup: expected a datagram, got ${JSON.stringify(d)}`);
  b.receiveFromNetwork(d.datagram, EP_A, clock.monotonicMs(), outB);
  const t = outB[0];
  if (t?.type !== 'toTun') throw new Error(`bench setup: expected a TUN packet, got ${JSON.stringify(outB[0])}`);
  crossValidate(`device ${size}B`, t.packet, packet);

  // The same seal + open on bare keypairs: what the device adds on top is routing, timers and counters.
  const k1 = rng.fill(new Uint8Array(32));
  const k2 = rng.fill(new Uint8Array(32));
  const kpA = new Keypair({ sendKey: k1, receiveKey: k2, localIndex: 1, remoteIndex: 2, isInitiator: true }, clock.monotonicMs());
  const kpB = new Keypair({ sendKey: k2, receiveKey: k1, localIndex: 2, remoteIndex: 1, isInitiator: false }, clock.monotonicMs());
  const wire = new Uint8Array(size + 64);
  let counter = 0n;
  const n = kpA.encrypt(packet, 1420, wire, clock.monotonicMs());
  crossValidate(`keypair ${size}B`, (kpB.decrypt(wire.subarray(0, n), counter++, clock.monotonicMs()) as Uint8Array).subarray(0, size), packet);
  bench(`wireguard keypair encrypt+decrypt ${size}B`, () => {
    const len = kpA.encrypt(packet, 1420, wire, clock.monotonicMs());
    kpB.decrypt(wire.subarray(0, len), counter++, clock.monotonicMs());
  }, { bytesPerOp: size });

  bench(`wireguard device sendFromTun ${size}B`, () => {
    outA.length = 0;
    a.sendFromTun(packet, clock.monotonicMs(), outA);
  }, { bytesPerOp: size });

  bench(`wireguard device send+receive ${size}B`, () => {
    outA.length = 0;
    outB.length = 0;
    a.sendFromTun(packet, clock.monotonicMs(), outA);
    const o = outA[0] as { datagram: Uint8Array };
    b.receiveFromNetwork(o.datagram, EP_A, clock.monotonicMs(), outB);
  }, { bytesPerOp: size });
}
