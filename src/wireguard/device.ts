/**
 * The sans-IO WireGuard device (whitepaper §2-§6; wireguard.md §1): routes TUN packets to peers
 * by allowed IPs, dispatches received datagrams by type and index, applies the "under load"
 * cookie rule, roams endpoints and runs every peer's timers from one deadline heap.
 *
 * Bytes and `now` go in; `DeviceOutput`s come out (device-api.ts). Datagrams in `toNetwork`
 * outputs may be views of a ring of reused buffers: the edge sends them before its next call.
 */
import type { Clock, MonotonicMs } from '../runtime/clock.js';
import type { Rng } from '../runtime/rng.js';
import { toHex, wipe } from '../runtime/bytes.js';
import { AllowedIps } from './allowed-ips.js';
import { CookieChecker, cookieSourceAddress } from './cookie.js';
import type { DeviceConfigChange, DeviceCore, DeviceOutput, DeviceStatus, DropReason, PathEndpoint, PeerStatus } from './device-api.js';
import { identityFromPrivateKey, validateConfigChange } from './device-config.js';
import { IndexTable } from './index-table.js';
import { ipClaimedLength, ipVersion, IPV4_DST_OFFSET, IPV4_SRC_OFFSET, IPV6_DST_OFFSET, IPV6_SRC_OFFSET, parseIpAddress } from './ip-packet.js';
import { consumeInitiation, consumeResponse, type Handshake, type StaticIdentity } from './noise.js';
import { parseMessage } from './messages.js';
import { Peer, type PeerContext } from './peer.js';
import { HandshakeRateLimiter, UnderLoadDetector } from './ratelimiter.js';
import { DeadlineHeap } from './deadline-heap.js';
import { relaySourceMatches } from './path.js';
import { DEFAULT_MTU_BYTES, MESSAGE_TRANSPORT_MIN_SIZE, MESSAGE_TYPE_TRANSPORT } from './constants.js';

export interface DeviceOptions {
  /** Wall time only (TAI64N timestamps, last-handshake time); monotonic time arrives as `now`. */
  readonly clock: Clock;
  readonly rng: Rng;
  /** Tunnel MTU: transport padding never goes beyond it (default 1420). */
  readonly mtu?: number;
  /**
   * Handshake messages within one second beyond which the device is "under load" for the next
   * UNDER_LOAD_AFTER_TIME (UnderLoadDetector; default UNDER_LOAD_HANDSHAKES_PER_SECOND = 100 as
   * in boringtun: a sans-IO core has no handshake queue to measure). 0 = always under load.
   */
  readonly underLoadHandshakesPerSecond?: number;
}

/** Datagrams one call may hand out from the buffer ring before falling back to fresh buffers. */
const OUTPUT_RING_SIZE = 256;
/** The largest inner packet accepted from the TUN (the IPv4/IPv6 length fields are 16-bit). */
const MAX_INNER_PACKET_BYTES = 65_535;

const DROPS = new Map<DropReason, DeviceOutput>();
function dropOutput(reason: DropReason): DeviceOutput {
  let d = DROPS.get(reason);
  if (d === undefined) DROPS.set(reason, (d = Object.freeze({ type: 'drop', reason })));
  return d;
}

/**
 * A WireGuard interface without sockets. Feed it TUN packets (`sendFromTun`), UDP datagrams
 * (`receiveFromNetwork`) and deadlines (`poll` at `nextDeadline()`); carry out what it appends
 * to `out`. Configure it with `configure()` (UAPI `set`) and read it with `status()` (UAPI `get`).
 * @example
 * const dev = new Device({ clock: new SystemClock(), rng: new SystemRng() });
 * dev.configure({ privateKey, replacePeers: false, peers: [peerChange] }, clock.monotonicMs());
 * const out: DeviceOutput[] = [];
 * dev.sendFromTun(ipPacket, clock.monotonicMs(), out); // -> toNetwork / drop outputs
 */
