/**
 * The Noise_IKpsk2 handshake of WireGuard (whitepaper §5.4.2–§5.4.5; docs/wireguard.md §1.2),
 * sans-IO: bytes, the wall-clock time and an `Rng` in; messages, typed drops and session keys out.
 * Function names follow the kernel's verbs (wg_noise_handshake_{create,consume}_{initiation,
 * response}, wg_noise_handshake_begin_session). Each step carries the whitepaper's pseudocode
 * line above the code that implements it.
 *
 * What this module does NOT do (the caller, i.e. the device, does):
 * - mac1/mac2 (cookie.ts): created messages carry zero MACs; check mac1 before calling consume*.
 * - the index table: the caller allocates `localIndex` values and maps them to handshakes and
 *   keypairs. `createInitiation`/`createResponse` replace `hs.localIndex`; the caller should drop
 *   the previous index from its table first.
 * - the per-peer initiation flood check, unless `nowMs` is passed to `consumeInitiation`.
 *
 * The per-peer state (`Handshake`, C0/H0, `SessionKeys`) is defined in handshake-state.ts and
 * re-exported here, so callers import everything from this module.
 *
 * Secrets: ephemeral private keys, chaining keys and intermediate AEAD keys are wiped when the
 * handshake is cleared or a session begins. The greatest accepted timestamp survives `clear()`
 * (wg-go Handshake.Clear keeps it too), so a replay stays rejected across sessions.
 */
import type { Rng } from '../runtime/rng.js';
import type { MonotonicMs } from '../runtime/clock.js';
import { constantTimeEqual, wipe } from '../runtime/bytes.js';
import { TsplaneError } from '../runtime/errors.js';
import type { DropReason } from './device-api.js';
// crypto.ts picks one implementation per primitive: unrolled BLAKE2s (blake2s.ts), OpenSSL
// X25519 (x25519.ts) and OpenSSL ChaCha20-Poly1305; each is cross-checked against noble in tests.
import { dh, generatePrivateKey, hash, kdf, KEY_BYTES, nodeAead, publicKeyOf } from './crypto.js';
import {
  ENCRYPTED_NOTHING_BYTES,
  ENCRYPTED_STATIC_BYTES,
  ENCRYPTED_TIMESTAMP_BYTES,
  INITIATION_EPHEMERAL_OFFSET,
  INITIATION_MIN_INTERVAL_MS,
  INITIATION_SENDER_OFFSET,
  INITIATION_STATIC_OFFSET,
  INITIATION_TIMESTAMP_OFFSET,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TYPE_INITIATION,
  MESSAGE_TYPE_RESPONSE,
  RESPONSE_EMPTY_OFFSET,
  RESPONSE_EPHEMERAL_OFFSET,
  RESPONSE_RECEIVER_OFFSET,
  RESPONSE_SENDER_OFFSET,
  TAI64N_BYTES,
} from './constants.js';
import { readU32le, writeMessageType, writeU32le } from './messages.js';
import { tai64nAfter, tai64nEncode } from './tai64n.js';
import {
  HANDSHAKE_STATE as STATE,
  Handshake,
  hashWithStatic,
  INITIAL_CHAINING_KEY,
  type SessionKeys,
  type StaticIdentity,
} from './handshake-state.js';

const EMPTY = new Uint8Array(0);
const aead = nodeAead;

export {
  Handshake,
  INITIAL_CHAINING_KEY,
  INITIAL_HASH,
  type HandshakeState,
  type SessionKeys,
  type StaticIdentity,
} from './handshake-state.js';

/** KDF1 that wipes the chaining key it replaces (never the shared constant C0). */
function mixKey1(c: Uint8Array, input: Uint8Array): Uint8Array {
  const [next] = kdf(1, c, input) as [Uint8Array];
  if (c !== INITIAL_CHAINING_KEY) wipe(c);
  return next;
}
/**
 * The pre-shared key step, the same on both sides (whitepaper §5.4.3): temp = HMAC(C, Q);
 * C = HMAC(temp, 0x1); τ = HMAC(temp, C ‖ 0x2); key = HMAC(temp, τ ‖ 0x3); H = HASH(H ‖ τ).
 * Returns the new chaining key, hash and AEAD key; the old chaining key and τ are wiped.
 */
