import { describe, expect, it } from 'vitest';
import { BLAKE2S_BACKENDS } from '../reference/blake2s-reference.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface KdfCase extends VectorCase {
  readonly key: string;
  readonly input: string;
  readonly tau1: string;
  readonly tau2: string;
  readonly tau3: string;
}

const file = loadVectors<KdfCase>('kdf.json');

describe.each(BLAKE2S_BACKENDS)('kdf.json through $name', (b) => {
  it.each(file.cases)('KDF1, KDF2 and KDF3: $name', (c) => {
    const key = hex(c.key), input = hex(c.input);
    expect(b.kdf(3, key, input).map(toHex)).toEqual([c.tau1, c.tau2, c.tau3]);
    expect(b.kdf(2, key, input).map(toHex)).toEqual([c.tau1, c.tau2]);
    expect(b.kdf(1, key, input).map(toHex)).toEqual([c.tau1]);
  });

  it.each(file.cases)('accepts unaligned views and never mutates its inputs: $name', (c) => {
    for (let offset = 1; offset <= 7; offset++) {
      const k = unaligned(hex(c.key), offset), i = unaligned(hex(c.input), offset);
      expect(b.kdf(3, k.view, i.view).map(toHex)).toEqual([c.tau1, c.tau2, c.tau3]);
      expect(k.intact() && i.intact()).toBe(true);
    }
  });
});
