import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { TsplaneError } from '../../src/runtime/errors.js';
import { Device } from '../../src/wireguard/device.js';
import type { DeviceConfigChange, DeviceOutput, PeerConfigChange } from '../../src/wireguard/device-api.js';
import { ipPacket, keyPair, peerChange, prefix } from './device-harness.js';

const rng = new SeededRng(42);
const me = keyPair(rng);
const [p1, p2, p3] = [keyPair(rng), keyPair(rng), keyPair(rng)];
const NAMES = new Map([[toHex(p1.publicKey), 'p1'], [toHex(p2.publicKey), 'p2'], [toHex(p3.publicKey), 'p3'], [toHex(me.publicKey), 'me']]);
const EP = { family: 4, address: '192.0.2.9', port: 51820 } as const;

function fresh(): Device {
  const dev = new Device({ clock: new ManualClock(), rng: new SeededRng(1) });
  dev.configure({
    privateKey: me.privateKey,
    replacePeers: false,
    peers: [
      peerChange(p1.publicKey, { allowedIps: [prefix('10.1.0.0/16')] }),
      peerChange(p2.publicKey, { allowedIps: [prefix('10.2.0.0/16'), prefix('fd02::/16')], endpoint: EP }),
    ],
  }, 0);
  return dev;
}

/** The device as text: "name:prefix,prefix" per peer, in order. */
function summary(dev: Device): string[] {
  return dev.status(0).peers.map((p) => {
    const ips = p.allowedIps.map((a) => `${a.family === 4 ? Array.from(a.address).join('.') : toHex(a.address).slice(0, 4)}/${a.bits}`);
    return `${NAMES.get(toHex(p.publicKey))}:${ips.join(',')}`;
  });
}

function change(peers: PeerConfigChange[], extra: Partial<DeviceConfigChange> = {}): DeviceConfigChange {
  return { replacePeers: false, peers, ...extra };
}