function mixPresharedKey(c: Uint8Array, h: Uint8Array, psk: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [next, tau, key] = kdf(3, c, psk) as [Uint8Array, Uint8Array, Uint8Array];
  wipe(c);
  const nextHash = hash(h, tau);
  wipe(tau);
  return [next, nextHash, key];
}
function mixKey2(c: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [next, key] = kdf(2, c, input) as [Uint8Array, Uint8Array];
  if (c !== INITIAL_CHAINING_KEY) wipe(c);
  return [next, key];
}

function ephemeralKeyPair(rng: Rng): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const random = rng.fill(new Uint8Array(KEY_BYTES));
  const privateKey = generatePrivateKey(random);
  wipe(random);
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/**
 * Creates a handshake initiation (whitepaper §5.4.2) and moves `hs` to `initiationCreated`.
 * @param localIndex fresh random sender index allocated by the caller's index table
 * @param nowWallMs wall-clock ms since the epoch, encoded as TAI64N
 * @returns 148 bytes with mac1 and mac2 zero (CookieGenerator.addMacs fills them)
 * @throws TsplaneError WG_ERR_HANDSHAKE_INVALID when `hs.isValid` is false
 */
export function createInitiation(hs: Handshake, localIndex: number, nowWallMs: number, rng: Rng): Uint8Array {
  const s = hs[STATE];
  if (s.staticStatic === undefined || s.local === undefined) throw new TsplaneError('WG_ERR_HANDSHAKE_INVALID', 'no private key or low-order peer key');
  hs.clear();
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  writeMessageType(msg, MESSAGE_TYPE_INITIATION);
  writeU32le(msg, INITIATION_SENDER_OFFSET, localIndex);

  // initiator.chaining_key = HASH(CONSTRUCTION)
  let c = INITIAL_CHAINING_KEY;
  // initiator.hash = HASH(HASH(initiator.chaining_key ‖ IDENTIFIER) ‖ responder.static_public)  (precomputed)
  let h = s.initiatorHash;
  // initiator.ephemeral_private = DH_GENERATE()
  const e = ephemeralKeyPair(rng);
  // msg.unencrypted_ephemeral = DH_PUBKEY(initiator.ephemeral_private)
  msg.set(e.publicKey, INITIATION_EPHEMERAL_OFFSET);
  // initiator.hash = HASH(initiator.hash ‖ msg.unencrypted_ephemeral)
  h = hash(h, e.publicKey);
  // temp = HMAC(initiator.chaining_key, msg.unencrypted_ephemeral); initiator.chaining_key = HMAC(temp, 0x1)
  c = mixKey1(c, e.publicKey);
  // temp = HMAC(initiator.chaining_key, DH(initiator.ephemeral_private, responder.static_public))
  // initiator.chaining_key = HMAC(temp, 0x1); key = HMAC(temp, initiator.chaining_key ‖ 0x2)
  const es = dh(e.privateKey, hs.remoteStatic);
  if (es === undefined) throw new TsplaneError('WG_ERR_HANDSHAKE_INVALID', 'low-order peer key'); // unreachable: staticStatic was non-zero
  let key: Uint8Array;
  [c, key] = mixKey2(c, es);
  // msg.encrypted_static = AEAD(key, 0, initiator.static_public, initiator.hash)
  const encryptedStatic = aead.seal(key, 0n, s.local.publicKey, h);
  msg.set(encryptedStatic, INITIATION_STATIC_OFFSET);
  // initiator.hash = HASH(initiator.hash ‖ msg.encrypted_static)
  h = hash(h, encryptedStatic);
  wipe(key, es);
  // temp = HMAC(initiator.chaining_key, DH(initiator.static_private, responder.static_public))  (precomputed DH)
  // initiator.chaining_key = HMAC(temp, 0x1); key = HMAC(temp, initiator.chaining_key ‖ 0x2)
  [c, key] = mixKey2(c, s.staticStatic);
  // msg.encrypted_timestamp = AEAD(key, 0, TAI64N(), initiator.hash)
  const encryptedTimestamp = aead.seal(key, 0n, tai64nEncode(nowWallMs), h);
  msg.set(encryptedTimestamp, INITIATION_TIMESTAMP_OFFSET);
  // initiator.hash = HASH(initiator.hash ‖ msg.encrypted_timestamp)
  h = hash(h, encryptedTimestamp);
  wipe(key);

  s.hash = h;
  s.chainingKey = c;
  s.localEphemeral = e.privateKey;
  s.localIndex = localIndex >>> 0;
  s.state = 'initiationCreated';
  return msg;
}

