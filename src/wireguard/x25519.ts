/**
 * X25519 backends for the handshake (RFC 7748; whitepaper §5.4 "DH"). A handshake costs four
 * scalar multiplications per side, and @noble/curves does about 450 per second on this machine
 * against about 15 000 for node:crypto (OpenSSL), so the handshake uses node:crypto, as the
 * transport AEAD does (STYLE.md). The noble functions in crypto.ts stay the reference: tests run
 * RFC 7748 vectors, low-order points and random keys through both and require equal results.
 *
 * Raw 32-byte keys become OpenSSL KeyObjects through JWK import. Node validates `x` of a private
 * OKP JWK only as a string and derives the public key from `d` (lib/internal/crypto/keys.js), so
 * an empty `x` avoids computing the public key we are about to ask for (should a later Node
 * reject that, PKCS#8 DER import takes over). KeyObjects of keys used
 * more than once (static keys, an ephemeral key across its DHs) are cached by array identity and
 * re-checked against the array's current bytes, so an array changed in place is re-imported.
 *
 * Secrets inside KeyObjects live in OpenSSL memory until garbage collection and cannot be wiped
 * from JavaScript; the same is true of noble's bigint internals.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { constantTimeEqual, isAllZero } from '../runtime/bytes.js';
import { dh as nobleDh, KEY_BYTES, publicKeyOf as noblePublicKeyOf } from './crypto.js';

/** X25519 as the handshake uses it. Implementations never throw on malformed peer keys. */
export interface X25519 {
  readonly name: string;
  /** The public key of a 32-byte private key. */
  publicKeyOf(privateKey: Uint8Array): Uint8Array;
  /** DH(priv, pub); undefined when the result is all zeros (low-order point) or a key is malformed. */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
}

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

interface Cached {
  readonly bytes: Uint8Array;
  readonly key: KeyObject;
}
const privateCache = new WeakMap<Uint8Array, Cached>();
const publicCache = new WeakMap<Uint8Array, Cached>();

function cached(cache: WeakMap<Uint8Array, Cached>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const hit = cache.get(raw);
  if (hit !== undefined && constantTimeEqual(hit.bytes, raw)) return hit.key;
  const key = make();
  cache.set(raw, { bytes: Uint8Array.from(raw), key });
  return key;
}

/** PKCS#8 prefix of a raw X25519 private key (RFC 8410): 15× slower to import than JWK here, the fallback. */
const PKCS8_X25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
let jwkPrivateImport = true;

function importPrivate(raw: Uint8Array): KeyObject {
  if (jwkPrivateImport) {
    try {
      return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(raw), x: '' }, format: 'jwk' });
    } catch {
      jwkPrivateImport = false; // a Node that checks `x`: use DER from now on
    }
  }
  return importPrivateDer(raw);
}

/** @internal The fallback import (exported for its test). */
export function importPrivateDer(raw: Uint8Array): KeyObject {
  const der = Buffer.alloc(PKCS8_X25519_PREFIX.length + KEY_BYTES);
  der.set(PKCS8_X25519_PREFIX, 0);
  der.set(raw, PKCS8_X25519_PREFIX.length);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  return cached(privateCache, raw, () => importPrivate(raw));
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return cached(publicCache, raw, () => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' }));
}

/** X25519 through node:crypto (OpenSSL): the handshake's backend. */
export const nodeX25519: X25519 = {
  name: 'node:crypto',
  publicKeyOf(privateKey) {
    const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
    return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  },
  dh(privateKey, publicKey) {
    if (privateKey.length !== KEY_BYTES || publicKey.length !== KEY_BYTES) return undefined;
    let shared: Buffer;
    try {
      // Views of a received datagram are imported fresh; caching them would pin the datagram.
      const pub = publicKey.byteLength === publicKey.buffer.byteLength ? publicKeyObject(publicKey) : importPublic(publicKey);
      shared = diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: pub });
    } catch {
      return undefined; // OpenSSL refuses an all-zero shared secret (a low-order point)
    }
    const out = new Uint8Array(shared);
    shared.fill(0);
    return isAllZero(out) ? undefined : out;
  },
};

function importPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
}

/** X25519 through @noble/curves (crypto.ts): the pure-JS reference. */
export const nobleX25519: X25519 = {
  name: '@noble/curves',
  publicKeyOf: noblePublicKeyOf,
  dh: nobleDh,
};
