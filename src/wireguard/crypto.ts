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
 * Transport AEAD goes through node:crypto (OpenSSL, several times faster than pure JS on
 * 1420-byte packets, STYLE.md); @noble/ciphers is a second backend that every vector also runs
 * through. BLAKE2s, keyed BLAKE2s, HMAC and XChaCha20-Poly1305 are not in node:crypto.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { isAllZero } from '../runtime/bytes.js';

export const KEY_BYTES = 32;
export const HASH_BYTES = 32;
export const MAC_BYTES = 16;
export const AEAD_TAG_BYTES = 16;
export const XAEAD_NONCE_BYTES = 24;

export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ dkLen: HASH_BYTES });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output (mac1, mac2, cookies). */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ key, dkLen: MAC_BYTES });
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = hmac.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const ONE = Uint8Array.of(1);

/** KDF1..KDF3 of the whitepaper: returns `n` 32-byte outputs. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmacBlake2s(key, input);
  const out: Uint8Array[] = [];
  let prev = hmacBlake2s(t0, ONE);
  out.push(prev);
  for (let i = 2; i <= n; i++) {
    prev = hmacBlake2s(t0, prev, Uint8Array.of(i));
    out.push(prev);
  }
  t0.fill(0);
  return out;
}

export function generatePrivateKey(random32: Uint8Array): Uint8Array {
  // X25519 clamping (RFC 7748 §5), as `wg genkey` does.
  const k = Uint8Array.from(random32);
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

/** DH(priv, pub); `undefined` when the result is all zeros (low-order point) or the key is malformed. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    return undefined;
  }
  if (isAllZero(shared)) return undefined;
  return shared;
}

/** The AEAD used by handshakes and transport data. Implementations never throw on bad input. */
export interface Aead {
  readonly name: string;
  /** Encrypts `plaintext` under (key, counter) and returns ciphertext ‖ 16-byte tag. */
  seal(key: Uint8Array, counter: bigint, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Authenticates then decrypts; `undefined` when the tag does not verify. */
  open(key: Uint8Array, counter: bigint, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

/** 12-byte nonce: 32 bits of zeros followed by the 64-bit little-endian counter. */
export function aeadNonce(counter: bigint, out: Uint8Array = new Uint8Array(12)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, 12);
  v.setUint32(0, 0, true);
  v.setBigUint64(4, counter, true);
  return out;
}

const EMPTY = new Uint8Array(0);

/** ChaCha20-Poly1305 through node:crypto (OpenSSL): the hot-path backend. */
export const nodeAead: Aead = {
  name: 'node:crypto',
  seal(key, counter, plaintext, aad) {
    const c = createCipheriv('chacha20-poly1305', key, aeadNonce(counter), { authTagLength: AEAD_TAG_BYTES });
    if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    const out = new Uint8Array(body.length + AEAD_TAG_BYTES);
    out.set(body, 0);
    out.set(c.getAuthTag(), body.length);
    return out;
  },
  open(key, counter, ciphertext, aad) {
    if (ciphertext.length < AEAD_TAG_BYTES) return undefined;
    const bodyLen = ciphertext.length - AEAD_TAG_BYTES;
    const d = createDecipheriv('chacha20-poly1305', key, aeadNonce(counter), { authTagLength: AEAD_TAG_BYTES });
    d.setAuthTag(ciphertext.subarray(bodyLen));
    if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
    const body = d.update(ciphertext.subarray(0, bodyLen));
    try {
      d.final();
    } catch {
      return undefined; // tag mismatch: OpenSSL reports it only by throwing here
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  },
};

/** ChaCha20-Poly1305 through @noble/ciphers: the pure-JS reference backend. */
export const nobleAead: Aead = {
  name: '@noble/ciphers',
  seal(key, counter, plaintext, aad) {
    return chacha20poly1305(key, aeadNonce(counter), aad.length > 0 ? aad : EMPTY).encrypt(plaintext);
  },
  open(key, counter, ciphertext, aad) {
    if (ciphertext.length < AEAD_TAG_BYTES) return undefined;
    try {
      return chacha20poly1305(key, aeadNonce(counter), aad.length > 0 ? aad : EMPTY).decrypt(ciphertext);
    } catch {
      return undefined;
    }
  },
};

/** XAEAD: XChaCha20-Poly1305 (cookie replies). */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < AEAD_TAG_BYTES || nonce.length !== XAEAD_NONCE_BYTES) return undefined;
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}