/** Result of {@link consumeInitiation}. */
export type ConsumeInitiationResult = { type: 'ok'; handshake: Handshake; remoteIndex: number } | { type: 'drop'; reason: DropReason };

/**
 * Consumes a handshake initiation (whitepaper §5.4.2, responder side). On success the peer's
 * handshake moves to `initiationConsumed`; on any failure no state changes.
 * Check mac1 (CookieChecker.checkMac1) before calling: this does DH work.
 * @param local our static identity
 * @param msg a 148-byte initiation (parseMessage has classified it)
 * @param findPeer looks up a configured peer by the decrypted static public key
 * @param nowMs monotonic time; when given, also applies the per-peer flood check (at most one
 *   initiation per INITIATION_MIN_INTERVAL_MS = 20 ms, dropped as `rate-limited`). When omitted,
 *   the caller must apply that check itself.
 * @returns drops: `bad-length`, `low-order-key`, `decrypt-failed`, `unknown-peer`,
 *   `stale-timestamp` (replay: TAI64N not strictly newer), `rate-limited` (flood)
 */
export function consumeInitiation(
  local: StaticIdentity,
  msg: Uint8Array,
  findPeer: (remoteStatic: Uint8Array) => Handshake | undefined,
  nowMs?: MonotonicMs,
): ConsumeInitiationResult {
  if (msg.length !== MESSAGE_INITIATION_SIZE || readU32le(msg, 0) !== MESSAGE_TYPE_INITIATION) return { type: 'drop', reason: 'bad-length' };
  // A copy, not a view: x25519.ts caches the imported key of a standalone array for the next DH.
  const ephemeral = msg.slice(INITIATION_EPHEMERAL_OFFSET, INITIATION_EPHEMERAL_OFFSET + KEY_BYTES);
  const encryptedStatic = msg.subarray(INITIATION_STATIC_OFFSET, INITIATION_STATIC_OFFSET + ENCRYPTED_STATIC_BYTES);
  const encryptedTimestamp = msg.subarray(INITIATION_TIMESTAMP_OFFSET, INITIATION_TIMESTAMP_OFFSET + ENCRYPTED_TIMESTAMP_BYTES);

  // responder.chaining_key = HASH(CONSTRUCTION)
  let c = INITIAL_CHAINING_KEY;
  // responder.hash = HASH(HASH(responder.chaining_key ‖ IDENTIFIER) ‖ responder.static_public)  (cached per identity)
  let h = hashWithStatic(local);
  // responder.hash = HASH(responder.hash ‖ msg.unencrypted_ephemeral)
  h = hash(h, ephemeral);
  // temp = HMAC(responder.chaining_key, msg.unencrypted_ephemeral); responder.chaining_key = HMAC(temp, 0x1)
  c = mixKey1(c, ephemeral);
  // temp = HMAC(responder.chaining_key, DH(responder.static_private, msg.unencrypted_ephemeral))
  // responder.chaining_key = HMAC(temp, 0x1); key = HMAC(temp, responder.chaining_key ‖ 0x2)
  const se = dh(local.privateKey, ephemeral);
  if (se === undefined) {
    wipe(c);
    return { type: 'drop', reason: 'low-order-key' };
  }
  let key: Uint8Array;
  [c, key] = mixKey2(c, se);
  wipe(se);
  // initiator.static_public = AEAD_DECRYPT(key, 0, msg.encrypted_static, responder.hash)
  const peerStatic = aead.open(key, 0n, encryptedStatic, h);
  wipe(key);
  if (peerStatic === undefined) {
    wipe(c);
    return { type: 'drop', reason: 'decrypt-failed' };
  }
  // responder.hash = HASH(responder.hash ‖ msg.encrypted_static)
  h = hash(h, encryptedStatic);

  const hs = findPeer(peerStatic);
  if (hs === undefined || !constantTimeEqual(hs.remoteStatic, peerStatic)) {
    wipe(c);
    return { type: 'drop', reason: 'unknown-peer' };
  }
  const s = hs[STATE];
  if (s.staticStatic === undefined) {
    wipe(c);
    return { type: 'drop', reason: 'low-order-key' };
  }
  // temp = HMAC(responder.chaining_key, DH(responder.static_private, initiator.static_public))  (precomputed DH)
  // responder.chaining_key = HMAC(temp, 0x1); key = HMAC(temp, responder.chaining_key ‖ 0x2)
  [c, key] = mixKey2(c, s.staticStatic);
  // timestamp = AEAD_DECRYPT(key, 0, msg.encrypted_timestamp, responder.hash)
  const timestamp = aead.open(key, 0n, encryptedTimestamp, h);
  wipe(key);
  if (timestamp === undefined || timestamp.length !== TAI64N_BYTES) {
    wipe(c);
    return { type: 'drop', reason: 'decrypt-failed' };
  }
  // responder.hash = HASH(responder.hash ‖ msg.encrypted_timestamp)
  h = hash(h, encryptedTimestamp);

  // Replay protection (whitepaper §5.1): the timestamp must be strictly newer than the last one accepted.
  if (!tai64nAfter(timestamp, s.lastTimestamp)) {
    wipe(c);
    return { type: 'drop', reason: 'stale-timestamp' };
  }
  // Flood protection (wg-go HandshakeInitationRate, kernel INITIATIONS_PER_SECOND).
  if (nowMs !== undefined && s.lastInitiationConsumedMs !== undefined && nowMs - s.lastInitiationConsumedMs < INITIATION_MIN_INTERVAL_MS) {
    wipe(c);
    return { type: 'drop', reason: 'rate-limited' };
  }

  const remoteIndex = readU32le(msg, INITIATION_SENDER_OFFSET);
  // Any in-flight handshake of ours is superseded; its index stays in the caller's table but
  // responses to it no longer match the state.
  wipe(s.localEphemeral, s.remoteEphemeral, s.chainingKey, s.hash);
  s.localEphemeral = undefined;
  s.hash = h;
  s.chainingKey = c;
  s.remoteEphemeral = ephemeral;
  s.remoteIndex = remoteIndex;
  s.lastTimestamp = timestamp;
  if (nowMs !== undefined) s.lastInitiationConsumedMs = nowMs;
  s.state = 'initiationConsumed';
  return { type: 'ok', handshake: hs, remoteIndex };
}

