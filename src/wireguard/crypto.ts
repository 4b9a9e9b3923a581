/**
 * WireGuard's primitives (whitepaper §5.4, "Cryptographic primitives"):
 *   HASH(x)        = BLAKE2s(x), 32 bytes
 *   MAC(key, x)    = Keyed-BLAKE2s(key, x), 16 bytes
 *   HMAC(key, x)   = HMAC-BLAKE2s(key, x), 32 bytes
 *   KDFn(key, x)   = n outputs τ1..τn: τ0 = HMAC(key, x), τi = HMAC(τ0, τ(i-1) ‖ i)
 *   DH(priv, pub)  = X25519; an all-zero result (a low-order public key) is rejected
 *   AEAD(k, n, p, a)  = ChaCha20-Poly1305 with nonce 0x00000000 ‖ LE64(n)  (RFC 8439)
 *   XAEAD(k, n, p, a) = XChaCha20-Poly1305 with a 24-byte nonce (cookie replies)
 *
 * One implementation per primitive, chosen by measurement (bench/wireguard/crypto.bench.ts),
 * and one pure-JS reference backend it is checked against by the tests and every file in
 * vectors/:
 * - HASH, MAC, HMAC, KDF: blake2s.ts (unrolled BLAKE2s over preallocated scratch; 3–10× noble,
 *   about 3.5× node:crypto's createHmac('blake2s256')). Reference: @noble/hashes, in tests
 *   (test/reference/blake2s-reference.ts).
 * - DH: x25519.ts `defaultX25519`, node:crypto (OpenSSL) after an RFC 7748 §6.1 self-check.
 *   Reference: `nobleX25519` (@noble/curves).
 * - Transport AEAD: `nodeAead`, node:crypto (several times faster than pure JS on 1420-byte
 *   packets, STYLE.md). Reference: `nobleAead` (@noble/ciphers).
 * - XAEAD (cookie replies, rare): `xaeadSeal`/`xaeadOpen` through @noble/ciphers; `nodeXaead`
 *   (HChaCha20 here plus node:crypto) is the independent second backend the vectors also use.
 */
import { createCipheriv, createDecipheriv, type CipherChaCha20Poly1305Options } from 'node:crypto';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { defaultX25519 } from './x25519.js';

export { blake2sHash as hash, blake2sMac as mac, hmacBlake2sFast as hmacBlake2s, kdfFast as kdf } from './blake2s.js';
export { defaultX25519, nobleX25519, nodeX25519, type X25519 as X25519Backend } from './x25519.js';

export const KEY_BYTES = 32;
export const HASH_BYTES = 32;
export const MAC_BYTES = 16;
export const AEAD_TAG_BYTES = 16;
/** ChaCha20-Poly1305 nonce: 4 zero bytes ‖ LE64 counter (RFC 8439 §2.8 nonce, WireGuard layout). */
export const AEAD_NONCE_BYTES = 12;
export const XAEAD_NONCE_BYTES = 24;

