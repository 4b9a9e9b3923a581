import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nobleX25519, nodeX25519 } from '../../src/derp/x25519.js';
import { fromHex, toHex } from '../../src/runtime/bytes.js';

// RFC 7748 §6.1 (Diffie-Hellman example).
const ALICE_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PK = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_SK = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

describe.each([['node:crypto', nodeX25519], ['@noble/curves', nobleX25519]])('X25519 via %s', (_name, b) => {
  it('matches RFC 7748 §6.1 public keys and shared secret', () => {
    expect(toHex(b.publicKey(fromHex(ALICE_SK)))).toBe(ALICE_PK);
    expect(toHex(b.publicKey(fromHex(BOB_SK)))).toBe(BOB_PK);
    expect(toHex(b.sharedSecret(fromHex(ALICE_SK), fromHex(BOB_PK))!)).toBe(SHARED);
    expect(toHex(b.sharedSecret(fromHex(BOB_SK), fromHex(ALICE_PK))!)).toBe(SHARED);
  });
  it('refuses low-order points (all-zero result) and wrong lengths', () => {
    expect(b.sharedSecret(fromHex(ALICE_SK), new Uint8Array(32))).toBeUndefined();
    expect(b.sharedSecret(fromHex(ALICE_SK), Uint8Array.of(1, ...new Uint8Array(31)))).toBeUndefined();
    expect(b.sharedSecret(fromHex(ALICE_SK), new Uint8Array(31))).toBeUndefined();
  });
});

describe('backends agree', () => {
  it('on public keys and shared secrets of random keys', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, p) => {
      expect(toHex(nodeX25519.publicKey(a))).toBe(toHex(nobleX25519.publicKey(a)));
      const n = nodeX25519.sharedSecret(a, p);
      const m = nobleX25519.sharedSecret(a, p);
      expect(n && toHex(n)).toBe(m && toHex(m));
    }), { numRuns: 30 });
  });
});
