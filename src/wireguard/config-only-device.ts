/**
 * A `DeviceCore` that keeps configuration and answers status, with no data path: every packet
 * is dropped. It lets the daemon's control plane (UAPI, `wg`, `wg-quick`) run and be tested
 * on its own; the real core is `Device` (device.ts).
 */
import { constantTimeEqual, isAllZero } from '../runtime/bytes.js';
import type { MonotonicMs } from '../runtime/clock.js';
import { publicKeyOf } from './crypto.js';
import type { DeviceConfigChange, DeviceCore, DeviceOutput, DeviceStatus, Endpoint, IpPrefix, PeerStatus } from './device-api.js';

interface PeerState {
  publicKey: Uint8Array;
  presharedKey: Uint8Array;
  endpoint: Endpoint | undefined;
  persistentKeepaliveIntervalS: number;
  allowedIps: IpPrefix[];
}

function samePrefix(a: IpPrefix, b: IpPrefix): boolean {
  return a.family === b.family && a.bits === b.bits && constantTimeEqual(a.address, b.address);
}

export class ConfigOnlyDevice implements DeviceCore {
  #privateKey: Uint8Array | undefined;
  #publicKey: Uint8Array | undefined;
  #peers: PeerState[] = [];

  configure(change: DeviceConfigChange, _now: MonotonicMs): void {
    if (change.privateKey) {
      this.#privateKey = isAllZero(change.privateKey) ? undefined : change.privateKey.slice();
      this.#publicKey = this.#privateKey ? publicKeyOf(this.#privateKey) : undefined;
      const own = this.#publicKey;
      if (own) this.#peers = this.#peers.filter((p) => !constantTimeEqual(p.publicKey, own));
    }
    if (change.replacePeers) this.#peers = [];
    for (const pc of change.peers) {
      if (this.#publicKey && constantTimeEqual(pc.publicKey, this.#publicKey)) continue;
      let peer = this.#peers.find((p) => constantTimeEqual(p.publicKey, pc.publicKey));
      if (pc.remove) {
        this.#peers = this.#peers.filter((p) => p !== peer);
        continue;
      }
      if (!peer) {
        if (pc.updateOnly) continue;
        peer = { publicKey: pc.publicKey.slice(), presharedKey: new Uint8Array(32), endpoint: undefined, persistentKeepaliveIntervalS: 0, allowedIps: [] };
        this.#peers.push(peer);
      }
      if (pc.presharedKey) peer.presharedKey = pc.presharedKey.slice();
      if (pc.endpoint) peer.endpoint = pc.endpoint;
      if (pc.persistentKeepaliveIntervalS !== undefined) peer.persistentKeepaliveIntervalS = pc.persistentKeepaliveIntervalS;
      if (pc.replaceAllowedIps) peer.allowedIps = [];
      for (const a of pc.allowedIps) {
        // A prefix belongs to one peer only (cryptokey routing): moving it removes it elsewhere.
        for (const other of this.#peers) other.allowedIps = other.allowedIps.filter((b) => !samePrefix(a, b));
        peer.allowedIps.push(a);
      }
      for (const a of pc.removedAllowedIps) peer.allowedIps = peer.allowedIps.filter((b) => !samePrefix(a, b));
    }
  }

  status(_now: MonotonicMs): DeviceStatus {
    return {
      privateKey: this.#privateKey,
      publicKey: this.#publicKey,
      peers: this.#peers.map(
        (p): PeerStatus => ({ ...p, lastHandshakeWallMs: 0, rxBytes: 0n, txBytes: 0n, allowedIps: [...p.allowedIps] }),
      ),
    };
  }

  sendFromTun(_packet: Uint8Array, _now: MonotonicMs, out: DeviceOutput[]): void {
    out.push({ type: 'drop', reason: 'no-route' });
  }

  receiveFromNetwork(_datagram: Uint8Array, _from: Endpoint, _now: MonotonicMs, out: DeviceOutput[]): void {
    out.push({ type: 'drop', reason: 'unknown-type' });
  }

  poll(_now: MonotonicMs, _out: DeviceOutput[]): void {}

  nextDeadline(): MonotonicMs | undefined {
    return undefined;
  }
}
