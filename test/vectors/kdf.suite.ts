import { describe, expect, it } from 'vitest';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hmacBlake2s, kdf } from '../../src/wireguard/crypto.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface KdfCase extends VectorCase {
  readonly key: string;
  readonly input: string;
  readonly tau1: string;
  readonly tau2: string;
  readonly tau3: string;
}

const file = loadVectors<KdfCase>('kdf.json');

/** KDF written out with @noble/hashes HMAC, independent of the node:crypto path in crypto.ts. */
function referenceKdf(key: Uint8Array, input: Uint8Array): string[] {
  const t0 = hmac(blake2s, key, input);
  const t1 = hmac(blake2s, t0, Uint8Array.of(1));
  const t2 = hmac(blake2s, t0, Uint8Array.of(...t1, 2));
  const t3 = hmac(blake2s, t0, Uint8Array.of(...t2, 3));
  return [t1, t2, t3].map(toHex);
}

describe('kdf.json', () => {
  it.each(file.cases)('KDF1, KDF2 and KDF3: $name', (c) => {
    const key = hex(c.key), input = hex(c.input);
    expect(kdf(3, key, input).map(toHex)).toEqual([c.tau1, c.tau2, c.tau3]);
    expect(kdf(2, key, input).map(toHex)).toEqual([c.tau1, c.tau2]);
    expect(kdf(1, key, input).map(toHex)).toEqual([c.tau1]);
  });

  it.each(file.cases)('the @noble/hashes HMAC reproduces it too: $name', (c) => {
    expect(referenceKdf(hex(c.key), hex(c.input))).toEqual([c.tau1, c.tau2, c.tau3]);
  });

  it.each(file.cases)('accepts unaligned views and never mutates its inputs: $name', (c) => {
    for (let offset = 1; offset <= 7; offset++) {
      const k = unaligned(hex(c.key), offset), i = unaligned(hex(c.input), offset);
      expect(kdf(3, k.view, i.view).map(toHex)).toEqual([c.tau1, c.tau2, c.tau3]);
      expect(toHex(hmacBlake2s(k.view, i.view))).toBe(toHex(hmac(blake2s, hex(c.key), hex(c.input))));
      expect(k.intact() && i.intact()).toBe(true);
    }
  });
});
