import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../src/runtime/bytes.js';
import { hash, hmacBlake2s, kdf, mac, MAC_BYTES } from '../../src/wireguard/crypto.js';
import { blake2sHash, blake2sMac, hmacBlake2sFast, kdfFast } from '../../src/wireguard/blake2s.js';
import { nobleBlake2s as ref } from '../reference/blake2s-reference.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const anyBytes = (max: number) => fc.uint8Array({ maxLength: max });
const nOf = fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>;

describe('crypto.ts HASH, MAC, HMAC and KDF are the unrolled blake2s.ts', () => {
  it('exports the same functions under the whitepaper names', () => {
    expect([hash, mac, hmacBlake2s, kdf]).toEqual([blake2sHash, blake2sMac, hmacBlake2sFast, kdfFast]);
  });
});

describe('blake2s.ts agrees with the @noble/hashes reference', () => {
  it('reproduces RFC 7693 Appendix B: BLAKE2s-256("abc")', () => {
    expect(toHex(hash(ascii('abc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('hashes every length from 0 to 200 bytes (block boundaries), whole or in two parts', () => {
    for (let n = 0; n <= 200; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 151 + n) & 0xff);
      expect(toHex(hash(data)), `length ${n}`).toBe(toHex(ref.hash(data)));
      expect(toHex(hash(data.subarray(0, n >> 1), data.subarray(n >> 1)))).toBe(toHex(ref.hash(data)));
    }
  });

  it('HASH is BLAKE2s-256 of the concatenated parts', () => {
    fc.assert(
      fc.property(fc.array(anyBytes(200), { maxLength: 4 }), (parts) => {
        expect(toHex(hash(...parts))).toBe(toHex(ref.hash(...parts)));
      }),
    );
  });

  it('computes C0 = HASH(CONSTRUCTION) as wireguard.md §1.2 gives it', () => {
    expect(toHex(hash(ascii('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s')))).toBe('60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
  });

  it('HMAC and KDF1..3 match for keys of every length, including longer than a block', () => {
    fc.assert(
      fc.property(anyBytes(100), fc.array(anyBytes(150), { maxLength: 3 }), nOf, (key, parts, n) => {
        expect(toHex(hmacBlake2s(key, ...parts))).toBe(toHex(ref.hmac(key, ...parts)));
        const input = parts[0] ?? new Uint8Array(0);
        expect(kdf(n, key, input).map(toHex)).toEqual(ref.kdf(n, key, input).map(toHex));
      }),
      { numRuns: 300 },
    );
  });

  it('KDFn gives n distinct 32-byte outputs and each is a prefix of the longer KDF', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), anyBytes(100), (key, input) => {
        const k3 = kdf(3, key, input).map(toHex);
        expect(k3.map((h) => h.length)).toEqual([64, 64, 64]);
        expect(new Set(k3).size).toBe(3);
        expect(kdf(2, key, input).map(toHex)).toEqual(k3.slice(0, 2));
        expect(kdf(1, key, input).map(toHex)).toEqual(k3.slice(0, 1));
      }),
      { numRuns: 50 },
    );
  });

  it('keyed BLAKE2s-128 (MAC) matches the Python hashlib value in wireguard.md §3.1 and noble for keys of 1..32 bytes', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(toHex(mac(key, ascii('abc')))).toBe('61ba5f165c194692e09d12520cc4c74a');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.array(anyBytes(200), { maxLength: 3 }), (k, parts) => {
        const m = mac(k, ...parts);
        expect(m.length).toBe(MAC_BYTES);
        expect(toHex(m)).toBe(toHex(ref.mac(k, ...parts)));
      }),
      { numRuns: 300 },
    );
  });

  it('MAC depends on every key bit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), anyBytes(300), fc.nat({ max: 255 }), (key, data, bit) => {
        const other = Uint8Array.from(key);
        other[bit >> 3]! ^= 1 << (bit & 7);
        expect(toHex(mac(other, data))).not.toBe(toHex(mac(key, data)));
      }),
    );
  });

  it('rejects an empty or longer-than-32-byte MAC key with RangeError, as noble also throws', () => {
    for (const n of [0, 33]) {
      expect(() => mac(new Uint8Array(n), ascii('x'))).toThrow(RangeError);
      expect(() => ref.mac(new Uint8Array(n), ascii('x'))).toThrow();
    }
  });

  it('does not modify its inputs', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const input = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const [k0, i0] = [toHex(key), toHex(input)];
    kdf(3, key, input);
    mac(key, input);
    hmacBlake2s(key, input);
    expect([toHex(key), toHex(input)]).toEqual([k0, i0]);
  });
});
