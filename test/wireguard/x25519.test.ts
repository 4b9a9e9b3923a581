import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { createPublicKey } from 'node:crypto';
import { importPrivateDer, nobleX25519, nodeX25519 } from '../../src/wireguard/x25519.js';

const backends = [nodeX25519, nobleX25519];

describe.each(backends)('X25519 through $name', (x) => {
  it('reproduces RFC 7748 §5.2 scalar multiplication vectors (second has the u high bit set)', () => {
    expect(toHex(x.dh(fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))!))
      .toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    expect(toHex(x.dh(fromHex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
      fromHex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'))!))
      .toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });

  it('reproduces RFC 7748 §6.1 (Alice and Bob)', () => {
    const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(x.publicKeyOf(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(x.publicKeyOf(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x.dh(alice, x.publicKeyOf(bob))!)).toBe(shared);
    expect(toHex(x.dh(bob, x.publicKeyOf(alice))!)).toBe(shared);
  });

  it.each([
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ])('returns undefined for the low-order point %s', (hex) => {
    expect(x.dh(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), fromHex(hex))).toBeUndefined();
  });

  it('returns undefined for keys of the wrong length instead of throwing', () => {
    expect(x.dh(new Uint8Array(32).fill(9), new Uint8Array(31))).toBeUndefined();
  });
});

describe('node:crypto and noble X25519 agree', () => {
  it('on random private keys and arbitrary (also non-canonical) public keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (priv, pub) => {
        expect(toHex(nodeX25519.publicKeyOf(priv))).toBe(toHex(nobleX25519.publicKeyOf(priv)));
        const a = nodeX25519.dh(priv, pub);
        const b = nobleX25519.dh(priv, pub);
        expect(a === undefined ? 'none' : toHex(a)).toBe(b === undefined ? 'none' : toHex(b));
      }),
      { numRuns: 60 },
    );
  });

  it('re-imports a private key array that was changed in place (no stale cache)', () => {
    const priv = new Uint8Array(32).fill(7);
    const peer = nodeX25519.publicKeyOf(new Uint8Array(32).fill(9));
    const first = toHex(nodeX25519.dh(priv, peer)!);
    priv.fill(8);
    expect(toHex(nodeX25519.dh(priv, peer)!)).not.toBe(first);
    expect(toHex(nodeX25519.dh(priv, peer)!)).toBe(toHex(nobleX25519.dh(priv, peer)!));
  });
});

describe('PKCS#8 fallback import', () => {
  it('yields the RFC 7748 §6.1 public key for Alice', () => {
    const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const jwk = createPublicKey(importPrivateDer(alice)).export({ format: 'jwk' });
    expect(toHex(new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url')))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });
});
