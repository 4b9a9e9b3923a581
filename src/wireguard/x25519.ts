/**
 * X25519 (RFC 7748; whitepaper §5.4 "DH"): the one implementation the handshake uses, and the
 * pure-JS reference it is checked against. A handshake costs four scalar multiplications per
 * side; @noble/curves does about 450 per second on this machine against about 15 000 for
 * node:crypto (OpenSSL), so `defaultX25519` is node:crypto, as the transport AEAD is (STYLE.md).
 * Tests and vectors/x25519.json run RFC 7748 vectors, low-order points and random keys through
 * both backends and require equal results.
 *
 * Raw 32-byte keys become OpenSSL KeyObjects through JWK import. Node validates `x` of a private
 * OKP JWK only as a string and derives the public key from `d` (lib/internal/crypto/keys.js), so
 * an empty `x` avoids computing a public key nobody asked for; should a later Node reject that,
 * PKCS#8 DER import takes over. KeyObjects of keys used more than once (static keys, an
 * ephemeral key across its DHs) are cached by array identity and re-checked against the array's
 * current bytes, so an array changed in place is re-imported. If node:crypto fails the RFC 7748
 * §6.1 self-check at load, `defaultX25519` is the noble backend instead.
 *
 * Secrets inside KeyObjects live in OpenSSL memory until garbage collection and cannot be wiped
 * from JavaScript; the same is true of noble's bigint internals.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { constantTimeEqual, fromHex, isAllZero } from '../runtime/bytes.js';

/** Length of X25519 private keys, public keys and shared secrets. */
export const X25519_KEY_BYTES = 32;

/** An X25519 implementation. No method throws on malformed peer keys. */
export interface X25519 {
  readonly name: string;
  /** The public key X25519(privateKey, 9) of a 32-byte private key; any other length throws RangeError (a programmer error). */
  publicKeyOf(privateKey: Uint8Array): Uint8Array;
  /** DH(priv, pub); undefined when the result is all zeros (low-order point) or a key is malformed. */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
  /** X25519(scalar, u) per RFC 7748 §5 (bit 255 of u masked): the same function as `dh`, in the RFC's words. */
  scalarMult(scalar: Uint8Array, u: Uint8Array): Uint8Array | undefined;
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
  const der = Buffer.alloc(PKCS8_X25519_PREFIX.length + X25519_KEY_BYTES);
  der.set(PKCS8_X25519_PREFIX, 0);
  der.set(raw, PKCS8_X25519_PREFIX.length);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function importPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
}

const privateKeyObject = (raw: Uint8Array): KeyObject => cached(privateCache, raw, () => importPrivate(raw));

function nodeDh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (privateKey.length !== X25519_KEY_BYTES || publicKey.length !== X25519_KEY_BYTES) return undefined;
  let shared: Buffer;
  try {
    // Views of a received datagram are imported fresh; caching them would pin the datagram.
    const pub = publicKey.byteLength === publicKey.buffer.byteLength ? cached(publicCache, publicKey, () => importPublic(publicKey)) : importPublic(publicKey);
    shared = diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: pub });
  } catch {
    return undefined; // OpenSSL refuses an all-zero shared secret (a low-order point)
  }
  const out = new Uint8Array(shared);
  shared.fill(0);
  return isAllZero(out) ? undefined : out;
}

/** X25519 through node:crypto (OpenSSL): the fast backend. */
export const nodeX25519: X25519 = {
  name: 'node:crypto',
  publicKeyOf(privateKey) {
    // Checked here: a failed JWK import would otherwise switch every later import to DER.
    if (privateKey.length !== X25519_KEY_BYTES) throw new RangeError(`publicKeyOf: private key must be ${X25519_KEY_BYTES} bytes, got ${privateKey.length}`);
    const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
    return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  },
  dh: nodeDh,
  scalarMult: nodeDh,
};

function nobleDh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (privateKey.length !== X25519_KEY_BYTES || publicKey.length !== X25519_KEY_BYTES) return undefined;
  try {
    const r = x25519.scalarMult(privateKey, publicKey);
    return isAllZero(r) ? undefined : r;
  } catch {
    return undefined; // noble throws on the all-zero (low-order) result
  }
}

/** X25519 through @noble/curves: the pure-JS reference backend. */
export const nobleX25519: X25519 = {
  name: '@noble/curves',
  publicKeyOf(privateKey) {
    if (privateKey.length !== X25519_KEY_BYTES) throw new RangeError(`publicKeyOf: private key must be ${X25519_KEY_BYTES} bytes, got ${privateKey.length}`);
    return x25519.getPublicKey(privateKey);
  },
  dh: nobleDh,
  scalarMult: nobleDh,
};

/** RFC 7748 §6.1: does `x` give Alice's public key and the shared secret with Bob? */
function passesSelfCheck(x: X25519): boolean {
  const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePublic = fromHex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  const bobPublic = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = fromHex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  try {
    const got = x.dh(alice, bobPublic);
    return got !== undefined && constantTimeEqual(got, shared) && constantTimeEqual(x.publicKeyOf(alice), alicePublic);
  } catch {
    return false;
  }
}

/**
 * The X25519 everything uses (crypto.ts `dh`/`publicKeyOf`, the handshake): node:crypto if it
 * reproduces RFC 7748 §6.1 on this Node, otherwise the noble reference.
 */
export const defaultX25519: X25519 = passesSelfCheck(nodeX25519) ? nodeX25519 : nobleX25519;
