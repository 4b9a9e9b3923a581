/**
 * Mesh watcher state, sans-IO (derp.md §6; tailscale `cmd/derper/mesh.go`,
 * `derphttp.RunWatchConnectionLoop`).
 *
 * Every relay of a region holds one mesh client per sibling: it connects with the server's own
 * private key and the shared mesh key, sends WatchConns, and then learns from PeerPresent and
 * PeerGone which keys live on that sibling. For each such key it registers a packet forwarder
 * with the local relay core, so a local client's packet for that key goes to the sibling as a
 * ForwardPacket frame (one hop, never re-forwarded). When the mesh connection breaks, every
 * entry it registered is removed. A connection whose server key is our own is a self-connect
 * (`--mesh-with` may list ourselves) and is abandoned.
 *
 * This module only keeps the table and calls the registry; io/mesh.ts owns the connection.
 */
import { constantTimeEqual, toHex } from '../runtime/bytes.js';
import type { ClientMessage } from './client.js';
import type { NodePublicKey } from './protocol.js';

/** Routes a packet for a key that lives on a sibling (the relay core's forwarder interface). */
export interface PacketForwarder {
  forwardPacket(src: NodePublicKey, dst: NodePublicKey, packet: Uint8Array): void;
}

/** What the relay core offers the mesh (DerpServer's addPacketForwarder/removePacketForwarder). */
export interface ForwarderRegistry {
  addPacketForwarder(key: NodePublicKey, forwarder: PacketForwarder): void;
  removePacketForwarder(key: NodePublicKey, forwarder: PacketForwarder): void;
}

/** What handling one message did, for logs and tests. */
export type MeshUpdate =
  | { readonly type: 'added'; readonly peer: NodePublicKey }
  | { readonly type: 'removed'; readonly peer: NodePublicKey }
  | { readonly type: 'selfConnect' }
  | { readonly type: 'connected'; readonly cleared: number }
  | { readonly type: 'none' };

/** The peers one sibling has announced, mirrored into the relay's forwarder table. */
export class MeshPeerTable {
  readonly #registry: ForwarderRegistry;
  readonly #forwarder: PacketForwarder;
  readonly #ownKey: Uint8Array;
  readonly #peers = new Map<string, NodePublicKey>();
  #selfConnect = false;

  /**
   * @param registry the local relay core
   * @param forwarder writes ForwardPacket on this sibling's mesh connection
   * @param ownServerKey our relay's public key (to detect self-connects and skip our own key)
   */
  constructor(registry: ForwarderRegistry, forwarder: PacketForwarder, ownServerKey: Uint8Array) {
    this.#registry = registry;
    this.#forwarder = forwarder;
    this.#ownKey = ownServerKey;
  }

  /** Number of keys currently routed through this sibling. */
  get size(): number {
    return this.#peers.size;
  }
  /** True once the sibling turned out to be ourselves; the watcher should stop. */
  get isSelfConnect(): boolean {
    return this.#selfConnect;
  }
  /** Whether `peer` is currently announced by this sibling. */
  has(peer: Uint8Array): boolean {
    return this.#peers.has(toHex(peer));
  }

  /** Call for every message of the mesh client; returns what changed. */
  handle(m: ClientMessage): MeshUpdate {
    switch (m.type) {
      case 'serverInfo': {
        if (constantTimeEqual(m.serverKey, this.#ownKey)) {
          this.#selfConnect = true;
          this.clear();
          return { type: 'selfConnect' };
        }
        // A fresh connection replays the full set (the WatchConns flood); start clean.
        return { type: 'connected', cleared: this.clear() };
      }
      case 'peerPresent': {
        if (this.#selfConnect || constantTimeEqual(m.peer, this.#ownKey)) return { type: 'none' };
        const hex = toHex(m.peer);
        if (this.#peers.has(hex)) return { type: 'none' };
        const peer = m.peer.slice() as NodePublicKey;
        this.#peers.set(hex, peer);
        this.#registry.addPacketForwarder(peer, this.#forwarder);
        return { type: 'added', peer };
      }
      case 'peerGone': {
        const hex = toHex(m.peer);
        const peer = this.#peers.get(hex);
        if (!peer) return { type: 'none' };
        this.#peers.delete(hex);
        this.#registry.removePacketForwarder(peer, this.#forwarder);
        return { type: 'removed', peer };
      }
      case 'closed':
        this.clear();
        return { type: 'none' };
      default:
        return { type: 'none' };
    }
  }

  /** Removes every forwarder this sibling registered (its connection broke); returns how many. */
  clear(): number {
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    for (const p of peers) this.#registry.removePacketForwarder(p, this.#forwarder);
    return peers.length;
  }
}
