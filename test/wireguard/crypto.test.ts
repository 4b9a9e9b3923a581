import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { x25519 } from '@noble/curves/ed25519.js';
import {
  AEAD_TAG_BYTES,
  aeadNonce,
  defaultX25519,
  dh,
  generatePrivateKey,
  hash,
  hmacBlake2s,
  kdf,
  mac,
  MAC_BYTES,
  nobleAead,
  nobleXaead,
  nobleX25519,
  nodeAead,
  nodeX25519,
  nodeXaead,
  publicKeyOf,
  xaeadOpen,
  xaeadSeal,
} from '../../src/wireguard/crypto.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const anyBytes = (max: number) => fc.uint8Array({ maxLength: max });
const counter = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Small-order u-coordinates (RFC 7748 §5 u encodings; see vectors/x25519.json). */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

describe('hash, mac, hmac and kdf', () => {
  it('hash is BLAKE2s-256 of the concatenated parts', () => {
    fc.assert(
      fc.property(fc.array(anyBytes(200), { maxLength: 4 }), (parts) => {
        const joined = Uint8Array.from(parts.flatMap((p) => [...p]));
        expect(hex(hash(...parts))).toBe(hex(blake2s(joined)));
      }),
    );
  });

  it('mac is keyed BLAKE2s with a 16-byte output and depends on the key', () => {
    fc.assert(
      fc.property(bytes(32), anyBytes(300), fc.nat({ max: 31 }), (key, data, flip) => {
        const m = mac(key, data);
        expect(m.length).toBe(MAC_BYTES);
        expect(hex(m)).toBe(hex(blake2s(data, { key, dkLen: 16 })));
        const other = Uint8Array.from(key);
        other[flip]! ^= 1;
        expect(hex(mac(other, data))).not.toBe(hex(m));
      }),
    );
  });

  it('hmacBlake2s equals the @noble/hashes HMAC for keys of every length, including longer than a block', () => {
    fc.assert(
      fc.property(anyBytes(100), fc.array(anyBytes(100), { maxLength: 3 }), (key, parts) => {
        const joined = Uint8Array.from(parts.flatMap((p) => [...p]));
        expect(hex(hmacBlake2s(key, ...parts))).toBe(hex(hmac(blake2s, key, joined)));
      }),
    );
  });

  it('KDFn gives n 32-byte outputs and each is a prefix of the longer KDF', () => {
    fc.assert(
      fc.property(bytes(32), anyBytes(100), (key, input) => {
        const k3 = kdf(3, key, input).map(hex);
        expect(k3.map((h) => h.length)).toEqual([64, 64, 64]);
        expect(new Set(k3).size).toBe(3);
        expect(kdf(2, key, input).map(hex)).toEqual(k3.slice(0, 2));
        expect(kdf(1, key, input).map(hex)).toEqual(k3.slice(0, 1));
      }),
      { numRuns: 50 },
    );
  });
});

describe('X25519', () => {
  it(`uses the ${defaultX25519.name} backend, which agrees with the other one`, () => {
    expect([nodeX25519, nobleX25519]).toContain(defaultX25519);
  });

  it('node:crypto and @noble/curves agree on random scalars and random u (curve or twist)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (k, u) => {
        const a = nodeX25519.scalarMult(k, u), b = nobleX25519.scalarMult(k, u);
        expect(a === undefined ? 'none' : hex(a)).toBe(b === undefined ? 'none' : hex(b));
      }),
      { numRuns: 40 },
    );
  });

  it('node:crypto and @noble/curves agree on non-canonical u = p + 2 .. p + 18 and 2^255 - 1', () => {
    const p = 2n ** 255n - 19n;
    const k = generatePrivateKey(new Uint8Array(32).fill(0x42));
    for (let d = 2n; d <= 19n; d++) {
      const v = d === 19n ? 2n ** 255n - 1n : p + d;
      const u = Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex').reverse());
      const a = nodeX25519.scalarMult(k, u), b = nobleX25519.scalarMult(k, u);
      expect(a === undefined ? 'none' : hex(a), `u = p + ${d}`).toBe(b === undefined ? 'none' : hex(b));
    }
  });

  it('publicKeyOf matches @noble/curves and dh is symmetric', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (ra, rb) => {
        const a = generatePrivateKey(ra), b = generatePrivateKey(rb);
        const A = publicKeyOf(a), B = publicKeyOf(b);
        expect(hex(A)).toBe(hex(x25519.getPublicKey(a)));
        expect(hex(dh(a, B) ?? new Uint8Array(0))).toBe(hex(dh(b, A) ?? Uint8Array.of(1)));
      }),
      { numRuns: 20 },
    );
  });

  it('dh rejects every low-order public key, with either backend, for any private key', () => {
    fc.assert(
      fc.property(bytes(32), fc.constantFrom(...LOW_ORDER), fc.boolean(), (k, u, highBit) => {
        const pub = Uint8Array.from(u);
        if (highBit) pub[31]! |= 0x80;
        expect(dh(generatePrivateKey(k), pub)).toBeUndefined();
        expect(nodeX25519.scalarMult(k, pub)).toBeUndefined();
        expect(nobleX25519.scalarMult(k, pub)).toBeUndefined();
      }),
      { numRuns: 30 },
    );
  });

  it('dh returns undefined for keys of the wrong length instead of throwing', () => {
    const k = generatePrivateKey(new Uint8Array(32).fill(3));
    const pub = publicKeyOf(generatePrivateKey(new Uint8Array(32).fill(4)));
    for (const [a, b] of [[k.subarray(1), pub], [k, pub.subarray(0, 31)], [new Uint8Array(0), pub], [k, new Uint8Array(33)]] as const) {
      expect(dh(a, b)).toBeUndefined();
      expect(nodeX25519.scalarMult(a, b)).toBeUndefined();
      expect(nobleX25519.scalarMult(a, b)).toBeUndefined();
    }
  });

  it('generatePrivateKey clamps (RFC 7748 §5) without touching its input', () => {
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
