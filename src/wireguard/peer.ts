/**
 * One WireGuard peer (whitepaper §6 "Timers & Stateless UX"; wireguard.md §1.7): its handshake,
 * cookie generator, keypairs, timers, staged packet queue, endpoint and counters, plus the
 * peer-level protocol steps the kernel keeps in send.c (send staged packets, send a keepalive,
 * send an initiation, keep the key fresh). No sockets: every datagram goes into `out` as a
 * `toNetwork` output; the device owns the shared pieces through `PeerContext`.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import type { Rng } from '../runtime/rng.js';
import { wipe } from '../runtime/bytes.js';
import { CookieGenerator } from './cookie.js';
import type { DeviceOutput, DropReason, Endpoint, PathEndpoint } from './device-api.js';
import type { IndexTable } from './index-table.js';
import { Keypair, KeypairSet, transportMessageLength, TRANSPORT_OVERHEAD_BYTES } from './keypair.js';
import { beginSession, createInitiation, createResponse, Handshake, type StaticIdentity } from './noise.js';
import { PeerTimers, type TimerAction } from './timers.js';
import { DIRECT_PROBE_INTERVAL_MS, PeerPath, type PathChoice } from './path.js';
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_STAGED_PACKETS,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_TIME_MS,
  REKEY_TIMEOUT_MS,
} from './constants.js';

/** What a peer borrows from its device. */
export interface PeerContext {
  readonly rng: Rng;
  readonly mtu: number;
  readonly indexTable: IndexTable<Peer>;
  /** Our static identity, undefined while no private key is set. */
  identity(): StaticIdentity | undefined;
  wallTimeMs(): number;
  /** A buffer of at least `bytes` for one outgoing datagram, valid until the device's next call. */
  outputBuffer(bytes: number): Uint8Array;
  drop(reason: DropReason, out: DeviceOutput[]): void;
  /** True while the runtime has a DERP relay (path.ts). */
  relayEnabled(): boolean;
}

const EMPTY = new Uint8Array(0);
/** Fold the byte accumulators into the bigint totals beyond this (far below 2^53). */
const FOLD_BYTES = 2 ** 48;

export class Peer {
  readonly publicKey: Uint8Array;
  readonly handshake: Handshake;
  readonly cookieGenerator: CookieGenerator;
  readonly keypairs: KeypairSet;
  readonly timers: PeerTimers;
  /** Direct or relayed (path.ts). */
  readonly path = new PeerPath();
  /** The direct UDP endpoint: configured, or the source of the last direct authenticated packet. */
  endpoint: Endpoint | undefined;
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshakeWallMs = 0;
  persistentKeepaliveIntervalS = 0;
  /** Packets dropped from the staged queue (oldest first) because it was full. */
  stagedDropped = 0;
  /** Set by the device's scheduler: the deadline at which this peer sits in the device heap. */
  scheduledAt: MonotonicMs | undefined;
  /** Set when the peer has been removed from its device; stale heap entries skip it. */
  removed = false;
  /** A keepalive owed from configuration (persistent keepalive turned on); sent at the next poll. */
  keepalivePending = false;

  readonly #ctx: PeerContext;
  // Byte counters: a number accumulator (exact below 2^53) folded into a bigint now and then,
  // so the hot path never allocates a bigint per packet.
  #rxBase = 0n;
  #rxPending = 0;
  #txBase = 0n;
  #txPending = 0;
  /** Packets waiting for a keypair (copies; an empty one is a keepalive). */
  readonly #staged: Uint8Array[] = [];
  /** Index of our handshake in flight, registered in the index table. */
  #handshakeIndex: number | undefined;
  #lastSentHandshakeMs = -Infinity;
  /** When a transport message last went out (relayed peers are only probed while traffic flows). */
  #lastTransportSentMs = -Infinity;
  readonly #actions: TimerAction[] = [];

  constructor(ctx: PeerContext, publicKey: Uint8Array) {
    this.#ctx = ctx;
    this.publicKey = Uint8Array.from(publicKey);
    this.handshake = new Handshake(ctx.identity(), this.publicKey);
    this.cookieGenerator = new CookieGenerator(this.publicKey);
    this.keypairs = new KeypairSet((kp) => ctx.indexTable.remove(kp.localIndex, kp));
    this.timers = new PeerTimers(ctx.rng);
  }

