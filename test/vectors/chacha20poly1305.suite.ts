import { describe, expect, it } from 'vitest';
import { nobleAead, nodeAead, type AeadBackend } from '../../src/wireguard/crypto.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface AeadCase extends VectorCase {
  readonly key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly plaintext?: string;
  readonly ciphertext: string;
  readonly tag: string;
}

const file = loadVectors<AeadCase>('chacha20poly1305.json');

/** WireGuard's nonce is 4 zero bytes ‖ LE64(counter); vectors with that shape also run through the counter API. */
function counterOf(nonce: Uint8Array): bigint | undefined {
  if (nonce[0] !== 0 || nonce[1] !== 0 || nonce[2] !== 0 || nonce[3] !== 0) return undefined;
  return new DataView(nonce.buffer, nonce.byteOffset, 12).getBigUint64(4, true);
}

function sealed(c: AeadCase): Uint8Array {
  return hex(c.ciphertext + c.tag, `${c.name}: ciphertext+tag`);
}

describe.each([nodeAead, nobleAead])('chacha20poly1305.json through $name', (aead: AeadBackend) => {
  const valid = file.cases.filter((c) => c.result === 'valid');
  const invalid = file.cases.filter((c) => c.result === 'invalid');

  it.each(valid)('seals and opens: $name', (c) => {
    const key = hex(c.key), nonce = hex(c.nonce), aad = hex(c.aad), pt = hex(c.plaintext, 'plaintext');
    expect(toHex(aead.sealWithNonce(key, nonce, pt, aad))).toBe(c.ciphertext + c.tag);
    expect(toHex(aead.openWithNonce(key, nonce, sealed(c), aad) ?? new Uint8Array(0))).toBe(c.plaintext);
    const counter = counterOf(nonce);
    if (counter !== undefined) {
      expect(toHex(aead.seal(key, counter, pt, aad))).toBe(c.ciphertext + c.tag);
      expect(toHex(aead.open(key, counter, sealed(c), aad) ?? new Uint8Array(0))).toBe(c.plaintext);
    }
  });

  it.each(valid)('writes into a caller-supplied output buffer: $name', (c) => {
    const key = hex(c.key), nonce = hex(c.nonce), aad = hex(c.aad), pt = hex(c.plaintext, 'plaintext');
    const out = new Uint8Array(pt.length + 16 + 9).fill(0xee);
    const s = aead.sealWithNonce(key, nonce, pt, aad, out.subarray(3));
    expect(s.buffer).toBe(out.buffer);
    expect(toHex(s)).toBe(c.ciphertext + c.tag);
    expect(out[2]).toBe(0xee);
    const o = aead.openWithNonce(key, nonce, sealed(c), aad, out.subarray(5));
    expect(o?.buffer).toBe(out.buffer);
    expect(toHex(o ?? new Uint8Array(0))).toBe(c.plaintext);
  });

  it.each(valid)('accepts unaligned views at offsets 1..7 and never mutates its inputs: $name', (c) => {
    for (let offset = 1; offset <= 7; offset++) {
      const key = unaligned(hex(c.key), offset), nonce = unaligned(hex(c.nonce), offset);
      const aad = unaligned(hex(c.aad), offset), pt = unaligned(hex(c.plaintext, 'plaintext'), offset);
      const ct = unaligned(sealed(c), offset);
      expect(toHex(aead.sealWithNonce(key.view, nonce.view, pt.view, aad.view)), `offset ${offset}`).toBe(c.ciphertext + c.tag);
      expect(toHex(aead.openWithNonce(key.view, nonce.view, ct.view, aad.view) ?? new Uint8Array(0))).toBe(c.plaintext);
      const counter = counterOf(nonce.view);
      if (counter !== undefined) expect(toHex(aead.open(key.view, counter, ct.view, aad.view) ?? new Uint8Array(0))).toBe(c.plaintext);
      for (const b of [key, nonce, aad, pt, ct]) expect(b.intact(), `offset ${offset}`).toBe(true);
    }
  });

  it.each(invalid)('rejects: $name', (c) => {
    const key = hex(c.key), nonce = hex(c.nonce), aad = hex(c.aad);
    const ct = unaligned(sealed(c), 3);
    expect(aead.openWithNonce(key, nonce, ct.view, aad)).toBeUndefined();
    expect(aead.openWithNonce(key, nonce, ct.view, aad, new Uint8Array(ct.view.length))).toBeUndefined();
    const counter = counterOf(nonce);
    if (counter !== undefined) expect(aead.open(key, counter, ct.view, aad)).toBeUndefined();
    expect(ct.intact()).toBe(true);
  });
});
