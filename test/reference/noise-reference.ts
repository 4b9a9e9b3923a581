/**
 * A slow, straight-line reference of the WireGuard handshake (whitepaper §5.4.2–§5.4.5), built
 * only from the reference backends: @noble/hashes BLAKE2s/HMAC/KDF (blake2s-reference.ts),
 * `nobleX25519` and `nobleAead`. The fast path in noise.ts (OpenSSL X25519 and AEAD, unrolled BLAKE2s, caches) must
 * produce byte-identical messages and keys for the same keys, ephemerals and time (the noble
 * "slow reference" pattern, STYLE.md).
 */
import { generatePrivateKey, nobleAead } from '../../src/wireguard/crypto.js';
import { nobleX25519 } from '../../src/wireguard/x25519.js';
import { nobleBlake2s } from './blake2s-reference.js';

const { hash, kdf } = nobleBlake2s;
const { dh, publicKeyOf } = nobleX25519;

const ascii = (s: string) => new TextEncoder().encode(s);
const le32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  v.setBigUint64(0, 0x400000000000000an + BigInt(secs));
  const nanos = (wallMs - secs * 1000) * 1e6;
  v.setUint32(8, nanos - (nanos % 2 ** 24));
  return out;
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`reference: ${what}`);
  return v;
}

export interface ReferenceInput {
  initiatorPrivate: Uint8Array;
  responderPrivate: Uint8Array;
  psk: Uint8Array;
  /** Raw random bytes for the ephemerals (clamped like generatePrivateKey). */
  initiatorEphemeralRandom: Uint8Array;
  responderEphemeralRandom: Uint8Array;
  initiatorIndex: number;
  responderIndex: number;
  wallMs: number;
}

export interface ReferenceOutput {
  /** Initiation with mac1/mac2 zero (148 bytes). */
  initiation: Uint8Array;
  /** Response with mac1/mac2 zero (92 bytes). */
  response: Uint8Array;
  initiatorSend: Uint8Array;
  initiatorReceive: Uint8Array;
}

export function referenceHandshake(x: ReferenceInput): ReferenceOutput {
  const sIpub = publicKeyOf(x.initiatorPrivate);
  const sRpub = publicKeyOf(x.responderPrivate);
  const eI = generatePrivateKey(x.initiatorEphemeralRandom);
  const eR = generatePrivateKey(x.responderEphemeralRandom);
  const eIpub = publicKeyOf(eI);
  const eRpub = publicKeyOf(eR);

  // --- initiation ---
  let c = hash(ascii('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'));
  let h = hash(hash(c, ascii('WireGuard v1 zx2c4 Jason@zx2c4.com')), sRpub);
  h = hash(h, eIpub);
  [c] = kdf(1, c, eIpub) as [Uint8Array];
  let k: Uint8Array;
  [c, k] = kdf(2, c, must(dh(eI, sRpub), 'es')) as [Uint8Array, Uint8Array];
  const encStatic = nobleAead.seal(k, 0n, sIpub, h);
  h = hash(h, encStatic);
  [c, k] = kdf(2, c, must(dh(x.initiatorPrivate, sRpub), 'ss')) as [Uint8Array, Uint8Array];
  const encTime = nobleAead.seal(k, 0n, tai64n(x.wallMs), h);
  h = hash(h, encTime);
  const initiation = new Uint8Array(148);
  initiation.set([1, 0, 0, 0], 0);
  initiation.set(le32(x.initiatorIndex), 4);
  initiation.set(eIpub, 8);
  initiation.set(encStatic, 40);
  initiation.set(encTime, 88);

  // --- response (the responder's chaining state equals the initiator's at this point) ---
  h = hash(h, eRpub);
  [c] = kdf(1, c, eRpub) as [Uint8Array];
  [c] = kdf(1, c, must(dh(eR, eIpub), 'ee')) as [Uint8Array];
  [c] = kdf(1, c, must(dh(eR, sIpub), 'se')) as [Uint8Array];
  const [c3, tau, k3] = kdf(3, c, x.psk) as [Uint8Array, Uint8Array, Uint8Array];
  c = c3;
  k = k3;
  h = hash(h, tau);
  const encNothing = nobleAead.seal(k, 0n, new Uint8Array(0), h);
  const response = new Uint8Array(92);
  response.set([2, 0, 0, 0], 0);
  response.set(le32(x.responderIndex), 4);
  response.set(le32(x.initiatorIndex), 8);
  response.set(eRpub, 12);
  response.set(encNothing, 44);

  const [t1, t2] = kdf(2, c, new Uint8Array(0)) as [Uint8Array, Uint8Array];
  return { initiation, response, initiatorSend: t1, initiatorReceive: t2 };
}