describe('Device.configure: wg-go UAPI set semantics', () => {
  const cases: [string, DeviceConfigChange, string[]][] = [
    ['no change', change([]), ['p1:10.1.0.0/16', 'p2:10.2.0.0/16,fd02/16']],
    ['replace_peers removes every peer first', change([peerChange(p3.publicKey)], { replacePeers: true }), ['p3:']],
    ['remove=true deletes the peer and ignores the rest of its section',
      change([peerChange(p1.publicKey, { remove: true, allowedIps: [prefix('10.9.0.0/16')] })]), ['p2:10.2.0.0/16,fd02/16']],
    ['remove=true of an unknown peer is a no-op', change([peerChange(p3.publicKey, { remove: true })]), ['p1:10.1.0.0/16', 'p2:10.2.0.0/16,fd02/16']],
    ['update_only does not create a peer', change([peerChange(p3.publicKey, { updateOnly: true, allowedIps: [prefix('10.3.0.0/16')] })]),
      ['p1:10.1.0.0/16', 'p2:10.2.0.0/16,fd02/16']],
    ['update_only updates an existing peer', change([peerChange(p1.publicKey, { updateOnly: true, allowedIps: [prefix('10.3.0.0/16')] })]),
      ['p1:10.1.0.0/16,10.3.0.0/16', 'p2:10.2.0.0/16,fd02/16']],
    ['allowed_ip adds to the existing prefixes', change([peerChange(p2.publicKey, { allowedIps: [prefix('10.22.0.0/16')] })]),
      ['p1:10.1.0.0/16', 'p2:10.2.0.0/16,10.22.0.0/16,fd02/16']],
    ['replace_allowed_ips clears before adding', change([peerChange(p2.publicKey, { replaceAllowedIps: true, allowedIps: [prefix('10.22.0.0/16')] })]),
      ['p1:10.1.0.0/16', 'p2:10.22.0.0/16']],
    ['allowed_ip=-PREFIX removes just that prefix', change([peerChange(p2.publicKey, { removedAllowedIps: [prefix('fd02::/16')] })]),
      ['p1:10.1.0.0/16', 'p2:10.2.0.0/16']],
    ['a prefix given to another peer moves to it', change([peerChange(p3.publicKey, { allowedIps: [prefix('10.1.0.0/16')] })]),
      ['p1:', 'p2:10.2.0.0/16,fd02/16', 'p3:10.1.0.0/16']],
    ['a peer with our own public key is ignored', change([peerChange(me.publicKey, { allowedIps: [prefix('10.7.0.0/16')] })]),
      ['p1:10.1.0.0/16', 'p2:10.2.0.0/16,fd02/16']],
    ['a private key whose public key is a peer\'s removes that peer', change([], { privateKey: p1.privateKey }), ['p2:10.2.0.0/16,fd02/16']],
  ];
  it.each(cases)('%s', (_name, c, expected) => {
    const dev = fresh();
    dev.configure(c, 0);
    expect(summary(dev)).toEqual(expected);
  });

  it('an all-zero private key removes the key', () => {
    const dev = fresh();
    expect(dev.status(0).privateKey).toEqual(me.privateKey);
    dev.configure(change([], { privateKey: new Uint8Array(32) }), 0);
    expect(dev.status(0).privateKey).toBeUndefined();
    expect(dev.publicKey).toBeUndefined();
    const out: DeviceOutput[] = [];
    dev.receiveFromNetwork(new Uint8Array(148).fill(1, 0, 1), EP, 0, out);
    expect(out).toEqual([{ type: 'drop', reason: 'no-private-key' }]);
  });

  it('clamps the private key as the kernel does', () => {
    const raw = new Uint8Array(32).fill(0xff);
    const dev = fresh();
    dev.configure(change([], { privateKey: raw }), 0);
    const k = dev.status(0).privateKey!;
    expect(k[0]).toBe(0xf8);
    expect(k[31]).toBe(0x7f);
  });

  it('sets and clears the preshared key (all-zero = none) and the keepalive interval', () => {
    const dev = fresh();
    const psk = new Uint8Array(32).fill(7);
    dev.configure(change([peerChange(p1.publicKey, { presharedKey: psk, persistentKeepaliveIntervalS: 25 })]), 0);
    let s = dev.status(0).peers[0]!;
    expect(s.presharedKey).toEqual(psk);
    expect(s.persistentKeepaliveIntervalS).toBe(25);
    dev.configure(change([peerChange(p1.publicKey, { presharedKey: new Uint8Array(32), persistentKeepaliveIntervalS: 0 })]), 0);
    s = dev.status(0).peers[0]!;
    expect(s.presharedKey).toEqual(new Uint8Array(32));
    expect(s.persistentKeepaliveIntervalS).toBe(0);
  });

  it('turning persistent keepalive on sends at once (here: the initiation a keepalive needs)', () => {
    const dev = fresh();
    expect(dev.nextDeadline()).toBeUndefined();
    dev.configure(change([peerChange(p2.publicKey, { persistentKeepaliveIntervalS: 25 })]), 500);
    expect(dev.nextDeadline()).toBe(500);
    const out: DeviceOutput[] = [];
    dev.poll(500, out);
    expect(out.map((o) => (o.type === 'toNetwork' ? `${o.datagram[0]}->${o.endpoint.address}` : o.type))).toEqual(['1->192.0.2.9']);
  });

  const invalid: [string, DeviceConfigChange][] = [
    ['a 31-byte private key', change([], { privateKey: new Uint8Array(31) })],
    ['a short public key', change([peerChange(new Uint8Array(5))])],
    ['a short preshared key', change([peerChange(p3.publicKey, { presharedKey: new Uint8Array(16) })])],
    ['a keepalive above 65535', change([peerChange(p3.publicKey, { persistentKeepaliveIntervalS: 65_536 })])],
    ['an IPv4 prefix longer than 32', change([peerChange(p3.publicKey, { allowedIps: [{ family: 4, address: new Uint8Array(4), bits: 33 }] })])],
    ['an endpoint that is not numeric', change([peerChange(p3.publicKey, { endpoint: { family: 4, address: 'example.com', port: 1 } })])],
    ['an endpoint port out of range', change([peerChange(p3.publicKey, { endpoint: { family: 4, address: '192.0.2.1', port: 70_000 } })])],
  ];
  it.each(invalid)('rejects %s with WG_ERR_INVALID_CONFIG and changes nothing', (_name, bad) => {
    const dev = fresh();
    // A valid first section that must not be applied when a later part is invalid.
    const c: DeviceConfigChange = { ...bad, replacePeers: true, peers: [peerChange(p3.publicKey), ...bad.peers] };
    let err: unknown;
    try {
      dev.configure(c, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TsplaneError);
    expect((err as TsplaneError).code).toBe('WG_ERR_INVALID_CONFIG');
    expect(summary(dev)).toEqual(['p1:10.1.0.0/16', 'p2:10.2.0.0/16,fd02/16']);
    expect(dev.status(0).privateKey).toEqual(me.privateKey);
  });

  it('a removed peer no longer routes and its sessions are gone', () => {
    const dev = fresh();
    const out: DeviceOutput[] = [];
    dev.sendFromTun(ipPacket('10.0.0.1', '10.2.0.1', 8), 0, out);
    expect(out.map((o) => o.type)).toEqual(['toNetwork']);
    dev.configure(change([peerChange(p2.publicKey, { remove: true })]), 0);
    out.length = 0;
    dev.sendFromTun(ipPacket('10.0.0.1', '10.2.0.1', 8), 0, out);
    expect(out).toEqual([{ type: 'drop', reason: 'no-route' }]);
    expect(dev.nextDeadline()).toBeUndefined();
  });
});