/** A private key from 32 random bytes, clamped (a copy; `random32` is left as is). */
export function generatePrivateKey(random32: Uint8Array): Uint8Array {
  // X25519 clamping (RFC 7748 §5), as `wg genkey` does.
  const k = Uint8Array.from(random32);
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

/** The public key X25519(privateKey, 9), through `defaultX25519`. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return defaultX25519.publicKeyOf(privateKey);
}

/** DH(priv, pub) through `defaultX25519`; `undefined` when the result is all zeros (low-order point) or a key is malformed. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  return defaultX25519.dh(privateKey, publicKey);
}

/** The AEAD used by handshakes and transport data. Implementations never throw on bad input. */
export interface Aead {
  readonly name: string;
  /**
   * Encrypts `plaintext` under (key, counter) and returns ciphertext ‖ 16-byte tag. With `out`
   * (at least plaintext.length + 16 bytes) the result is written there and a view of it returned.
   */
  seal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array;
  /**
   * Authenticates then decrypts; `undefined` when the tag does not verify. With `out` the
   * plaintext is written there and a view of it returned; an `out` shorter than
   * ciphertext.length − 16 also gives `undefined` (never a throw: the length is the sender's).
   */
  open(key: Uint8Array, counter: bigint, ciphertext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array | undefined;
}

/** An AEAD backend that also takes a raw 12-byte nonce (RFC 8439 vectors use non-WireGuard nonces). */
export interface AeadBackend extends Aead {
  sealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array;
  openWithNonce(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array | undefined;
}

/** 12-byte nonce: 32 bits of zeros followed by the 64-bit little-endian counter. */
export function aeadNonce(counter: bigint, out: Uint8Array = new Uint8Array(AEAD_NONCE_BYTES)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, AEAD_NONCE_BYTES);
  v.setUint32(0, 0, true);
  v.setBigUint64(4, counter, true);
  return out;
}

/**
 * One nonce buffer for the node backend: createCipheriv copies the IV, so reusing it is safe
 * and saves an allocation plus a DataView per packet. Single-threaded JS: no one else writes it
 * between the fill and the createCipheriv call.
 */
const scratchNonce = new Uint8Array(AEAD_NONCE_BYTES);
const scratchNonceView = new DataView(scratchNonce.buffer);
function counterNonce(counter: bigint): Uint8Array {
  scratchNonceView.setBigUint64(4, counter, true); // bytes 0..3 stay zero
  return scratchNonce;
}

const NODE_AEAD_OPTIONS: CipherChaCha20Poly1305Options = { authTagLength: AEAD_TAG_BYTES };
const EMPTY = new Uint8Array(0);

function nodeSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, NODE_AEAD_OPTIONS);
  if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  const sealed = out ? out.subarray(0, body.length + AEAD_TAG_BYTES) : new Uint8Array(body.length + AEAD_TAG_BYTES);
  sealed.set(body, 0);
  sealed.set(c.getAuthTag(), body.length);
  return sealed;
}

function nodeOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < AEAD_TAG_BYTES || key.length !== KEY_BYTES) return undefined;
  const bodyLen = ciphertext.length - AEAD_TAG_BYTES;
  if (out !== undefined && out.length < bodyLen) return undefined; // a peer's oversized packet is a drop, not a throw
  const d = createDecipheriv('chacha20-poly1305', key, nonce, NODE_AEAD_OPTIONS);
  d.setAuthTag(ciphertext.subarray(bodyLen));
  if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
  const body = d.update(ciphertext.subarray(0, bodyLen));
  try {
    d.final();
  } catch {
    body.fill(0); // unauthenticated plaintext never leaves
    return undefined; // tag mismatch: OpenSSL reports it only by throwing here
  }
  if (out) {
    const view = out.subarray(0, bodyLen);
    view.set(body);
    body.fill(0);
    return view;
  }
  return asBytes(body);
}

/** ChaCha20-Poly1305 through node:crypto (OpenSSL): the hot-path backend. */
export const nodeAead: AeadBackend = {
  name: 'node:crypto',
  seal: (key, counter, plaintext, aad, out) => nodeSeal(key, counterNonce(counter), plaintext, aad, out),
  open: (key, counter, ciphertext, aad, out) => nodeOpen(key, counterNonce(counter), ciphertext, aad, out),
  sealWithNonce: nodeSeal,
  openWithNonce(key, nonce, ciphertext, aad, out) {
    return nonce.length === AEAD_NONCE_BYTES ? nodeOpen(key, nonce, ciphertext, aad, out) : undefined;
  },
};

function nobleSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array {
  const c = chacha20poly1305(key, nonce, aad.length > 0 ? aad : EMPTY);
  return out ? c.encrypt(plaintext, out.subarray(0, plaintext.length + AEAD_TAG_BYTES)) : c.encrypt(plaintext);
}

function nobleOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, out?: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < AEAD_TAG_BYTES || key.length !== KEY_BYTES || nonce.length !== AEAD_NONCE_BYTES) return undefined;
  try {
    const c = chacha20poly1305(key, nonce, aad.length > 0 ? aad : EMPTY);
    return out ? c.decrypt(ciphertext, out.subarray(0, ciphertext.length - AEAD_TAG_BYTES)) : c.decrypt(ciphertext);
  } catch {
    return undefined;
  }
}

