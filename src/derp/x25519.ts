/**
 * X25519 for DERP keys (RFC 7748). DERP node keys are WireGuard static keys, so this is the
 * project's one X25519 (src/wireguard/x25519.ts: node:crypto with cached key imports, checked
 * against RFC 7748 §6.1 at load, @noble/curves as the reference backend), adapted to the two
 * operations DERP needs. The DERP tests run both backends through the same vectors.
 */
import { defaultX25519, nobleX25519 as nobleBackend, nodeX25519 as nodeBackend, type X25519 } from '../wireguard/x25519.js';

export interface X25519Backend {
  /** The public key of a 32-byte private key (clamped internally per RFC 7748 §5). */
  publicKey(priv: Uint8Array): Uint8Array;
  /** X25519(priv, pub); undefined for a wrong length or an all-zero (low-order) result. */
  sharedSecret(priv: Uint8Array, pub: Uint8Array): Uint8Array | undefined;
}

function adapt(x: X25519): X25519Backend {
  return { publicKey: (priv) => x.publicKeyOf(priv), sharedSecret: (priv, pub) => x.dh(priv, pub) };
}

/** OpenSSL through node:crypto. */
export const nodeX25519: X25519Backend = adapt(nodeBackend);
/** Pure TypeScript (@noble/curves), the reference backend. */
export const nobleX25519: X25519Backend = adapt(nobleBackend);
/** The backend keys.ts and naclbox.ts use. */
export const x25519: X25519Backend = adapt(defaultX25519);
