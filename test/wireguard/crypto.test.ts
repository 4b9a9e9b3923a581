import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AEAD_TAG_BYTES,
  aeadNonce,
  generatePrivateKey,
  nobleAead,
  nobleXaead,
  nodeAead,
  nodeXaead,
  xaeadOpen,
  xaeadSeal,
} from '../../src/wireguard/crypto.js';

// HASH/MAC/HMAC/KDF are tested in blake2s.test.ts, DH in x25519.test.ts.
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const anyBytes = (max: number) => fc.uint8Array({ maxLength: max });
const counter = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('generatePrivateKey', () => {
  it('clamps (RFC 7748 §5) without touching its input', () => {
    fc.assert(
      fc.property(bytes(32), (r) => {
        const before = hex(r);
        const k = generatePrivateKey(r);
        expect(hex(r)).toBe(before);
        expect(k[0]! & 7).toBe(0);
        expect(k[31]! & 0x80).toBe(0);
        expect(k[31]! & 0x40).toBe(0x40);
      }),
    );
  });
});

describe('AEAD backends', () => {
  it('aeadNonce is 4 zero bytes then the little-endian 64-bit counter', () => {
    expect(hex(aeadNonce(0x0807060504030201n))).toBe('000000000102030405060708');
    expect(hex(aeadNonce(2n ** 64n - 1n))).toBe('00000000ffffffffffffffff');
  });

  it('node:crypto and @noble/ciphers produce the same sealed bytes and open each other', () => {
    fc.assert(
      fc.property(bytes(32), counter, anyBytes(300), anyBytes(40), (key, n, pt, aad) => {
        const a = nodeAead.seal(key, n, pt, aad), b = nobleAead.seal(key, n, pt, aad);
        expect(hex(a)).toBe(hex(b));
        expect(a.length).toBe(pt.length + AEAD_TAG_BYTES);
        expect(hex(nobleAead.open(key, n, a, aad) ?? Uint8Array.of(1))).toBe(hex(pt));
        expect(hex(nodeAead.open(key, n, b, aad) ?? Uint8Array.of(1))).toBe(hex(pt));
      }),
      { numRuns: 200 },
    );
  });

  it('both backends reject any single flipped bit, wrong counter or wrong AAD', () => {
    fc.assert(
      fc.property(bytes(32), counter, anyBytes(100), anyBytes(20), fc.nat(), fc.nat({ max: 7 }), (key, n, pt, aad, at, bit) => {
        const sealed = nodeAead.seal(key, n, pt, aad);
        const bad = Uint8Array.from(sealed);
        bad[at % bad.length]! ^= 1 << bit;
        const otherCounter = n === 0n ? 1n : n - 1n;
        for (const aead of [nodeAead, nobleAead]) {
          expect(aead.open(key, n, bad, aad)).toBeUndefined();
          expect(aead.open(key, otherCounter, sealed, aad)).toBeUndefined();
          expect(aead.open(key, n, sealed, Uint8Array.of(...aad, 0))).toBeUndefined();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('open never throws on arbitrary bytes, keys, nonces or counters', () => {
    fc.assert(
      fc.property(anyBytes(40), counter, anyBytes(80), anyBytes(20), anyBytes(16), (key, n, ct, aad, nonce) => {
        for (const aead of [nodeAead, nobleAead]) {
          const r = aead.open(key, n, ct, aad);
          expect(r === undefined || r instanceof Uint8Array).toBe(true);
          expect(aead.openWithNonce(key, nonce, ct, aad)).toBeUndefined();
          expect(aead.open(key, n, ct, aad, new Uint8Array(0))).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a failed open leaves the output buffer untouched', () => {
    fc.assert(
      fc.property(bytes(32), counter, anyBytes(100), (key, n, pt) => {
        const sealed = nodeAead.seal(key, n, pt, new Uint8Array(0));
        sealed[0]! ^= 0x80;
        for (const aead of [nodeAead, nobleAead]) {
          const out = new Uint8Array(sealed.length).fill(0x5a);
          expect(aead.open(key, n, sealed, new Uint8Array(0), out)).toBeUndefined();
          expect(out.every((v) => v === 0x5a)).toBe(true);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('open into an output buffer that is too short returns undefined, not a throw', () => {
    const key = new Uint8Array(32).fill(9);
    const sealed = nodeAead.seal(key, 5n, new Uint8Array(100).fill(1), new Uint8Array(0));
    for (const aead of [nodeAead, nobleAead]) {
      expect(aead.open(key, 5n, sealed, new Uint8Array(0), new Uint8Array(99))).toBeUndefined();
      expect(aead.open(key, 5n, sealed, new Uint8Array(0), new Uint8Array(100))?.length).toBe(100);
    }
  });

  it('seal with an output buffer equals seal without one, and open into an output buffer works', () => {
    fc.assert(
      fc.property(bytes(32), counter, anyBytes(200), anyBytes(20), (key, n, pt, aad) => {
        for (const aead of [nodeAead, nobleAead]) {
          const out = new Uint8Array(pt.length + AEAD_TAG_BYTES + 4);
          const s = aead.seal(key, n, pt, aad, out.subarray(4));
          expect(hex(s)).toBe(hex(aead.seal(key, n, pt, aad)));
          const o = aead.open(key, n, s, aad, new Uint8Array(pt.length));
          expect(hex(o ?? Uint8Array.of(1))).toBe(hex(pt));
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('XAEAD (XChaCha20-Poly1305)', () => {
  it('open rejects any tampering with the ciphertext, nonce, key or AAD', () => {
    fc.assert(
      fc.property(bytes(32), bytes(24), anyBytes(64), anyBytes(32), fc.nat(), fc.nat({ max: 7 }), (key, nonce, pt, aad, at, bit) => {
        const sealed = xaeadSeal(key, nonce, pt, aad);
        expect(hex(xaeadOpen(key, nonce, sealed, aad) ?? Uint8Array.of(1))).toBe(hex(pt));
        const flip = (b: Uint8Array) => {
          const c = Uint8Array.from(b);
          c[at % c.length]! ^= 1 << bit;
          return c;
        };
        expect(xaeadOpen(key, nonce, flip(sealed), aad)).toBeUndefined();
        expect(xaeadOpen(key, flip(nonce), sealed, aad)).toBeUndefined();
        expect(xaeadOpen(flip(key), nonce, sealed, aad)).toBeUndefined();
        if (aad.length > 0) expect(xaeadOpen(key, nonce, sealed, flip(aad))).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it('open never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(anyBytes(40), anyBytes(30), anyBytes(80), anyBytes(20), (key, nonce, ct, aad) => {
        expect(xaeadOpen(key, nonce, ct, aad)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('the HChaCha20 + node:crypto backend equals @noble/ciphers and opens its output', () => {
    fc.assert(
      fc.property(bytes(32), bytes(24), anyBytes(200), anyBytes(32), (key, nonce, pt, aad) => {
        const a = nodeXaead.seal(key, nonce, pt, aad);
        expect(hex(a)).toBe(hex(nobleXaead.seal(key, nonce, pt, aad)));
        expect(hex(nodeXaead.open(key, nonce, a, aad) ?? Uint8Array.of(1))).toBe(hex(pt));
        const bad = Uint8Array.from(a);
        bad[bad.length - 1]! ^= 1;
        expect(nodeXaead.open(key, nonce, bad, aad)).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it('neither backend throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(anyBytes(40), anyBytes(30), anyBytes(80), anyBytes(20), (key, nonce, ct, aad) => {
        expect(nodeXaead.open(key, nonce, ct, aad)).toBeUndefined();
        expect(nobleXaead.open(key, nonce, ct, aad)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});
