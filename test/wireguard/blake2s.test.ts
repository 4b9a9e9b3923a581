import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../src/runtime/bytes.js';
import { hash, hmacBlake2s, kdf, mac } from '../../src/wireguard/crypto.js';
import { blake2sHash, blake2sMac, hmacBlake2sFast, kdfFast } from '../../src/wireguard/blake2s.js';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('fast BLAKE2s / HMAC / KDF agree with the noble reference', () => {
  it('reproduces RFC 7693 Appendix B: BLAKE2s-256("abc")', () => {
    expect(toHex(blake2sHash(ascii('abc')))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('hashes every length from 0 to 200 bytes (block boundaries) like noble', () => {
    for (let n = 0; n <= 200; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 151 + n) & 0xff);
      expect(toHex(blake2sHash(data)), `length ${n}`).toBe(toHex(hash(data)));
      expect(toHex(blake2sHash(data.subarray(0, n >> 1), data.subarray(n >> 1)))).toBe(toHex(hash(data)));
    }
  });

  it('computes C0 = HASH(CONSTRUCTION) as wireguard.md §1.2 gives it', () => {
    expect(toHex(blake2sHash(ascii('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s')))).toBe('60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
  });

  it('HMAC and KDF1..3 match on random keys and inputs, including keys longer than a block', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 150 }), fc.constantFrom(1, 2, 3) as fc.Arbitrary<1 | 2 | 3>, (key, input, n) => {
        expect(toHex(hmacBlake2sFast(key, input))).toBe(toHex(hmacBlake2s(key, input)));
        expect(kdfFast(n, key, input).map(toHex)).toEqual(kdf(n, key, input).map(toHex));
      }),
      { numRuns: 300 },
    );
  });

  it('keyed BLAKE2s-128 (MAC) matches noble and the Python hashlib value in wireguard.md §3.1', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(toHex(blake2sMac(key, ascii('abc')))).toBe('61ba5f165c194692e09d12520cc4c74a');
    expect(toHex(blake2sMac(key))).toBe(toHex(mac(key)));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (k, data) => {
        expect(toHex(blake2sMac(k, data))).toBe(toHex(mac(k, data)));
      }),
      { numRuns: 300 },
    );
  });

  it('does not modify its inputs', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const input = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const [k0, i0] = [toHex(key), toHex(input)];
    kdfFast(3, key, input);
    expect([toHex(key), toHex(input)]).toEqual([k0, i0]);
  });
});
