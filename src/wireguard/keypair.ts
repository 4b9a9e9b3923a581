/**
 * Transport keypairs (whitepaper §5.4.6 "Subsequent Messages: Transport Data Messages";
 * wireguard.md §1.1, §1.2 "Key confirmation", §1.5, §1.8) and the per-peer
 * previous/current/next rotation (the kernel's noise.c add_new_keypair and
 * wg_noise_received_with_keypair).
 *
 * Transport message (type 4, 32 + n bytes):
 *   0..4   type = 4 (u8) + 3 zero bytes
 *   4..8   receiver index (u32 LE): the *peer's* index for this keypair
 *   8..16  counter (u64 LE), also the AEAD nonce: 4 zero bytes ‖ counter
 *   16..   ChaCha20-Poly1305(plaintext zero-padded to 16, capped at the MTU) ‖ 16-byte tag; AAD empty
 *
 * The hot path goes straight to node:crypto (the cipher object and its output buffers are the
 * only per-packet allocations): the header is written into a caller-supplied buffer, the send
 * counter is kept as two u32 halves (STYLE.md §7.5 allows hi/lo u32) so that no bigint is
 * built per sent packet, and nonces come from one scratch buffer (node copies the IV).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { MonotonicMs } from '../runtime/clock.js';
import { wipe } from '../runtime/bytes.js';
import { AEAD_TAG_BYTES } from './crypto.js';
import type { DropReason } from './device-api.js';
import { PADDING_MULTIPLE_BYTES, REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES } from './constants.js';
import { ReplayWindow } from './replay.js';

/** Bytes before the ciphertext: type, receiver index, counter. */
export const TRANSPORT_HEADER_BYTES = 16;
/** Header + tag: a keepalive (empty plaintext) is exactly this long. */
export const TRANSPORT_OVERHEAD_BYTES = TRANSPORT_HEADER_BYTES + AEAD_TAG_BYTES;
const MESSAGE_TYPE_TRANSPORT = 4;

const U32 = 0x1_0000_0000;
const NONCE = new Uint8Array(12); // bytes 0..3 stay zero
const CIPHER_OPTIONS = { authTagLength: AEAD_TAG_BYTES } as const;
let padScratch = new Uint8Array(2048);

function hiLo(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffff_ffffn)];
}
const [REJECT_HI, REJECT_LO] = hiLo(REJECT_AFTER_MESSAGES);
const [REKEY_HI, REKEY_LO] = hiLo(REKEY_AFTER_MESSAGES);

/**
 * Plaintext length after zero padding (wg-go calculatePaddingSize): round up to 16, but never
 * beyond the MTU; packets larger than the MTU are padded as if their length were `len % mtu`.
 */
export function paddedLength(len: number, mtu: number): number {
  if (mtu <= 0) return (len + PADDING_MULTIPLE_BYTES - 1) & ~(PADDING_MULTIPLE_BYTES - 1);
  let last = len;
  if (last > mtu) last %= mtu;
  let padded = (last + PADDING_MULTIPLE_BYTES - 1) & ~(PADDING_MULTIPLE_BYTES - 1);
  if (padded > mtu) padded = mtu;
  return len + (padded - last);
}

/** Bytes of the transport message carrying `plaintextLen` bytes of IP packet. */
export function transportMessageLength(plaintextLen: number, mtu: number): number {
  return TRANSPORT_OVERHEAD_BYTES + paddedLength(plaintextLen, mtu);
}

/** One session's keys and counters. Index-table entries and peers point at it. */
export class Keypair {
  /** Our index: the receiver index the peer puts on messages for this keypair. */
  readonly localIndex: number;
  /** The peer's index: what we put in the receiver field. */
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  readonly createdMs: MonotonicMs;
  readonly replay = new ReplayWindow();
  #sendKey: Uint8Array;
  #receiveKey: Uint8Array;
  #sendHi = 0;
  #sendLo = 0;
  #sendingValid = true;
  #receivingValid = true;
  #destroyed = false;

