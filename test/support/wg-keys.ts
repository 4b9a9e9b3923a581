/** WireGuard key fixtures shared by tests and benches: static identities from an Rng or a fixed byte. */
import type { Rng } from '../../src/runtime/rng.js';
import { generatePrivateKey, publicKeyOf } from '../../src/wireguard/crypto.js';
import type { StaticIdentity } from '../../src/wireguard/noise.js';

/** A clamped private key from 32 bytes of `rng`, with its public key (through crypto.ts). */
export function identity(rng: Rng): StaticIdentity {
  const privateKey = generatePrivateKey(rng.fill(new Uint8Array(32)));
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** A clamped private key whose 32 random bytes all equal `byte`: a readable fixed test key. */
export function fixedPrivateKey(byte: number): Uint8Array {
  return generatePrivateKey(new Uint8Array(32).fill(byte));
}