/**
 * Creates the handshake response (whitepaper §5.4.3) to the initiation just consumed, and moves
 * `hs` to `responseCreated`.
 * @param localIndex fresh random sender index allocated by the caller's index table
 * @returns 92 bytes with mac1 and mac2 zero
 * @throws TsplaneError WG_ERR_HANDSHAKE_STATE unless `hs.state` is `initiationConsumed`
 */
export function createResponse(hs: Handshake, localIndex: number, rng: Rng): Uint8Array {
  const s = hs[STATE];
  if (s.state !== 'initiationConsumed' || s.hash === undefined || s.chainingKey === undefined || s.remoteEphemeral === undefined || s.remoteIndex === undefined) {
    throw new TsplaneError('WG_ERR_HANDSHAKE_STATE', `createResponse in state ${s.state}`);
  }
  const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  writeMessageType(msg, MESSAGE_TYPE_RESPONSE);
  writeU32le(msg, RESPONSE_SENDER_OFFSET, localIndex);
  // msg.receiver_index = little_endian(initiator.sender_index)
  writeU32le(msg, RESPONSE_RECEIVER_OFFSET, s.remoteIndex);

  let c = s.chainingKey;
  let h = s.hash;
  // responder.ephemeral_private = DH_GENERATE()
  const e = ephemeralKeyPair(rng);
  // msg.unencrypted_ephemeral = DH_PUBKEY(responder.ephemeral_private)
  msg.set(e.publicKey, RESPONSE_EPHEMERAL_OFFSET);
  // responder.hash = HASH(responder.hash ‖ msg.unencrypted_ephemeral)
  h = hash(h, e.publicKey);
  // temp = HMAC(responder.chaining_key, msg.unencrypted_ephemeral); responder.chaining_key = HMAC(temp, 0x1)
  c = mixKey1(c, e.publicKey);
  // temp = HMAC(responder.chaining_key, DH(responder.ephemeral_private, initiator.ephemeral_public)); responder.chaining_key = HMAC(temp, 0x1)
  const ee = dh(e.privateKey, s.remoteEphemeral);
  // temp = HMAC(responder.chaining_key, DH(responder.ephemeral_private, initiator.static_public)); responder.chaining_key = HMAC(temp, 0x1)
  const es = dh(e.privateKey, hs.remoteStatic);
  wipe(e.privateKey);
  // Unreachable: consumeInitiation rejected a low-order initiator ephemeral, and isValid a low-order static.
  if (ee === undefined || es === undefined) throw new TsplaneError('WG_ERR_HANDSHAKE_INVALID', 'low-order key in createResponse');
  c = mixKey1(c, ee);
  c = mixKey1(c, es);
  wipe(ee, es);
  // responder.chaining_key, responder.hash and key from the preshared key (mixPresharedKey)
  const [c3, h3, key] = mixPresharedKey(c, h, s.presharedKey);
  c = c3;
  h = h3;
  // msg.encrypted_nothing = AEAD(key, 0, ε, responder.hash)
  const encryptedNothing = aead.seal(key, 0n, EMPTY, h);
  wipe(key);
  msg.set(encryptedNothing, RESPONSE_EMPTY_OFFSET);
  // responder.hash = HASH(responder.hash ‖ msg.encrypted_nothing)
  h = hash(h, encryptedNothing);

  wipe(s.hash, s.remoteEphemeral);
  s.remoteEphemeral = undefined;
  s.hash = h;
  s.chainingKey = c;
  s.localIndex = localIndex >>> 0;
  s.state = 'responseCreated';
  return msg;
}

