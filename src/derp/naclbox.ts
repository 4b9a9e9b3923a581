/**
 * NaCl crypto_box (curve25519xsalsa20poly1305), as DERP uses it for ClientInfo and ServerInfo
 * (derp.md §3.3). Per D. J. Bernstein, "Cryptography in NaCl":
 *   k   = HSalsa20(X25519(sk, pk), 0^16)        (crypto_box_beforenm)
 *   box = XSalsa20-Poly1305(k, nonce, m)         (crypto_secretbox: 16B MAC ‖ ciphertext)
 * On the DERP wire a box is laid out as nonce (24) ‖ MAC (16) ‖ ciphertext.
 */
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { wipe } from '../runtime/bytes.js';
import { x25519 } from './x25519.js';
import { BOX_OVERHEAD_BYTES, KEY_BYTES, NONCE_BYTES } from './frame.js';
import type { NodePrivateKey } from './keys.js';

/** "expand 32-byte k" as little-endian words: the Salsa20 sigma constant. */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

/**
 * crypto_box_beforenm: the shared box key HSalsa20(X25519(priv, pub), 0^16). Returns undefined
 * when the X25519 result is all zero (a low-order public key), which no honest peer sends.
 */
export function boxBeforeNm(priv: NodePrivateKey, pub: Uint8Array): Uint8Array | undefined {
  if (pub.length !== KEY_BYTES) return undefined;
  const shared = x25519.sharedSecret(priv, pub);
  if (!shared) return undefined;
  const k = new Uint32Array(8);
  for (let i = 0; i < 8; i++) k[i] = (shared[4 * i]! | (shared[4 * i + 1]! << 8) | (shared[4 * i + 2]! << 16) | (shared[4 * i + 3]! << 24)) >>> 0;
  const out = new Uint32Array(8);
  hsalsa(SIGMA, k, new Uint32Array(4), out);
  const key = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const w = out[i]!;
    key[4 * i] = w & 0xff;
    key[4 * i + 1] = (w >>> 8) & 0xff;
    key[4 * i + 2] = (w >>> 16) & 0xff;
    key[4 * i + 3] = (w >>> 24) & 0xff;
  }
  wipe(shared);
  k.fill(0);
  out.fill(0);
  return key;
}

/** crypto_box with a precomputed key: 16B MAC ‖ ciphertext. */
export function secretboxSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return xsalsa20poly1305(key, nonce).encrypt(plaintext);
}

/** Opens 16B MAC ‖ ciphertext; undefined when the MAC does not verify. */
export function secretboxOpen(key: Uint8Array, nonce: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  if (nonce.length !== NONCE_BYTES || box.length < BOX_OVERHEAD_BYTES) return undefined;
  try {
    return xsalsa20poly1305(key, nonce).decrypt(box);
  } catch {
    return undefined;
  }
}

/** Seals with a precomputed box key; returns nonce(24) ‖ MAC(16) ‖ ciphertext. */
export function sealBoxWithKey(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array | undefined {
  if (nonce.length !== NONCE_BYTES) return undefined;
  const box = secretboxSeal(key, nonce, plaintext);
  const out = new Uint8Array(NONCE_BYTES + box.length);
  out.set(nonce, 0);
  out.set(box, NONCE_BYTES);
  return out;
}

/** Opens nonce(24) ‖ MAC ‖ ciphertext with a precomputed box key; undefined on any failure. */
export function openBoxWithKey(key: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < NONCE_BYTES + BOX_OVERHEAD_BYTES) return undefined;
  return secretboxOpen(key, sealed.subarray(0, NONCE_BYTES), sealed.subarray(NONCE_BYTES));
}

/** Seals `plaintext` from `priv` to `peer`; returns the DERP layout nonce(24) ‖ MAC(16) ‖ ciphertext. */
export function sealBox(priv: NodePrivateKey, peer: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array | undefined {
  if (nonce.length !== NONCE_BYTES) return undefined;
  const key = boxBeforeNm(priv, peer);
  if (!key) return undefined;
  const out = sealBoxWithKey(key, nonce, plaintext);
  wipe(key);
  return out;
}

/** Opens nonce(24) ‖ box sealed by `peer` to `priv`; undefined on any failure. */
export function openBox(priv: NodePrivateKey, peer: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < NONCE_BYTES + BOX_OVERHEAD_BYTES) return undefined;
  const key = boxBeforeNm(priv, peer);
  if (!key) return undefined;
  const plain = openBoxWithKey(key, sealed);
  wipe(key);
  return plain;
}