  constructor(keys: { sendKey: Uint8Array; receiveKey: Uint8Array; localIndex: number; remoteIndex: number; isInitiator: boolean }, now: MonotonicMs) {
    this.#sendKey = Uint8Array.from(keys.sendKey);
    this.#receiveKey = Uint8Array.from(keys.receiveKey);
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = keys.isInitiator;
    this.createdMs = now;
  }

  /** The next send counter (messages sent so far). */
  get sendCounter(): bigint {
    return (BigInt(this.#sendHi) << 32n) | BigInt(this.#sendLo);
  }
  /** For tests: jump the send counter (e.g. to just below REJECT_AFTER_MESSAGES). */
  set sendCounter(v: bigint) {
    [this.#sendHi, this.#sendLo] = hiLo(v);
  }

  /** True when the sender should rehandshake: more than REKEY_AFTER_MESSAGES sent. */
  get needsRekeyByMessages(): boolean {
    return this.#sendHi > REKEY_HI || (this.#sendHi === REKEY_HI && this.#sendLo > REKEY_LO);
  }

  /** May this keypair encrypt now? Not after REJECT_AFTER_TIME or REJECT_AFTER_MESSAGES, nor once wiped. */
  canSend(now: MonotonicMs): boolean {
    if (!this.#sendingValid) return false;
    if (now - this.createdMs >= REJECT_AFTER_TIME_MS) return false;
    return this.#sendHi < REJECT_HI || (this.#sendHi === REJECT_HI && this.#sendLo < REJECT_LO);
  }

  /**
   * Encrypts `plaintext` into `out` as a whole transport message and returns its length, or 0
   * when this keypair may not send (the caller stages the packet and starts a handshake).
   * `out` must hold `transportMessageLength(plaintext.length, mtu)` bytes.
   */
  encrypt(plaintext: Uint8Array, mtu: number, out: Uint8Array, now: MonotonicMs): number {
    if (!this.canSend(now)) return 0;
    const len = plaintext.length;
    const padded = paddedLength(len, mtu);
    const total = TRANSPORT_OVERHEAD_BYTES + padded;
    if (out.length < total) throw new RangeError(`Keypair.encrypt: out holds ${out.length} bytes, need ${total}`);
    const lo = this.#sendLo;
    const hi = this.#sendHi;
    if (lo === U32 - 1) {
      this.#sendLo = 0;
      this.#sendHi = hi + 1;
    } else {
      this.#sendLo = lo + 1;
    }
    out[0] = MESSAGE_TYPE_TRANSPORT;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    writeU32le(out, 4, this.remoteIndex);
    writeU32le(out, 8, lo);
    writeU32le(out, 12, hi);
    copyNonce(out);
    let body = plaintext;
    if (padded !== len) {
      if (padScratch.length < padded) padScratch = new Uint8Array(padded);
      padScratch.set(plaintext);
      padScratch.fill(0, len, padded);
      body = padScratch.subarray(0, padded);
    }
    const c = createCipheriv('chacha20-poly1305', this.#sendKey, NONCE, CIPHER_OPTIONS);
    out.set(c.update(body), TRANSPORT_HEADER_BYTES);
    c.final();
    out.set(c.getAuthTag(), TRANSPORT_HEADER_BYTES + padded);
    return total;
  }

  /**
   * Authenticates and decrypts the transport message `datagram` (its header already parsed:
   * `counter` is bytes 8..16), then checks the counter against the replay window — after
   * authentication, so only genuine packets move the window. Returns the padded plaintext
   * (a fresh buffer owned by the caller) or why the packet is dropped.
   */
  decrypt(datagram: Uint8Array, counter: bigint, now: MonotonicMs): Uint8Array | DropReason {
    if (!this.#receivingValid || now - this.createdMs >= REJECT_AFTER_TIME_MS) {
      this.#receivingValid = false;
      return 'expired-keypair';
    }
    const end = datagram.length - AEAD_TAG_BYTES;
    if (end < TRANSPORT_HEADER_BYTES) return 'short-packet';
    copyNonce(datagram);
    const d = createDecipheriv('chacha20-poly1305', this.#receiveKey, NONCE, CIPHER_OPTIONS);
    d.setAuthTag(datagram.subarray(end));
    const body = d.update(datagram.subarray(TRANSPORT_HEADER_BYTES, end));
    try {
      d.final();
    } catch {
      body.fill(0);
      return 'decrypt-failed'; // OpenSSL reports a bad tag only by throwing
    }
    if (!this.replay.validateCounter(counter, REJECT_AFTER_MESSAGES)) {
      body.fill(0);
      return 'replayed-counter';
    }
    return body;
  }

  /** Stops sending on this keypair (our private key changed); it still decrypts in-flight packets. */
  expireSending(): void {
    this.#sendingValid = false;
  }

  /** Wipes both keys; the keypair can neither send nor receive afterwards. */
  destroy(): void {
    wipe(this.#sendKey, this.#receiveKey);
    this.#sendingValid = false;
    this.#receivingValid = false;
    this.#destroyed = true;
  }

  /** True once the keys were wiped. */
  get destroyed(): boolean {
    return this.#destroyed;
  }
}

/** NONCE = 4 zero bytes ‖ the message's counter field (bytes 8..16), without a temporary view. */
function copyNonce(msg: Uint8Array): void {
  for (let i = 0; i < 8; i++) NONCE[4 + i] = msg[8 + i]!;
}

function writeU32le(out: Uint8Array, offset: number, v: number): void {
  out[offset] = v & 0xff;
  out[offset + 1] = (v >>> 8) & 0xff;
  out[offset + 2] = (v >>> 16) & 0xff;
  out[offset + 3] = (v >>> 24) & 0xff;
}

/**
 * A peer's keypairs: `current` sends; `previous` still decrypts in-flight packets after a rekey;
 * `next` is a responder's keypair waiting for key confirmation (the initiator's first transport
 * packet under it). `onDrop` runs for every keypair pushed out (free its index, it is wiped here).
 */
export class KeypairSet {
  previous: Keypair | undefined;
  current: Keypair | undefined;
  next: Keypair | undefined;
  readonly #onDrop: (kp: Keypair) => void;

  constructor(onDrop: (kp: Keypair) => void) {
    this.#onDrop = onDrop;
  }

  #drop(kp: Keypair | undefined): void {
    if (kp === undefined) return;
    kp.destroy();
    this.#onDrop(kp);
  }

  /** Installs a freshly derived keypair (kernel add_new_keypair). */
  add(kp: Keypair): void {
    if (kp.isInitiator) {
      // The initiator has its confirmation (the response): the new keypair is usable now.
      if (this.next !== undefined) {
        // A pending responder keypair is demoted to previous; the old current goes.
        this.#drop(this.previous);
        this.previous = this.next;
        this.next = undefined;
        this.#drop(this.current);
      } else {
        this.#drop(this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      // The responder waits for the first transport packet: park the keypair as next, dropping
      // any older next and the previous one.
      this.#drop(this.next);
      this.next = kp;
      this.#drop(this.previous);
      this.previous = undefined;
    }
  }

  /**
   * Call after a packet authenticated under `kp`. If it was the pending `next`, this is key
   * confirmation: next becomes current, current becomes previous. Returns true in that case.
   */
  receivedWith(kp: Keypair): boolean {
    if (kp !== this.next) return false;
    this.#drop(this.previous);
    this.previous = this.current;
    this.current = kp;
    this.next = undefined;
    return true;
  }

  /** Drops every keypair (zero_key_material, peer removal, key change). */
  clear(): void {
    this.#drop(this.previous);
    this.#drop(this.current);
    this.#drop(this.next);
    this.previous = this.current = this.next = undefined;
  }
}