/** Result of {@link consumeResponse}. */
export type ConsumeResponseResult = { type: 'ok'; handshake: Handshake } | { type: 'drop'; reason: DropReason };

/**
 * Consumes a handshake response (whitepaper §5.4.3, initiator side). On success the handshake
 * moves to `responseConsumed`; on failure nothing changes, so a forged response cannot disturb
 * the handshake in flight. Check mac1 before calling.
 * @param findByIndex the caller's index table: receiver index → handshake in flight
 * @returns drops: `bad-length`, `unknown-index` (no handshake or not awaiting a response),
 *   `low-order-key`, `decrypt-failed` (wrong keys or PSK, or any modified byte)
 */
export function consumeResponse(
  local: StaticIdentity,
  msg: Uint8Array,
  findByIndex: (receiverIndex: number) => Handshake | undefined,
): ConsumeResponseResult {
  if (msg.length !== MESSAGE_RESPONSE_SIZE || readU32le(msg, 0) !== MESSAGE_TYPE_RESPONSE) return { type: 'drop', reason: 'bad-length' };
  const receiverIndex = readU32le(msg, RESPONSE_RECEIVER_OFFSET);
  const hs = findByIndex(receiverIndex);
  if (hs === undefined) return { type: 'drop', reason: 'unknown-index' };
  const s = hs[STATE];
  if (s.state !== 'initiationCreated' || s.localIndex !== receiverIndex || s.hash === undefined || s.chainingKey === undefined || s.localEphemeral === undefined) {
    return { type: 'drop', reason: 'unknown-index' };
  }
  // A copy, not a view: both DHs below then share one imported key (x25519.ts cache).
  const ephemeral = msg.slice(RESPONSE_EPHEMERAL_OFFSET, RESPONSE_EPHEMERAL_OFFSET + KEY_BYTES);
  const encryptedNothing = msg.subarray(RESPONSE_EMPTY_OFFSET, RESPONSE_EMPTY_OFFSET + ENCRYPTED_NOTHING_BYTES);

  let h = s.hash;
  // initiator.hash = HASH(initiator.hash ‖ msg.unencrypted_ephemeral)
  h = hash(h, ephemeral);
  // temp = HMAC(initiator.chaining_key, msg.unencrypted_ephemeral); initiator.chaining_key = HMAC(temp, 0x1)
  // (computed on a copy: s.chainingKey must survive a failed attempt)
  let [c] = kdf(1, s.chainingKey, ephemeral) as [Uint8Array];
  // temp = HMAC(initiator.chaining_key, DH(initiator.ephemeral_private, responder.ephemeral_public)); initiator.chaining_key = HMAC(temp, 0x1)
  const ee = dh(s.localEphemeral, ephemeral);
  // temp = HMAC(initiator.chaining_key, DH(initiator.static_private, responder.ephemeral_public)); initiator.chaining_key = HMAC(temp, 0x1)
  const se = dh(local.privateKey, ephemeral);
  if (ee === undefined || se === undefined) {
    wipe(c, ee, se);
    return { type: 'drop', reason: 'low-order-key' };
  }
  c = mixKey1(c, ee);
  c = mixKey1(c, se);
  wipe(ee, se);
  // initiator.chaining_key, initiator.hash and key from the preshared key (mixPresharedKey)
  const [c3, h3, key] = mixPresharedKey(c, h, s.presharedKey);
  c = c3;
  h = h3;
  // AEAD_DECRYPT(key, 0, msg.encrypted_nothing, initiator.hash)
  const nothing = aead.open(key, 0n, encryptedNothing, h);
  wipe(key);
  if (nothing === undefined) {
    wipe(c);
    return { type: 'drop', reason: 'decrypt-failed' };
  }
  // initiator.hash = HASH(initiator.hash ‖ msg.encrypted_nothing)
  h = hash(h, encryptedNothing);

  wipe(s.hash, s.chainingKey, s.localEphemeral);
  s.localEphemeral = undefined;
  s.hash = h;
  s.chainingKey = c;
  s.remoteIndex = readU32le(msg, RESPONSE_SENDER_OFFSET);
  s.state = 'responseConsumed';
  return { type: 'ok', handshake: hs };
}

