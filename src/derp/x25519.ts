/**
 * X25519 for DERP keys (RFC 7748). node:crypto (OpenSSL) is the default backend: measured on
 * this machine it is ~40× faster than @noble/curves (0.07 vs 2.6 ms per shared secret, under
 * load), which matters when thousands of clients reconnect at once. @noble/curves stays as a
 * second backend that the tests run through the same vectors.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { x25519 as nobleX25519Curve } from '@noble/curves/ed25519.js';
import { constantTimeEqual, isAllZero } from '../runtime/bytes.js';
import { KEY_BYTES } from './frame.js';

export interface X25519Backend {
  /** The public key of a 32-byte private key (clamped internally per RFC 7748 §5). */
  publicKey(priv: Uint8Array): Uint8Array;
  /** X25519(priv, pub); undefined for a wrong length or an all-zero (low-order) result. */
  sharedSecret(priv: Uint8Array, pub: Uint8Array): Uint8Array | undefined;
}

// RFC 8410 DER prefix for a raw X25519 private key (OID 1.3.101.110).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * Importing a private key costs ~0.9 ms here (OpenSSL derives the public key), 15× a DH, so
 * KeyObjects are cached per key array; a copy guards against the array being changed or wiped.
 */
const privateKeyCache = new WeakMap<Uint8Array, { copy: Uint8Array; key: KeyObject }>();

function privateKeyObject(priv: Uint8Array): KeyObject {
  const hit = privateKeyCache.get(priv);
  if (hit && constantTimeEqual(hit.copy, priv)) return hit.key;
  const der = Buffer.concat([PKCS8_PREFIX, priv]);
  try {
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    privateKeyCache.set(priv, { copy: priv.slice(), key });
    return key;
  } finally {
    der.fill(0);
  }
}

/** Public keys import as JWK: ~10× cheaper than SPKI DER in measurements here. */
function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('base64url') }, format: 'jwk' });
}

/** OpenSSL through node:crypto. */
export const nodeX25519: X25519Backend = {
  publicKey(priv) {
    const x = createPublicKey(privateKeyObject(priv)).export({ format: 'jwk' }).x;
    return new Uint8Array(Buffer.from(x ?? '', 'base64url'));
  },
  sharedSecret(priv, pub) {
    if (priv.length !== KEY_BYTES || pub.length !== KEY_BYTES) return undefined;
    let out: Buffer;
    try {
      out = diffieHellman({ privateKey: privateKeyObject(priv), publicKey: publicKeyObject(pub) });
    } catch {
      return undefined; // OpenSSL refuses an all-zero result
    }
    const shared = new Uint8Array(out);
    out.fill(0);
    return isAllZero(shared) ? undefined : shared;
  },
};

/** Pure TypeScript (@noble/curves), the reference backend. */
export const nobleX25519: X25519Backend = {
  publicKey: (priv) => nobleX25519Curve.getPublicKey(priv),
  sharedSecret(priv, pub) {
    if (priv.length !== KEY_BYTES || pub.length !== KEY_BYTES) return undefined;
    try {
      const s = nobleX25519Curve.getSharedSecret(priv, pub);
      return isAllZero(s) ? undefined : s;
    } catch {
      return undefined;
    }
  },
};

/** The backend keys.ts and naclbox.ts use. */
export const x25519: X25519Backend = nodeX25519;