/** ChaCha20-Poly1305 through @noble/ciphers: the pure-JS reference backend. */
export const nobleAead: AeadBackend = {
  name: '@noble/ciphers',
  seal: (key, counter, plaintext, aad, out) => nobleSeal(key, aeadNonce(counter), plaintext, aad, out),
  open: (key, counter, ciphertext, aad, out) => nobleOpen(key, aeadNonce(counter), ciphertext, aad, out),
  sealWithNonce: nobleSeal,
  openWithNonce: nobleOpen,
};

/** XAEAD: XChaCha20-Poly1305 (cookie replies). */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < AEAD_TAG_BYTES || nonce.length !== XAEAD_NONCE_BYTES || key.length !== KEY_BYTES) return undefined;
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}

/** An XChaCha20-Poly1305 implementation (24-byte nonce); `open` never throws. */
export interface XAead {
  readonly name: string;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

/** XChaCha20-Poly1305 through @noble/ciphers: what xaeadSeal/xaeadOpen use. */
export const nobleXaead: XAead = { name: '@noble/ciphers', seal: xaeadSeal, open: xaeadOpen };

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the ChaCha20 block function's 20 rounds over
 * constants ‖ key ‖ 16-byte nonce, without the final addition; the subkey is state words 0..3
 * and 12..15, little-endian.
 */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const kv = new DataView(key.buffer, key.byteOffset, KEY_BYTES);
  const nv = new DataView(nonce16.buffer, nonce16.byteOffset, 16);
  // "expand 32-byte k" (RFC 8439 §2.3)
  const x = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (let i = 0; i < 8; i++) x[4 + i] = kv.getUint32(4 * i, true);
  for (let i = 0; i < 4; i++) x[12 + i] = nv.getUint32(4 * i, true);
  const qr = (a: number, b: number, c: number, d: number): void => {
    // RFC 8439 §2.1 quarter round
    x[a] = (x[a]! + x[b]!) >>> 0; x[d] = rotl(x[d]! ^ x[a]!, 16);
    x[c] = (x[c]! + x[d]!) >>> 0; x[b] = rotl(x[b]! ^ x[c]!, 12);
    x[a] = (x[a]! + x[b]!) >>> 0; x[d] = rotl(x[d]! ^ x[a]!, 8);
    x[c] = (x[c]! + x[d]!) >>> 0; x[b] = rotl(x[b]! ^ x[c]!, 7);
  };
  for (let round = 0; round < 10; round++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15); // columns
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14); // diagonals
  }
  const out = new Uint8Array(KEY_BYTES);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) {
    ov.setUint32(4 * i, x[i]!, true);
    ov.setUint32(16 + 4 * i, x[12 + i]!, true);
  }
  x.fill(0);
  return out;
}

function rotl(v: number, n: number): number {
  return ((v << n) | (v >>> (32 - n))) >>> 0;
}

/** The XChaCha nonce split (draft-irtf-cfrg-xchacha §2.3): subkey from bytes 0..15, nonce 0000 ‖ bytes 16..23. */
function xchachaParts(key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array; nonce12: Uint8Array } {
  const nonce12 = new Uint8Array(AEAD_NONCE_BYTES);
  nonce12.set(nonce.subarray(16, XAEAD_NONCE_BYTES), 4);
  return { subkey: hchacha20(key, nonce.subarray(0, 16)), nonce12 };
}

/** XChaCha20-Poly1305 as HChaCha20 (above) plus node:crypto ChaCha20-Poly1305: a second, independent XAEAD. */
export const nodeXaead: XAead = {
  name: 'hchacha20 + node:crypto',
  seal(key, nonce, plaintext, aad) {
    const { subkey, nonce12 } = xchachaParts(key, nonce);
    const sealed = nodeAead.sealWithNonce(subkey, nonce12, plaintext, aad);
    subkey.fill(0);
    return sealed;
  },
  open(key, nonce, ciphertext, aad) {
    if (nonce.length !== XAEAD_NONCE_BYTES || key.length !== KEY_BYTES) return undefined;
    const { subkey, nonce12 } = xchachaParts(key, nonce);
    const opened = nodeAead.openWithNonce(subkey, nonce12, ciphertext, aad);
    subkey.fill(0);
    return opened;
  },
};

/** A plain Uint8Array view of a Buffer (no copy), so Buffer never leaks out of this module. */
function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