/**
 * Derives the transport keys once a handshake is complete (whitepaper §5.4.5) and wipes the
 * handshake secrets (the state returns to `zeroed`, `localIndex` to undefined).
 *   temp1 = HMAC(chaining_key, ε); temp2 = HMAC(temp1, 0x1); temp3 = HMAC(temp1, temp2 ‖ 0x2)
 *   initiator: send = temp2, receive = temp3; responder: send = temp3, receive = temp2
 * @returns undefined unless the state is `responseConsumed` (initiator) or `responseCreated` (responder)
 */
export function beginSession(hs: Handshake): SessionKeys | undefined {
  const s = hs[STATE];
  const isInitiator = s.state === 'responseConsumed';
  if (!isInitiator && s.state !== 'responseCreated') return undefined;
  if (s.chainingKey === undefined || s.localIndex === undefined || s.remoteIndex === undefined) return undefined;
  const [t1, t2] = kdf(2, s.chainingKey, EMPTY) as [Uint8Array, Uint8Array];
  const keys: SessionKeys = {
    sendKey: isInitiator ? t1 : t2,
    receiveKey: isInitiator ? t2 : t1,
    localIndex: s.localIndex,
    remoteIndex: s.remoteIndex,
    isInitiator,
  };
  hs.clear();
  return keys;
}
