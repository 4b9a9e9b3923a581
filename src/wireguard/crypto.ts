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
 * Backends, chosen by measurement (bench/wireguard/crypto.bench.ts) and checked against each
 * other by test/wireguard/crypto.test.ts and every file in vectors/:
 * - Transport AEAD goes through node:crypto (OpenSSL, several times faster than pure JS on
 *   1420-byte packets, STYLE.md); @noble/ciphers is a second backend.
 * - X25519 goes through node:crypto when this Node can do it (about 10× noble's rate, mostly
 *   because importing a raw JWK private key skips OpenSSL's public-key derivation); otherwise,
 *   and as the reference, @noble/curves.
 * - HMAC (so KDF) goes through node:crypto's `blake2s256` when present (about 3× noble's HMAC);
 *   HASH stays on @noble/hashes (no consistent difference measured).
 * - MAC (keyed BLAKE2s with a 16-byte output) and XChaCha20-Poly1305 are not in node:crypto:
 *   @noble/hashes and @noble/ciphers.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  getHashes,
  type CipherChaCha20Poly1305Options,
} from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { constantTimeEqual, isAllZero } from '../runtime/bytes.js';

export const KEY_BYTES = 32;
export const HASH_BYTES = 32;
export const MAC_BYTES = 16;
export const AEAD_TAG_BYTES = 16;
/** ChaCha20-Poly1305 nonce: 4 zero bytes ‖ LE64 counter (RFC 8439 §2.8 nonce, WireGuard layout). */
export const AEAD_NONCE_BYTES = 12;
export const XAEAD_NONCE_BYTES = 24;

const NODE_BLAKE2S = getHashes().includes('blake2s256');

/**
 * HASH(x): unkeyed BLAKE2s-256 over the concatenation of `parts`. Stays on @noble/hashes: on
 * this noisy machine the bench showed no consistent win for node:crypto's blake2s256 here.
 */
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

/** HMAC(key, input) with BLAKE2s (RFC 2104 over a 64-byte block), 32 bytes. */
export function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  if (NODE_BLAKE2S) {
    const h = createHmac('blake2s256', key);
    for (const p of parts) h.update(p);
    return asBytes(h.digest());
  }
  const h = hmac.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const ONE = Uint8Array.of(1);

/** KDF1..KDF3 of the whitepaper: returns `n` 32-byte outputs τ1..τn. */
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

/** A private key from 32 random bytes, clamped (a copy; `random32` is left as is). */
export function generatePrivateKey(random32: Uint8Array): Uint8Array {
  // X25519 clamping (RFC 7748 §5), as `wg genkey` does.
  const k = Uint8Array.from(random32);
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

/** One X25519 implementation: `scalarMult` returns `undefined` instead of throwing. */
export interface X25519Backend {
  readonly name: string;
  /** X25519(scalar, u) per RFC 7748 §5 (bit 255 of u masked); `undefined` on an all-zero result or a malformed key. */
  scalarMult(scalar: Uint8Array, u: Uint8Array): Uint8Array | undefined;
}

/** X25519 through @noble/curves: the pure-JS reference. */
export const nobleX25519: X25519Backend = {
  name: '@noble/curves',
  scalarMult(scalar, u) {
    if (scalar.length !== KEY_BYTES || u.length !== KEY_BYTES) return undefined;
    try {
      const r = x25519.scalarMult(scalar, u);
      return isAllZero(r) ? undefined : r;
    } catch {
      return undefined; // noble throws on the all-zero (low-order) result
    }
  },
};

function base64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/** Node 20 imports an X25519 private JWK from `d` and only type-checks `x`, so any valid encoding does. */
const JWK_DUMMY_X = base64url(new Uint8Array(KEY_BYTES));

/**
 * X25519 through node:crypto (OpenSSL). Keys are imported as JWK: the SPKI/PKCS#8 DER route
 * works too but is several times slower, because OpenSSL's DER decoder derives the public key
 * on every private import. The base64url strings holding the scalar cannot be wiped (like
 * noble's internal bigints); they die with the next GC.
 */
export const nodeX25519: X25519Backend = {
  name: 'node:crypto',
  scalarMult(scalar, u) {
    if (scalar.length !== KEY_BYTES || u.length !== KEY_BYTES) return undefined;
    try {
      const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: base64url(scalar), x: JWK_DUMMY_X }, format: 'jwk' });
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(u) }, format: 'jwk' });
      const r = asBytes(diffieHellman({ privateKey, publicKey }));
      return isAllZero(r) ? undefined : r;
    } catch {
      return undefined; // OpenSSL refuses an all-zero shared secret ("failed during derivation")
    }
  },
};

/** u = 9, the Curve25519 base point (RFC 7748 §4.1). */
const BASE_POINT = Uint8Array.of(9, ...new Uint8Array(31));

/**
 * The X25519 backend `dh` and `publicKeyOf` use: node:crypto if it reproduces RFC 7748 §6.1
 * here (a future Node that checked the JWK `x` against `d` would fail this and fall back).
 */
export const defaultX25519: X25519Backend = (() => {
  const alice = hexBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bobPublic = hexBytes('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = hexBytes('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  const got = nodeX25519.scalarMult(alice, bobPublic);
  return got !== undefined && constantTimeEqual(got, shared) ? nodeX25519 : nobleX25519;
})();

/** The public key X25519(privateKey, 9). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const pub = defaultX25519.scalarMult(privateKey, BASE_POINT);
  // Only a malformed private key fails here (a scalar times the base point is never zero).
  return pub ?? x25519.getPublicKey(privateKey);
}

/** DH(priv, pub); `undefined` when the result is all zeros (low-order point) or the key is malformed. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  return defaultX25519.scalarMult(privateKey, publicKey);
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

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
