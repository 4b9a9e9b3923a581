import { describe, expect, it } from 'vitest';
import { xaeadOpen, xaeadSeal } from '../../src/wireguard/crypto.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface XAeadCase extends VectorCase {
  readonly key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly plaintext?: string;
  readonly ciphertext: string;
  readonly tag: string;
}

const file = loadVectors<XAeadCase>('xchacha20poly1305.json');

describe('xchacha20poly1305.json through xaeadSeal/xaeadOpen', () => {
  it.each(file.cases.filter((c) => c.result === 'valid'))('seals and opens: $name', (c) => {
    const key = hex(c.key), nonce = hex(c.nonce), aad = hex(c.aad), pt = hex(c.plaintext, 'plaintext');
    expect(toHex(xaeadSeal(key, nonce, pt, aad))).toBe(c.ciphertext + c.tag);
    expect(toHex(xaeadOpen(key, nonce, hex(c.ciphertext + c.tag), aad) ?? new Uint8Array(0))).toBe(c.plaintext);
    for (let offset = 1; offset <= 7; offset++) {
      const k = unaligned(key, offset), n = unaligned(nonce, offset), a = unaligned(aad, offset), p = unaligned(pt, offset);
      const s = unaligned(hex(c.ciphertext + c.tag), offset);
      expect(toHex(xaeadSeal(k.view, n.view, p.view, a.view)), `offset ${offset}`).toBe(c.ciphertext + c.tag);
      expect(toHex(xaeadOpen(k.view, n.view, s.view, a.view) ?? new Uint8Array(0))).toBe(c.plaintext);
      for (const b of [k, n, a, p, s]) expect(b.intact()).toBe(true);
    }
  });

  it.each(file.cases.filter((c) => c.result === 'invalid'))('rejects: $name', (c) => {
    const s = unaligned(hex(c.ciphertext + c.tag), 1);
    expect(xaeadOpen(hex(c.key), hex(c.nonce), s.view, hex(c.aad))).toBeUndefined();
    expect(s.intact()).toBe(true);
  });
});
