import { describe, expect, it } from 'vitest';
import { hchacha20, nobleXaead, nodeXaead, type XAead } from '../../src/wireguard/crypto.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface XAeadCase extends VectorCase {
  readonly key: string;
  readonly nonce: string;
  /** HChaCha20 cases (§2.2.1) carry the expected subkey instead of AEAD fields. */
  readonly subkey?: string;
  readonly aad?: string;
  readonly plaintext?: string;
  readonly ciphertext?: string;
  readonly tag?: string;
}

const file = loadVectors<XAeadCase>('xchacha20poly1305.json');
const hchachaCases = file.cases.filter((c) => c.subkey !== undefined);
const aeadCases = file.cases.filter((c) => c.subkey === undefined);

describe('xchacha20poly1305.json: HChaCha20', () => {
  it.each(hchachaCases)('$name', (c) => {
    const got = toHex(hchacha20(hex(c.key), hex(c.nonce)));
    if (c.result === 'valid') expect(got).toBe(c.subkey);
    else expect(got).not.toBe(c.subkey);
  });
});

describe.each([nobleXaead, nodeXaead])('xchacha20poly1305.json through $name', (x: XAead) => {
  it.each(aeadCases.filter((c) => c.result === 'valid'))('seals and opens: $name', (c) => {
    const key = hex(c.key), nonce = hex(c.nonce), aad = hex(c.aad), pt = hex(c.plaintext, 'plaintext');
    const sealed = `${c.ciphertext}${c.tag}`;
    expect(toHex(x.seal(key, nonce, pt, aad))).toBe(sealed);
    expect(toHex(x.open(key, nonce, hex(sealed), aad) ?? new Uint8Array(0))).toBe(c.plaintext);
    for (let offset = 1; offset <= 7; offset++) {
      const k = unaligned(key, offset), n = unaligned(nonce, offset), a = unaligned(aad, offset), p = unaligned(pt, offset);
      const s = unaligned(hex(sealed), offset);
      expect(toHex(x.seal(k.view, n.view, p.view, a.view)), `offset ${offset}`).toBe(sealed);
      expect(toHex(x.open(k.view, n.view, s.view, a.view) ?? new Uint8Array(0))).toBe(c.plaintext);
      for (const b of [k, n, a, p, s]) expect(b.intact()).toBe(true);
    }
  });

  it.each(aeadCases.filter((c) => c.result === 'invalid'))('rejects: $name', (c) => {
    const s = unaligned(hex(`${c.ciphertext}${c.tag}`), 1);
    expect(x.open(hex(c.key), hex(c.nonce), s.view, hex(c.aad))).toBeUndefined();
    expect(s.intact()).toBe(true);
  });
});
