/**
 * The BLAKE2s reference backend: HASH, MAC, HMAC and KDF1..3 (whitepaper §5.4) written straight
 * from @noble/hashes, independent of src/wireguard/blake2s.ts. Tests and vector suites run every
 * case through both `BLAKE2S_BACKENDS` (the noble "slow reference" pattern, STYLE.md).
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hash, hmacBlake2s, kdf, mac } from '../../src/wireguard/crypto.js';

/** The BLAKE2s-based primitives of the whitepaper, as one backend. */
export interface Blake2sBackend {
  readonly name: string;
  hash(...parts: Uint8Array[]): Uint8Array;
  mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[];
}

function nobleHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = hmac.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** @noble/hashes: the reference. KDF is spelled out as the whitepaper gives it. */
export const nobleBlake2s: Blake2sBackend = {
  name: '@noble/hashes',
  hash(...parts) {
    const h = blake2s.create({ dkLen: 32 });
    for (const p of parts) h.update(p);
    return h.digest();
  },
  mac(key, ...parts) {
    const h = blake2s.create({ key, dkLen: 16 });
    for (const p of parts) h.update(p);
    return h.digest();
  },
  hmac: nobleHmac,
  kdf(n, key, input) {
    const t0 = nobleHmac(key, input);
    const out = [nobleHmac(t0, Uint8Array.of(1))];
    for (let i = 2; i <= n; i++) out.push(nobleHmac(t0, out[i - 2]!, Uint8Array.of(i)));
    return out;
  },
};

/** What src/ uses: crypto.ts, i.e. the unrolled blake2s.ts. */
export const fastBlake2s: Blake2sBackend = { name: 'blake2s.ts', hash, mac, hmac: hmacBlake2s, kdf };

export const BLAKE2S_BACKENDS: readonly Blake2sBackend[] = [fastBlake2s, nobleBlake2s];
