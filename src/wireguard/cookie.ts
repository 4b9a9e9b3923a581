/**
 * mac1, mac2 and cookie replies (whitepaper §5.4.4 and §5.4.7; docs/wireguard.md §1.3, §1.9;
 * wg-go device/cookie.go, kernel src/cookie.c). Sans-IO: monotonic `now` and an `Rng` come in.
 *
 *   mac1 = MAC(HASH(LABEL_MAC1 ‖ S_receiver.pub), msg[0 : offset of mac1])     always present
 *   mac2 = MAC(cookie, msg[0 : offset of mac2])       when a cookie < 115 s old is held, else zero
 *   cookie = MAC(R_secret, source address)            R_secret: 32 random bytes, renewed every 120 s
 *   reply  = type 3 ‖ receiver ‖ nonce(24) ‖ XAEAD(HASH(LABEL_COOKIE ‖ S_responder.pub), nonce, cookie, aad = mac1)
 *
 * The checker (one per device) validates incoming MACs and builds replies; the generator (one per
 * peer) stamps our outgoing handshakes and stores cookies from replies. The source address input
 * is local to the responder (only it recomputes its cookies), so the format is ours to choose; we
 * use the kernel's: IP bytes ‖ UDP port big-endian (see {@link cookieSourceAddress}).
 */
import type { MonotonicMs } from '../runtime/clock.js';
import type { Rng } from '../runtime/rng.js';
import { constantTimeEqual, wipe } from '../runtime/bytes.js';
import { TsplaneError } from '../runtime/errors.js';
// MAC is the unrolled BLAKE2s of blake2s.ts: mac1 is checked on every handshake datagram before
// anything else, so it is the first thing a flood hits.
import { hash, KEY_BYTES, mac, MAC_BYTES, XAEAD_NONCE_BYTES, xaeadOpen, xaeadSeal } from './crypto.js';
import {
  COOKIE_REFRESH_TIME_MS,
  COOKIE_REPLY_COOKIE_OFFSET,
  COOKIE_REPLY_NONCE_OFFSET,
  COOKIE_REPLY_RECEIVER_OFFSET,
  COOKIE_SECRET_LATENCY_MS,
  ENCRYPTED_COOKIE_BYTES,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TYPE_COOKIE_REPLY,
  WG_LABEL_COOKIE,
  WG_LABEL_MAC1,
} from './constants.js';
import { writeMessageType, writeU32le } from './messages.js';

const LABEL_MAC1 = new TextEncoder().encode(WG_LABEL_MAC1);
const LABEL_COOKIE = new TextEncoder().encode(WG_LABEL_COOKIE);

/** Offsets of mac1/mac2 in a handshake message: the last 32 bytes, or undefined for other sizes. */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } | undefined {
  if (msg.length !== MESSAGE_INITIATION_SIZE && msg.length !== MESSAGE_RESPONSE_SIZE) return undefined;
  return { mac1: msg.length - 2 * MAC_BYTES, mac2: msg.length - MAC_BYTES };
}

/** HASH(LABEL_MAC1 ‖ pub): the key of mac1 for messages sent to the owner of `pub`. */
export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1, publicKey);
}
/** HASH(LABEL_COOKIE ‖ pub): the XAEAD key of cookie replies sent by the owner of `pub`. */
export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE, publicKey);
}

/**
 * The address bytes a cookie is bound to: IP bytes (4 or 16) ‖ UDP port (u16 big-endian), as
 * the kernel does (src/cookie.c). Any injective encoding works; this one is ours.
 */
export function cookieSourceAddress(ip: Uint8Array, port: number): Uint8Array {
  const out = new Uint8Array(ip.length + 2);
  out.set(ip, 0);
  out[ip.length] = (port >>> 8) & 0xff;
  out[ip.length + 1] = port & 0xff;
  return out;
}

