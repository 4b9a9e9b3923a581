import { describe, expect, it } from 'vitest';
import { defaultX25519, dh, nobleX25519, nodeX25519, publicKeyOf, type X25519Backend } from '../../src/wireguard/crypto.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface X25519Case extends VectorCase {
  readonly scalar: string;
  readonly u: string;
  readonly shared?: string;
  /** RFC 7748 §5.2 iterated test: repeat (k, u) ← (X25519(k, u), k) this many times, expect k. */
  readonly iterations?: number;
}

const file = loadVectors<X25519Case>('x25519.json');
const BASE_POINT = '09' + '00'.repeat(31);

function run(x: X25519Backend, c: X25519Case): string | undefined {
  let k = hex(c.scalar), u = hex(c.u);
  for (let i = 0; i < (c.iterations ?? 1); i++) {
    const r = x.scalarMult(k, u);
    if (r === undefined) return undefined;
    u = k;
    k = r;
  }
  return toHex(k);
}

describe.each([nodeX25519, nobleX25519])('x25519.json through $name', (x: X25519Backend) => {
  it.each(file.cases.filter((c) => c.result === 'valid'))('computes: $name', (c) => {
    expect(run(x, c)).toBe(c.shared);
  });

  it.each(file.cases.filter((c) => c.result === 'invalid'))('returns undefined for: $name', (c) => {
    expect(run(x, c)).toBeUndefined();
  });

  it.each(file.cases.filter((c) => c.result === 'valid' && c.u === BASE_POINT && c.iterations === undefined))('publicKeyOf: $name', (c) => {
    expect(toHex(x.publicKeyOf(hex(c.scalar)))).toBe(c.shared);
  });

  it('accepts unaligned views and never mutates its inputs', () => {
    const c = file.cases.find((v) => v.result === 'valid' && v.iterations === undefined)!;
    for (let offset = 1; offset <= 7; offset++) {
      const k = unaligned(hex(c.scalar), offset), u = unaligned(hex(c.u), offset);
      expect(toHex(x.scalarMult(k.view, u.view) ?? new Uint8Array(0))).toBe(c.shared);
      expect(k.intact() && u.intact()).toBe(true);
    }
  });
});

describe(`x25519.json through dh() and publicKeyOf() (backend: ${defaultX25519.name})`, () => {
  const single = file.cases.filter((c) => c.iterations === undefined);
  it.each(single.filter((c) => c.result === 'valid'))('dh: $name', (c) => {
    expect(toHex(dh(hex(c.scalar), hex(c.u)) ?? new Uint8Array(0))).toBe(c.shared);
    if (c.u === BASE_POINT) expect(toHex(publicKeyOf(hex(c.scalar)))).toBe(c.shared);
  });
  it.each(single.filter((c) => c.result === 'invalid'))('dh rejects: $name', (c) => {
    expect(dh(hex(c.scalar), hex(c.u))).toBeUndefined();
  });
});
