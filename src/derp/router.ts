/**
 * Who is reachable and how (derp.md §3.4–§3.8, §6): local clients by key with the duplicate
 * policy, watchers, mesh forwarders, and who received from whom (for PeerGone). Routes packets
 * into the recipients' bounded queues and marks clients whose output changed as dirty; the
 * server core flushes them. No I/O.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import { FrameType, encodeFrame } from './frame.js';
import { PeerGoneReason, encodePeerGone, encodePeerPresent, keyHex, looksLikeDisco, type NodePublicKey } from './protocol.js';
import { ClientRegistry } from './client-registry.js';
import { ForwarderTable, SentToIndex } from './mesh-routes.js';
import { Phase, RECV_PACKET_OVERHEAD_BYTES, type Client } from './server-conn.js';
import { DropReason, type DerpServerStats, type PacketKind } from './server-stats.js';

export class PacketRouter {
  readonly registry = new ClientRegistry<Client>();
  readonly watchers = new Set<Client>();
  readonly forwarders = new ForwarderTable();
  /** Recipients of each source, told PeerGone when the source leaves the region. */
  readonly #sentTo = new SentToIndex<Client>();
  readonly #stats: DerpServerStats;
  readonly #dirty: Set<Client>;
  readonly #now: () => MonotonicMs;

  constructor(stats: DerpServerStats, dirty: Set<Client>, now: () => MonotonicMs) {
    this.#stats = stats;
    this.#dirty = dirty;
    this.#now = now;
  }

  /** The routing gauges: keys here and via siblings, duplicates, watchers. */
  gauges(): { clientsLocal: number; clientsRemote: number; clientsTotal: number; currentDupClientKeys: number; currentDupClientConns: number; watchers: number } {
    let remote = 0;
    for (const hex of this.forwarders.keys()) if (!this.registry.has(hex)) remote++;
    const dup = this.registry.duplicates();
    return {
      clientsLocal: this.registry.size,
      clientsRemote: remote,
      clientsTotal: this.registry.size + remote,
      currentDupClientKeys: dup.keys,
      currentDupClientConns: dup.conns,
      watchers: this.watchers.size,
    };
  }

  /** WatchConns from a mesh peer: flood PeerPresent for every active key, then stream changes. */
  watch(c: Client): void {
    if (c.watching) return;
    c.watching = true;
    this.watchers.add(c);
    for (const set of this.registry.values()) {
      const a = set.active;
      if (a) this.#queueWatchUpdate(c, a.keyHex, encodeFrame(FrameType.PeerPresent, encodePeerPresent(a.key!, a.accept.remote, a.presentFlags())));
    }
  }

  /** A client finished its handshake: reachable now, announced to watchers. */
  register(c: Client): void {
    const { duplicate } = this.registry.add(c.keyHex, c);
    if (duplicate) this.#stats.totalDupClientConns++;
    this.#broadcastPresent(c);
  }

  /** A client left; its queued packets are counted as `queuedDrop`. */
  unregister(c: Client, queuedDrop: DropReason): void {
    for (const q of [c.discoPackets, c.packets]) {
      const kind: PacketKind = q === c.discoPackets ? 'disco' : 'other';
      for (const f of q.drain()) this.#stats.drop(queuedDrop, kind, f.length - RECV_PACKET_OVERHEAD_BYTES);
    }
    if (c.watching) this.watchers.delete(c);
    if (c.preferred) this.#stats.homeMovesOut++;
    const { remaining, newActive } = this.registry.remove(c.keyHex, c);
    if (remaining > 0) {
      if (newActive) this.#broadcastPresent(newActive);
      return;
    }
    // 1→0: watchers always hear of it; earlier recipients only if no sibling still has the key.
    const gone = encodePeerGone(c.key!, PeerGoneReason.Disconnected);
    const goneFrame = encodeFrame(FrameType.PeerGone, gone);
    for (const w of this.watchers) this.#queueWatchUpdate(w, c.keyHex, goneFrame);
    if (!this.forwarders.has(c.keyHex)) this.peerGoneFromRegion(c.keyHex, c.key!);
    this.#sentTo.forgetRecipient(c);
  }

  /** Tells everyone that received a packet from `hex` that it left (PeerGone Disconnected). */
  peerGoneFromRegion(hex: string, key: NodePublicKey): void {
    const recipients = this.#sentTo.take(hex);
    if (!recipients) return;
    const frame = encodeFrame(FrameType.PeerGone, encodePeerGone(key, PeerGoneReason.Disconnected));
    for (const r of recipients) {
      if (r.phase !== Phase.Active) continue;
      this.queueControl(r, frame);
      this.#stats.peerGoneDisconnectedFrames++;
    }
  }

  #broadcastPresent(c: Client): void {
    if (this.watchers.size === 0) return;
    const frame = encodeFrame(FrameType.PeerPresent, encodePeerPresent(c.key!, c.accept.remote, c.presentFlags()));
    for (const w of this.watchers) this.#queueWatchUpdate(w, c.keyHex, frame);
  }

  #queueWatchUpdate(w: Client, hex: string, frame: Uint8Array): void {
    w.queueWatchUpdate(hex, frame);
    this.#dirty.add(w);
  }

  /** Queues a control frame for `c` and marks it for flushing. */
  queueControl(c: Client, frame: Uint8Array): void {
    if (c.queueControl(frame)) this.#dirty.add(c);
  }

  /** SendPacket from a local client: deliver locally, else forward to a sibling, else drop. */
  sendPacket(src: Client, dst: NodePublicKey, packet: Uint8Array): void {
    const disco = looksLikeDisco(packet);
    const kind: PacketKind = disco ? 'disco' : 'other';
    this.#stats.packetsReceived++;
    if (disco) this.#stats.packetsReceivedDisco++;
    this.#stats.bytesReceived += BigInt(packet.length);
    const dstHex = keyHex(dst);
    const target = this.registry.get(dstHex)?.active;
    if (target) {
      this.#enqueuePacket(target, src.key!, src.keyHex, packet, disco);
      return;
    }
    const fwd = this.forwarders.first(dstHex);
    if (fwd) {
      this.#stats.packetsForwardedOut++;
      fwd.forwardPacket(src.key!, dst.slice() as NodePublicKey, packet.slice());
      return;
    }
    this.#stats.drop(DropReason.UnknownDest, kind, packet.length);
    if (disco && src.takeNotHereToken(this.#now())) {
      this.queueControl(src, encodeFrame(FrameType.PeerGone, encodePeerGone(dst, PeerGoneReason.NotHere)));
      this.#stats.peerGoneNotHereFrames++;
    }
  }

  /** ForwardPacket from a mesh peer: deliver locally only (one hop). */
  forwardedIn(src: NodePublicKey, dst: NodePublicKey, packet: Uint8Array): void {
    const disco = looksLikeDisco(packet);
    this.#stats.packetsForwardedIn++;
    const target = this.registry.get(keyHex(dst))?.active;
    if (!target) {
      this.#stats.drop(DropReason.UnknownDestOnFwd, disco ? 'disco' : 'other', packet.length);
      return;
    }
    this.#enqueuePacket(target, src, keyHex(src), packet, disco); // delivered locally, never re-forwarded
  }

  #enqueuePacket(target: Client, src: NodePublicKey, srcHex: string, packet: Uint8Array, disco: boolean): void {
    const frame = encodeFrame(FrameType.RecvPacket, src, packet);
    const dropped = (disco ? target.discoPackets : target.packets).push(frame);
    if (dropped) this.#stats.drop(DropReason.QueueHead, disco ? 'disco' : 'other', dropped.length - RECV_PACKET_OVERHEAD_BYTES);
    this.#sentTo.note(srcHex, target);
    this.#dirty.add(target);
  }
}