/** Validates mac1/mac2 of incoming handshakes and creates cookie replies. One per device. */
export class CookieChecker {
  readonly #rng: Rng;
  #mac1Key: Uint8Array | undefined;
  #cookieKey: Uint8Array | undefined;
  readonly #secret = new Uint8Array(KEY_BYTES);
  #secretSetAt: MonotonicMs | undefined;

  /** @param localPublicKey our static public key (undefined: no key, every mac1 fails) */
  constructor(localPublicKey: Uint8Array | undefined, rng: Rng) {
    this.#rng = rng;
    this.setLocalPublicKey(localPublicKey);
  }

  /** Our private key changed: rederive the mac1 and cookie-reply keys. */
  setLocalPublicKey(pub: Uint8Array | undefined): void {
    wipe(this.#mac1Key, this.#cookieKey);
    this.#mac1Key = pub === undefined ? undefined : mac1Key(pub);
    this.#cookieKey = pub === undefined ? undefined : cookieKey(pub);
  }

  /** True when `msg` is a 148/92-byte handshake whose mac1 is right for our public key. Cheap: no DH. */
  checkMac1(msg: Uint8Array): boolean {
    const off = macOffsets(msg);
    if (off === undefined || this.#mac1Key === undefined) return false;
    const expected = mac(this.#mac1Key, msg.subarray(0, off.mac1));
    return constantTimeEqual(expected, msg.subarray(off.mac1, off.mac2));
  }

  /**
   * True when mac2 proves the sender holds a cookie for `sourceAddr` under the current secret.
   * Only meaningful under load (wireguard.md §1.9); false while no secret is live.
   * @param sourceAddr {@link cookieSourceAddress} of the datagram's source
   */
  checkMac2(msg: Uint8Array, sourceAddr: Uint8Array, now: MonotonicMs): boolean {
    const off = macOffsets(msg);
    if (off === undefined || !this.#secretIsLive(now)) return false;
    const cookie = mac(this.#secret, sourceAddr);
    const expected = mac(cookie, msg.subarray(0, off.mac2));
    wipe(cookie);
    return constantTimeEqual(expected, msg.subarray(off.mac2, off.mac2 + MAC_BYTES));
  }

  /**
   * Builds a cookie reply to a handshake message (call only after checkMac1 passed).
   * @param msg the initiation or response being answered (its mac1 is the XAEAD AAD)
   * @param senderIndex that message's sender index (the reply's receiver field)
   * @returns 64 bytes: type 3 ‖ receiver ‖ nonce ‖ encrypted cookie
   * @throws TsplaneError WG_ERR_COOKIE when msg is not a handshake message or no key is set
   */
  createReply(msg: Uint8Array, senderIndex: number, sourceAddr: Uint8Array, now: MonotonicMs): Uint8Array {
    const off = macOffsets(msg);
    if (off === undefined || this.#cookieKey === undefined) throw new TsplaneError('WG_ERR_COOKIE', 'createReply needs a handshake message and a local key');
    if (!this.#secretIsLive(now)) {
      // R_secret changes every COOKIE_REFRESH_TIME (whitepaper §5.4.7)
      this.#rng.fill(this.#secret);
      this.#secretSetAt = now;
    }
    const reply = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    writeMessageType(reply, MESSAGE_TYPE_COOKIE_REPLY);
    writeU32le(reply, COOKIE_REPLY_RECEIVER_OFFSET, senderIndex);
    const nonce = reply.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_NONCE_OFFSET + XAEAD_NONCE_BYTES);
    this.#rng.fill(nonce);
    // τ = MAC(R_secret, source address); msg.encrypted_cookie = XAEAD(HASH(LABEL_COOKIE ‖ S_pub), nonce, τ, mac1)
    const cookie = mac(this.#secret, sourceAddr);
    const sealed = xaeadSeal(this.#cookieKey, nonce, cookie, msg.subarray(off.mac1, off.mac2));
    wipe(cookie);
    reply.set(sealed, COOKIE_REPLY_COOKIE_OFFSET);
    return reply;
  }

  #secretIsLive(now: MonotonicMs): boolean {
    return this.#secretSetAt !== undefined && now - this.#secretSetAt <= COOKIE_REFRESH_TIME_MS;
  }
}

/** Adds mac1/mac2 to our outgoing handshakes to one peer and consumes its cookie replies. One per peer. */
export class CookieGenerator {
  readonly #mac1Key: Uint8Array;
  readonly #cookieKey: Uint8Array;
  readonly #cookie = new Uint8Array(MAC_BYTES);
  #cookieSetAt: MonotonicMs | undefined;
  readonly #lastMac1 = new Uint8Array(MAC_BYTES);
  #hasLastMac1 = false;

  /** @param remotePublicKey the peer's static public key */
  constructor(remotePublicKey: Uint8Array) {
    this.#mac1Key = mac1Key(remotePublicKey);
    this.#cookieKey = cookieKey(remotePublicKey);
  }

  /**
   * Writes mac1, and mac2 when a fresh cookie is held (else zeros), into a 148/92-byte message
   * in place. Remembers mac1 so a cookie reply to this message can be decrypted.
   * @throws TsplaneError WG_ERR_COOKIE when msg is not a handshake message
   */
  addMacs(msg: Uint8Array, now: MonotonicMs): void {
    const off = macOffsets(msg);
    if (off === undefined) throw new TsplaneError('WG_ERR_COOKIE', `addMacs on a ${msg.length}-byte message`);
    // msg.mac1 = MAC(HASH(LABEL_MAC1 ‖ responder.static_public), msg[0:offsetof(msg.mac1)])
    const mac1 = mac(this.#mac1Key, msg.subarray(0, off.mac1));
    msg.set(mac1, off.mac1);
    this.#lastMac1.set(mac1);
    this.#hasLastMac1 = true;
    // if (initiator.last_received_cookie is empty or expired) msg.mac2 = [zeros]
    // else msg.mac2 = MAC(initiator.last_received_cookie, msg[0:offsetof(msg.mac2)])
    if (!this.hasCookie(now)) {
      msg.fill(0, off.mac2, off.mac2 + MAC_BYTES);
    } else {
      msg.set(mac(this.#cookie, msg.subarray(0, off.mac2)), off.mac2);
    }
  }

  /**
   * Decrypts a 64-byte cookie reply with the mac1 we last sent and stores the cookie. Per
   * wireguard.md §1.3 the caller must not roam, retransmit or touch timers on a reply.
   * @returns false when it does not decrypt, or no handshake was sent since the last reply
   */
  consumeReply(reply: Uint8Array, now: MonotonicMs): boolean {
    if (reply.length !== MESSAGE_COOKIE_REPLY_SIZE || reply[0] !== MESSAGE_TYPE_COOKIE_REPLY || !this.#hasLastMac1) return false;
    const nonce = reply.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_NONCE_OFFSET + XAEAD_NONCE_BYTES);
    const sealed = reply.subarray(COOKIE_REPLY_COOKIE_OFFSET, COOKIE_REPLY_COOKIE_OFFSET + ENCRYPTED_COOKIE_BYTES);
    const cookie = xaeadOpen(this.#cookieKey, nonce, sealed, this.#lastMac1);
    if (cookie === undefined || cookie.length !== MAC_BYTES) return false;
    this.#cookie.set(cookie);
    wipe(cookie);
    this.#cookieSetAt = now;
    // One reply per handshake sent (wg-go sets hasLastMAC1 = false).
    this.#hasLastMac1 = false;
    return true;
  }

  /** True while a received cookie is fresh enough to be used for mac2. */
  hasCookie(now: MonotonicMs): boolean {
    return this.#cookieSetAt !== undefined && now - this.#cookieSetAt <= COOKIE_REFRESH_TIME_MS - COOKIE_SECRET_LATENCY_MS;
  }
}