export class Device implements DeviceCore {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #mtu: number;
  #identity: StaticIdentity | undefined;
  readonly #peers = new Map<string, Peer>();
  readonly #allowedIps = new AllowedIps<Peer>();
  readonly #indexTable: IndexTable<Peer>;
  readonly #cookieChecker: CookieChecker;
  readonly #rateLimiter = new HandshakeRateLimiter();
  readonly #deadlines = new DeadlineHeap<Peer>();
  readonly #ctx: PeerContext;
  readonly #ring: Uint8Array[] = [];
  #ringNext = 0;
  #ringTakenThisCall = 0;
  readonly #underLoad: UnderLoadDetector;
  #relayEnabled = false;

  constructor(options: DeviceOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#mtu = options.mtu ?? DEFAULT_MTU_BYTES;
    this.#underLoad = new UnderLoadDetector(options.underLoadHandshakesPerSecond);
    this.#indexTable = new IndexTable<Peer>(this.#rng);
    this.#cookieChecker = new CookieChecker(undefined, this.#rng);
    this.#ctx = {
      rng: this.#rng,
      mtu: this.#mtu,
      indexTable: this.#indexTable,
      identity: () => this.#identity,
      wallTimeMs: () => this.#clock.wallTimeMs(),
      outputBuffer: (bytes) => this.#outputBuffer(bytes),
      drop: (reason, out) => out.push(dropOutput(reason)),
      relayEnabled: () => this.#relayEnabled,
    };
  }

  /** Our public key, undefined while no private key is set. */
  get publicKey(): Uint8Array | undefined {
    return this.#identity === undefined ? undefined : Uint8Array.from(this.#identity.publicKey);
  }

  /** For tests and metrics: the peer with `publicKey`, if configured. */
  peer(publicKey: Uint8Array): Peer | undefined {
    return this.#peers.get(toHex(publicKey));
  }

  /** True while the "under load" rule applies (cookie replies required). */
  isUnderLoad(now: MonotonicMs): boolean {
    return this.#underLoad.isUnderLoad(now);
  }

  // ------------------------------------------------------------------ data path

  /**
   * An IP packet read from the TUN: routed by destination through allowed IPs, encrypted under
   * the peer's current keypair, or staged behind a handshake initiation. Drops: `bad-inner-packet`,
   * `no-route`, `no-endpoint`, `queue-full` (oldest staged packet).
   */
  sendFromTun(packet: Uint8Array, now: MonotonicMs, out: DeviceOutput[]): void {
    this.#ringTakenThisCall = 0;
    const v = packet.length > MAX_INNER_PACKET_BYTES ? 0 : ipVersion(packet);
    if (v === 0) {
      out.push(dropOutput('bad-inner-packet'));
      return;
    }
    const peer = v === 4 ? this.#allowedIps.lookupV4(packet, IPV4_DST_OFFSET) : this.#allowedIps.lookupV6(packet, IPV6_DST_OFFSET);
    if (peer === undefined) {
      out.push(dropOutput('no-route'));
      return;
    }
    if (!peer.reachable) {
      out.push(dropOutput('no-endpoint'));
      return;
    }
    if (!peer.trySendDirect(packet, now, out)) {
      peer.stage(packet, out);
      peer.sendStaged(now, out);
    }
    this.#reschedule(peer, now);
  }

  /**
   * A datagram from `from` (UDP, or the DERP relay): transport data is authenticated,
   * replay-checked, filtered by the inner source address and written to the TUN; handshake
   * messages are answered. Never throws.
   */
  receiveFromNetwork(datagram: Uint8Array, from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void {
    this.#ringTakenThisCall = 0;
    if (from.family === 'derp' && !this.#relayEnabled) {
      out.push(dropOutput('relay-source-mismatch'));
      return;
    }
    if (datagram.length >= MESSAGE_TRANSPORT_MIN_SIZE && datagram[0] === MESSAGE_TYPE_TRANSPORT && datagram[1] === 0 && datagram[2] === 0 && datagram[3] === 0) {
      this.#receiveTransport(datagram, from, now, out);
      return;
    }
    this.#receiveHandshake(datagram, from, now, out);
  }

  #receiveTransport(datagram: Uint8Array, from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void {
    const entry = this.#indexTable.lookup(readU32le(datagram, 4));
    if (entry === undefined || entry.kind !== 'keypair') {
      out.push(dropOutput('unknown-index'));
      return;
    }
    const hi = readU32le(datagram, 12);
    const lo = readU32le(datagram, 8);
    const counter = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    const plaintext = entry.keypair.decrypt(datagram, counter, now);
    if (typeof plaintext === 'string') {
      out.push(dropOutput(plaintext));
      return;
    }
    // Authenticated: roam, count, confirm the key, feed the timers (kernel wg_packet_consume_data_done).
    const peer = entry.peer;
    if (!relaySourceMatches(from, peer.publicKey)) {
      out.push(dropOutput('relay-source-mismatch'));
      return;
    }
    peer.setEndpointFromPacket(from, now);
    peer.addRxBytes(datagram.length);
    if (peer.keypairs.receivedWith(entry.keypair)) {
      peer.handshakeComplete();
      peer.sendStaged(now, out);
    }
    peer.keepKeyFreshReceiving(now, out);
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    if (plaintext.length !== 0) {
      peer.timers.dataReceived(now);
      this.#deliverInner(plaintext, peer, out);
    }
    this.#reschedule(peer, now);
  }

  /** Trims padding by the inner header and applies the crypto reverse-path filter (wireguard.md §1.11). */
  #deliverInner(plaintext: Uint8Array, peer: Peer, out: DeviceOutput[]): void {
    const v = ipVersion(plaintext);
    const len = v === 0 ? 0 : ipClaimedLength(plaintext, v);
    if (len === 0) {
      out.push(dropOutput('bad-inner-packet'));
      return;
    }
    const owner = v === 4 ? this.#allowedIps.lookupV4(plaintext, IPV4_SRC_OFFSET) : this.#allowedIps.lookupV6(plaintext, IPV6_SRC_OFFSET);
    if (owner !== peer) {
      out.push(dropOutput('disallowed-source'));
      return;
    }
    out.push({ type: 'toTun', packet: len === plaintext.length ? plaintext : plaintext.subarray(0, len) });
  }

  #receiveHandshake(datagram: Uint8Array, from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void {
    const m = parseMessage(datagram);
    if (m.type === 'drop') {
      out.push(dropOutput(m.reason));
      return;
    }
    if (m.type === 'transport') {
      out.push(dropOutput('short-packet')); // unreachable: the fast path takes every well-formed transport message
      return;
    }
    if (m.type === 'cookieReply') {
      // Only stores the cookie: no roaming, no retransmit, no timers (wireguard.md §1.3).
      const entry = this.#indexTable.lookup(m.receiverIndex);
      if (entry === undefined) out.push(dropOutput('unknown-index'));
      else if (!entry.peer.cookieGenerator.consumeReply(m.bytes, now)) out.push(dropOutput('decrypt-failed'));
      return;
    }
    const identity = this.#identity;
    if (identity === undefined) {
      out.push(dropOutput('no-private-key'));
      return;
    }
    this.#underLoad.record(now);
    const underLoad = this.#underLoad.isUnderLoad(now);
    if (!this.#cookieChecker.checkMac1(m.bytes)) {
      out.push(dropOutput('bad-mac1'));
      return;
    }
    if (underLoad) {
      // A relayed sender is identified by its DERP key (the relay authenticated it), not an address.
      const ip = from.family === 'derp' ? from.publicKey : (parseIpAddress(from.address) ?? new Uint8Array(0));
      const source = cookieSourceAddress(ip, from.family === 'derp' ? 0 : from.port);
      if (!this.#cookieChecker.checkMac2(m.bytes, source, now)) {
        const reply = this.#cookieChecker.createReply(m.bytes, m.senderIndex, source, now);
        out.push(from.family === 'derp' ? { type: 'toRelay', datagram: reply, publicKey: from.publicKey } : { type: 'toNetwork', datagram: reply, endpoint: from });
        out.push(dropOutput('under-load-no-cookie'));
        return;
      }
      if (!this.#rateLimiter.allow(ip, now)) {
        out.push(dropOutput('rate-limited'));
        return;
      }
    }
    let peer: Peer | undefined;
    if (m.type === 'initiation') {
      const r = consumeInitiation(identity, m.bytes, (pk) => (peer = this.#peers.get(toHex(pk)))?.handshake, now);
      if (r.type === 'drop' || peer === undefined) {
        out.push(dropOutput(r.type === 'drop' ? r.reason : 'unknown-peer'));
        return;
      }
      if (!relaySourceMatches(from, peer.publicKey)) {
        out.push(dropOutput('relay-source-mismatch'));
        return;
      }
      peer.initiationConsumed(from, now, out);
    } else {
      const findByIndex = (index: number): Handshake | undefined => {
        const e = this.#indexTable.lookup(index);
        if (e?.kind !== 'handshake') return undefined;
        peer = e.peer;
        return e.peer.handshake;
      };
      const r = consumeResponse(identity, m.bytes, findByIndex);
      if (r.type === 'drop' || peer === undefined) {
        out.push(dropOutput(r.type === 'drop' ? r.reason : 'unknown-index'));
        return;
      }
      if (!relaySourceMatches(from, peer.publicKey)) {
        out.push(dropOutput('relay-source-mismatch'));
        return;
      }
      peer.responseConsumed(from, now, out);
    }
    this.#reschedule(peer, now);
  }

  #outputBuffer(bytes: number): Uint8Array {
    if (this.#ringTakenThisCall >= OUTPUT_RING_SIZE) return new Uint8Array(bytes);
    this.#ringTakenThisCall++;
    const i = this.#ringNext;
    this.#ringNext = (i + 1) % OUTPUT_RING_SIZE;
    let buf = this.#ring[i];
    if (buf === undefined || buf.length < bytes) this.#ring[i] = buf = new Uint8Array(Math.max(bytes, this.#mtu + 64));
    return buf;
  }

  // ------------------------------------------------------------------ timers

  /** Runs the timers of every peer due at `now` (found through a deadline heap, not a scan). */
  poll(now: MonotonicMs, out: DeviceOutput[]): void {
    this.#ringTakenThisCall = 0;
    this.#rateLimiter.poll(now);
    const due: Peer[] = [];
    for (;;) {
      const peer = this.#deadlines.popDue(now, (p, at) => !p.removed && p.scheduledAt === at);
      if (peer === undefined) break;
      peer.scheduledAt = undefined;
      due.push(peer);
    }
    for (const peer of due) peer.runTimers(now, out);
    for (const peer of due) this.#reschedule(peer, now);
  }

  /** When `poll` next has work; may be early (a moved deadline), never late. */
  nextDeadline(): MonotonicMs | undefined {
    const peers = this.#deadlines.peek((p, at) => !p.removed && p.scheduledAt === at);
    const rl = this.#rateLimiter.nextDeadline();
    if (peers === undefined) return rl;
    return rl === undefined || peers < rl ? peers : rl;
  }

  /** Entries only ever move earlier; a later deadline leaves a stale early entry that poll re-files. */
  #reschedule(peer: Peer, now: MonotonicMs): void {
    const d = peer.nextDeadline(now);
    if (d === undefined || (peer.scheduledAt !== undefined && peer.scheduledAt <= d)) return;
    peer.scheduledAt = d;
    this.#deadlines.push(d, peer);
  }

  // ------------------------------------------------------------------ configuration (UAPI set/get)

  /** The runtime has (or no longer has) a DERP relay; turning it off puts every peer back on direct UDP. */
  setRelayEnabled(enabled: boolean): void {
    if (enabled === this.#relayEnabled) return;
    this.#relayEnabled = enabled;
    if (!enabled) for (const peer of this.#peers.values()) peer.path.relayDisabled();
  }

  /**
   * Applies a UAPI `set` with wg-go's semantics, all or nothing: the whole change is validated
   * first (TsplaneError WG_ERR_INVALID_CONFIG, nothing applied). `listenPort`/`fwmark` are the
   * UDP edge's business and ignored here.
   */
  configure(change: DeviceConfigChange, now: MonotonicMs): void {
    const pk = change.privateKey;
    const newIdentity = pk === undefined || pk.length !== 32 ? this.#identity : identityFromPrivateKey(pk);
    validateConfigChange(change, newIdentity?.publicKey, new Set(this.#peers.keys()));
    // Validated: nothing below throws.
    if (change.privateKey !== undefined) this.#setIdentity(newIdentity);
    if (change.replacePeers) for (const key of [...this.#peers.keys()]) this.#removePeer(key);
    const ownKey = this.#identity === undefined ? undefined : toHex(this.#identity.publicKey);
    for (const pc of change.peers) {
      const key = toHex(pc.publicKey);
      if (key === ownKey) continue; // a peer with our own public key is ignored (wg-go)
      let peer = this.#peers.get(key);
      if (pc.remove) {
        if (peer !== undefined) this.#removePeer(key);
        continue;
      }
      if (peer === undefined) {
        if (pc.updateOnly) continue;
        peer = new Peer(this.#ctx, pc.publicKey);
        this.#peers.set(key, peer);
      }
      if (pc.presharedKey !== undefined) peer.handshake.setPresharedKey(pc.presharedKey);
      if (pc.endpoint !== undefined) peer.endpoint = pc.endpoint;
      if (pc.persistentKeepaliveIntervalS !== undefined) {
        const wasOff = peer.persistentKeepaliveIntervalS === 0;
        peer.persistentKeepaliveIntervalS = pc.persistentKeepaliveIntervalS;
        peer.timers.setPersistentKeepalive(pc.persistentKeepaliveIntervalS * 1000, now);
        // Turning it on sends one keepalive right away (wg-go uapi.go pkaOn); configure() has no
        // output, so it goes out at the next poll, which nextDeadline() makes immediate.
        if (wasOff && pc.persistentKeepaliveIntervalS > 0) peer.keepalivePending = true;
      }
      if (pc.replaceAllowedIps) this.#allowedIps.removePeer(peer);
      for (const p of pc.removedAllowedIps) this.#allowedIps.remove(p, peer);
      for (const p of pc.allowedIps) this.#allowedIps.insert(p, peer);
      this.#reschedule(peer, now);
    }
  }

  /** wg-go Device.SetPrivateKey: drop the peer with our new public key, re-precompute, expire sessions. */
  #setIdentity(identity: StaticIdentity | undefined): void {
    const old = this.#identity;
    if (old !== undefined && identity !== undefined && toHex(old.privateKey) === toHex(identity.privateKey)) return;
    if (identity !== undefined) {
      const clash = toHex(identity.publicKey);
      if (this.#peers.has(clash)) this.#removePeer(clash);
    }
    this.#identity = identity;
    this.#cookieChecker.setLocalPublicKey(identity?.publicKey);
    for (const peer of this.#peers.values()) {
      peer.handshake.setLocal(identity);
      peer.expireCurrentKeypairs();
    }
    if (old !== undefined) wipe(old.privateKey);
  }

  #removePeer(key: string): void {
    const peer = this.#peers.get(key);
    if (peer === undefined) return;
    this.#peers.delete(key);
    this.#allowedIps.removePeer(peer);
    peer.destroy();
  }

  /** The UAPI `get` view: keys, endpoints, last handshake (wall ms), rx/tx WireGuard message bytes, allowed IPs. */
  status(_now: MonotonicMs): DeviceStatus {
    const peers: PeerStatus[] = [];
    for (const p of this.#peers.values()) {
      peers.push({
        publicKey: Uint8Array.from(p.publicKey),
        presharedKey: p.handshake.presharedKey,
        endpoint: p.endpoint,
        relayed: p.path.relayed,
        lastHandshakeWallMs: p.lastHandshakeWallMs,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
        persistentKeepaliveIntervalS: p.persistentKeepaliveIntervalS,
        allowedIps: this.#allowedIps.prefixesOf(p),
      });
    }
    const id = this.#identity;
    return {
      privateKey: id === undefined ? undefined : Uint8Array.from(id.privateKey),
      publicKey: id === undefined ? undefined : Uint8Array.from(id.publicKey),
      peers,
    };
  }
}

function readU32le(b: Uint8Array, offset: number): number {
  return (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16) | (b[offset + 3]! << 24)) >>> 0;
}