  /** WireGuard message bytes received from this peer (authenticated messages only). */
  get rxBytes(): bigint {
    return this.#rxBase + BigInt(this.#rxPending);
  }
  /** WireGuard message bytes sent to this peer. */
  get txBytes(): bigint {
    return this.#txBase + BigInt(this.#txPending);
  }
  addRxBytes(n: number): void {
    this.#rxPending += n;
    if (this.#rxPending >= FOLD_BYTES) {
      this.#rxBase += BigInt(this.#rxPending);
      this.#rxPending = 0;
    }
  }
  addTxBytes(n: number): void {
    this.#txPending += n;
    if (this.#txPending >= FOLD_BYTES) {
      this.#txBase += BigInt(this.#txPending);
      this.#txPending = 0;
    }
  }

  /** True when datagrams have somewhere to go: a direct endpoint, or the relay. */
  get reachable(): boolean {
    return this.endpoint !== undefined || this.#ctx.relayEnabled();
  }

  #dataPath(now: MonotonicMs): PathChoice {
    return this.path.dataPath(now, this.#ctx.relayEnabled(), this.endpoint !== undefined);
  }

  /** Hands one datagram to the chosen path(s). */
  #emit(datagram: Uint8Array, choice: PathChoice, out: DeviceOutput[]): void {
    if ((choice === 'direct' || choice === 'both') && this.endpoint !== undefined) out.push({ type: 'toNetwork', datagram, endpoint: this.endpoint });
    if (choice === 'relay' || choice === 'both') out.push({ type: 'toRelay', datagram, publicKey: this.publicKey });
  }

  get stagedCount(): number {
    return this.#staged.length;
  }

  /** Queues a copy of `packet` for when a keypair exists; drops the oldest beyond MAX_STAGED_PACKETS. */
  stage(packet: Uint8Array, out: DeviceOutput[]): void {
    if (this.#staged.length >= MAX_STAGED_PACKETS) {
      this.#staged.shift();
      this.stagedDropped++;
      this.#ctx.drop('queue-full', out);
    }
    this.#staged.push(packet.length === 0 ? EMPTY : Uint8Array.from(packet));
  }

  /**
   * Encrypts one packet under the current keypair straight into an output buffer, if the queue
   * is empty and the keypair may send; returns false when the caller must stage instead.
   */
  trySendDirect(packet: Uint8Array, now: MonotonicMs, out: DeviceOutput[]): boolean {
    const kp = this.keypairs.current;
    if (this.#staged.length !== 0 || kp === undefined || !kp.canSend(now)) return false;
    const choice = this.#dataPath(now);
    if (choice === 'none' || !this.#sendTransport(kp, packet, choice, now, out)) return false;
    this.#keepKeyFreshSending(now, out);
    return true;
  }

  /** Sends the staged packets under the current keypair, or starts a handshake if there is none usable (kernel wg_packet_send_staged_packets). */
  sendStaged(now: MonotonicMs, out: DeviceOutput[]): void {
    if (this.#staged.length === 0) return;
    const kp = this.keypairs.current;
    const choice = this.#dataPath(now);
    if (kp === undefined || !kp.canSend(now) || choice === 'none') {
      this.sendInitiation(now, false, out);
      return;
    }
    let sent = 0;
    while (sent < this.#staged.length) {
      if (!this.#sendTransport(kp, this.#staged[sent]!, choice, now, out)) break;
      sent++;
    }
    this.#staged.splice(0, sent);
    if (this.#staged.length > 0) this.sendInitiation(now, false, out); // the keypair ran out mid-queue
    this.#keepKeyFreshSending(now, out);
  }

  /** Sends a keepalive (an empty transport message), or whatever is staged instead (kernel wg_packet_send_keepalive). */
  sendKeepalive(now: MonotonicMs, out: DeviceOutput[]): void {
    if (this.#staged.length === 0) this.#staged.push(EMPTY);
    this.sendStaged(now, out);
  }

  #sendTransport(kp: Keypair, packet: Uint8Array, choice: PathChoice, now: MonotonicMs, out: DeviceOutput[]): boolean {
    const buf = this.#ctx.outputBuffer(transportMessageLength(packet.length, this.#ctx.mtu));
    const n = kp.encrypt(packet, this.#ctx.mtu, buf, now);
    if (n === 0) return false;
    this.#emit(buf.subarray(0, n), choice, out);
    this.#lastTransportSentMs = now;
    this.addTxBytes(n);
    this.timers.anyAuthenticatedPacketTraversal(now);
    this.timers.anyAuthenticatedPacketSent(now);
    if (n !== TRANSPORT_OVERHEAD_BYTES) this.timers.dataSent(now);
    return true;
  }

  /** After sending data: rehandshake past REKEY_AFTER_MESSAGES, or as initiator past REKEY_AFTER_TIME (kernel keep_key_fresh). */
  #keepKeyFreshSending(now: MonotonicMs, out: DeviceOutput[]): void {
    const kp = this.keypairs.current;
    if (kp === undefined || !kp.canSend(now)) return;
    if (kp.needsRekeyByMessages || (kp.isInitiator && now - kp.createdMs > REKEY_AFTER_TIME_MS)) this.sendInitiation(now, false, out);
  }

  /**
   * After receiving data: as initiator, one last initiation when the keypair is within
   * KEEPALIVE + REKEY_TIMEOUT of REJECT_AFTER_TIME, so the session is renewed before it dies
   * even if we are not sending (kernel keep_key_fresh on receive).
   */
  keepKeyFreshReceiving(now: MonotonicMs, out: DeviceOutput[]): void {
    const kp = this.keypairs.current;
    if (kp === undefined || !kp.isInitiator || !kp.canSend(now) || this.timers.sentLastMinuteHandshake) return;
    if (now - kp.createdMs > REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS) {
      this.timers.sentLastMinuteHandshake = true;
      this.sendInitiation(now, false, out);
    }
  }

  /**
   * Sends a handshake initiation, at most one per REKEY_TIMEOUT (kernel
   * wg_packet_send_handshake_initiation). A retry keeps the attempt count; anything else resets it.
   */
  sendInitiation(now: MonotonicMs, isRetry: boolean, out: DeviceOutput[]): void {
    if (!isRetry) this.timers.handshakeAttempts = 0;
    if (now - this.#lastSentHandshakeMs < REKEY_TIMEOUT_MS) return;
    if (!this.handshake.isValid) return; // no private key, or a low-order peer key: never handshake
    const choice = this.path.initiationSent(now, this.#ctx.relayEnabled(), this.endpoint !== undefined);
    if (choice === 'none') {
      this.#ctx.drop('no-endpoint', out);
      return;
    }
    this.#lastSentHandshakeMs = now;
    this.#freeHandshakeIndex();
    const index = this.#ctx.indexTable.insert({ kind: 'handshake', peer: this });
    this.#handshakeIndex = index;
    const msg = createInitiation(this.handshake, index, this.#ctx.wallTimeMs(), this.#ctx.rng);
    this.cookieGenerator.addMacs(msg, now);
    this.#emit(msg, choice, out);
    this.addTxBytes(MESSAGE_INITIATION_SIZE);
    this.timers.anyAuthenticatedPacketTraversal(now);
    this.timers.anyAuthenticatedPacketSent(now);
    this.timers.handshakeInitiated(now);
  }

  /** After consumeInitiation accepted an initiation from this peer at `from`: respond and derive the (next) keypair. */
  initiationConsumed(from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void {
    this.addRxBytes(MESSAGE_INITIATION_SIZE);
    this.setEndpointFromPacket(from, now);
    this.#freeHandshakeIndex();
    const index = this.#ctx.indexTable.insert({ kind: 'handshake', peer: this });
    this.#handshakeIndex = index;
    const msg = createResponse(this.handshake, index, this.#ctx.rng);
    this.cookieGenerator.addMacs(msg, now);
    this.timers.anyAuthenticatedPacketTraversal(now);
    this.timers.anyAuthenticatedPacketSent(now);
    if (this.#beginSession(now)) this.timers.sessionDerived(now);
    // The response goes back the way the initiation came.
    if (from.family === 'derp') out.push({ type: 'toRelay', datagram: msg, publicKey: this.publicKey });
    else out.push({ type: 'toNetwork', datagram: msg, endpoint: from });
    this.addTxBytes(MESSAGE_RESPONSE_SIZE);
    this.timers.anyAuthenticatedPacketReceived();
    this.timers.anyAuthenticatedPacketTraversal(now);
  }

  /** After consumeResponse accepted our handshake's response: the new keypair is current; confirm it at once. */
  responseConsumed(from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void {
    this.addRxBytes(MESSAGE_RESPONSE_SIZE);
    this.setEndpointFromPacket(from, now);
    if (this.#beginSession(now)) {
      this.timers.sessionDerived(now);
      this.handshakeComplete();
      // Sends the staged packets, or a keepalive when there are none: either confirms the session.
      this.sendKeepalive(now, out);
    }
    this.timers.anyAuthenticatedPacketReceived();
    this.timers.anyAuthenticatedPacketTraversal(now);
  }

  /** Records a completed handshake (response consumed, or the first packet on a responder keypair). */
  handshakeComplete(): void {
    this.timers.handshakeComplete();
    this.lastHandshakeWallMs = this.#ctx.wallTimeMs();
  }

  #beginSession(now: MonotonicMs): boolean {
    const keys = beginSession(this.handshake);
    this.#handshakeIndex = undefined; // the index now belongs to the keypair
    if (keys === undefined) return false;
    const kp = new Keypair(keys, now);
    wipe(keys.sendKey, keys.receiveKey);
    this.#ctx.indexTable.replace(kp.localIndex, { kind: 'keypair', peer: this, keypair: kp });
    this.keypairs.add(kp);
    return true;
  }

  /**
   * Roaming: the source of an authenticated packet becomes the endpoint (never a cookie reply's).
   * A relayed packet leaves the direct endpoint alone and may move the peer to the relay (path.ts).
   */
  setEndpointFromPacket(from: PathEndpoint, now: MonotonicMs): void {
    if (from.family === 'derp') {
      this.path.relayAuthenticatedReceived(now, this.endpoint !== undefined);
      return;
    }
    this.path.directAuthenticatedReceived(now);
    const e = this.endpoint;
    if (e === from || (e !== undefined && e.port === from.port && e.address === from.address && e.family === from.family)) return;
    // A copy: the edge may reuse its Endpoint objects. Allocates only when the peer roams.
    this.endpoint = { family: from.family, address: from.address, port: from.port };
  }

  /** Runs the due timers' actions. */
  runTimers(now: MonotonicMs, out: DeviceOutput[]): void {
    const actions = this.#actions;
    actions.length = 0;
    this.timers.poll(now, actions);
    if (this.keepalivePending) {
      this.keepalivePending = false;
      actions.push({ type: 'sendKeepalive' });
    }
    // A relayed peer with traffic probes its direct path with a fresh initiation (path.ts).
    if (this.path.probeDue(now) && now - this.#lastTransportSentMs < DIRECT_PROBE_INTERVAL_MS) actions.push({ type: 'newHandshake' });
    for (const a of actions) {
      switch (a.type) {
        case 'retransmitHandshake':
          // (wg-go and the kernel also clear the cached local source address here; we keep none.)
          this.sendInitiation(now, true, out);
          break;
        case 'giveUpHandshake':
          for (let i = 0; i < this.#staged.length; i++) this.#ctx.drop('handshake-timeout', out);
          this.#staged.length = 0;
          break;
        case 'sendKeepalive':
          this.sendKeepalive(now, out);
          break;
        case 'newHandshake':
          this.sendInitiation(now, false, out);
          break;
        case 'zeroKeyMaterial':
          this.zeroKeyMaterial();
          break;
      }
    }
  }

  /** The earliest moment `runTimers` has work. */
  nextDeadline(now: MonotonicMs): MonotonicMs | undefined {
    if (this.keepalivePending) return now;
    const t = this.timers.nextDeadline();
    const p = this.path.nextDeadline();
    return p === undefined || (t !== undefined && t < p) ? t : p;
  }

  /** Our private key changed, so every session and handshake with the old one is void (wg-go ExpireCurrentKeypairs, handshake cleared). */
  expireCurrentKeypairs(): void {
    this.#freeHandshakeIndex();
    this.handshake.clear();
    this.#lastSentHandshakeMs = -Infinity;
    this.keypairs.current?.expireSending();
    this.keypairs.next?.expireSending();
  }

  /** Wipes every keypair and the handshake (zero_key_material). */
  zeroKeyMaterial(): void {
    this.keypairs.clear();
    this.#freeHandshakeIndex();
    this.handshake.clear();
  }

  /** Tears the peer down: keys wiped, indices freed, timers stopped, queue dropped. */
  destroy(): void {
    this.zeroKeyMaterial();
    this.timers.stop();
    this.#staged.length = 0;
    this.removed = true;
  }

  #freeHandshakeIndex(): void {
    if (this.#handshakeIndex !== undefined) this.#ctx.indexTable.remove(this.#handshakeIndex, this);
    this.#handshakeIndex = undefined;
  }
}
