import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createPublicKey } from 'node:crypto';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { dh, generatePrivateKey, publicKeyOf } from '../../src/wireguard/crypto.js';
import { defaultX25519, importPrivateDer, nobleX25519, nodeX25519, type X25519 } from '../../src/wireguard/x25519.js';
import { loadVectors, type VectorCase } from '../vectors/load.js';
import { fixedPrivateKey } from '../support/wg-keys.js';

// RFC 7748 §5.2/§6.1 vectors and fixed low-order points run through both backends in
// test/vectors/x25519.suite.ts; this file checks properties on random keys.
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const show = (b: Uint8Array | undefined) => (b === undefined ? 'none' : toHex(b));
/** The low-order u-coordinates of vectors/x25519.json (with and without bit 255). */
const LOW_ORDER = [...new Set(loadVectors<VectorCase & { u: string }>('x25519.json').cases.filter((c) => c.result === 'invalid').map((c) => c.u))].map(fromHex);

describe('the default X25519', () => {
  it(`is node:crypto on this Node (it passed the RFC 7748 §6.1 self-check), and crypto.ts dh/publicKeyOf use it`, () => {
    expect(defaultX25519).toBe(nodeX25519);
    const a = fixedPrivateKey(1), b = fixedPrivateKey(2);
    expect(toHex(publicKeyOf(a))).toBe(toHex(nobleX25519.publicKeyOf(a)));
    expect(show(dh(a, publicKeyOf(b)))).toBe(show(nobleX25519.dh(a, nobleX25519.publicKeyOf(b))));
  });

  it('dh is symmetric: DH(a, B) = DH(b, A)', () => {
    fc.assert(
      fc.property(bytes32, bytes32, (ra, rb) => {
        const a = generatePrivateKey(ra), b = generatePrivateKey(rb);
        expect(show(dh(a, publicKeyOf(b)))).toBe(show(dh(b, publicKeyOf(a))));
      }),
      { numRuns: 20 },
    );
  });
});

describe('node:crypto and @noble/curves X25519 agree', () => {
  it('on random private keys and arbitrary (curve or twist) public keys, through publicKeyOf, dh and scalarMult', () => {
    fc.assert(
      fc.property(bytes32, bytes32, (priv, pub) => {
        expect(toHex(nodeX25519.publicKeyOf(priv))).toBe(toHex(nobleX25519.publicKeyOf(priv)));
        expect(show(nodeX25519.dh(priv, pub))).toBe(show(nobleX25519.dh(priv, pub)));
        expect(show(nodeX25519.scalarMult(priv, pub))).toBe(show(nobleX25519.scalarMult(priv, pub)));
      }),
      { numRuns: 60 },
    );
  });

  it('on non-canonical u = p + 2 .. p + 18 and 2^255 - 1', () => {
    const p = 2n ** 255n - 19n;
    const k = fixedPrivateKey(0x42);
    for (let d = 2n; d <= 19n; d++) {
      const v = d === 19n ? 2n ** 255n - 1n : p + d;
      const u = Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex').reverse());
      expect(show(nodeX25519.dh(k, u)), `u = p + ${d}`).toBe(show(nobleX25519.dh(k, u)));
    }
  });

  it('on public keys given as views into a larger buffer (a received datagram)', () => {
    const priv = fixedPrivateKey(5);
    const datagram = new Uint8Array(148);
    datagram.set(nobleX25519.publicKeyOf(new Uint8Array(32).fill(6)), 8);
    const view = datagram.subarray(8, 40);
    expect(show(nodeX25519.dh(priv, view))).toBe(show(nobleX25519.dh(priv, view)));
  });

  it('re-imports a private key array that was changed in place (no stale cache)', () => {
    const priv = new Uint8Array(32).fill(7);
    const peer = nodeX25519.publicKeyOf(new Uint8Array(32).fill(9));
    const first = show(nodeX25519.dh(priv, peer));
    priv.fill(8);
    expect(show(nodeX25519.dh(priv, peer))).not.toBe(first);
    expect(show(nodeX25519.dh(priv, peer))).toBe(show(nobleX25519.dh(priv, peer)));
  });
});

describe.each([nodeX25519, nobleX25519])('X25519 through $name', (x: X25519) => {
  it('dh rejects every low-order public key for any private key', () => {
    fc.assert(
      fc.property(bytes32, fc.constantFrom(...LOW_ORDER), (k, u) => {
        expect(x.dh(generatePrivateKey(k), u)).toBeUndefined();
        expect(x.dh(k, u)).toBeUndefined();
      }),
      { numRuns: 30 },
    );
  });

  it('publicKeyOf throws RangeError for a private key of the wrong length (a programmer error)', () => {
    for (const n of [0, 31, 33]) expect(() => x.publicKeyOf(new Uint8Array(n))).toThrow(RangeError);
  });

  it('dh returns undefined for keys of the wrong length instead of throwing', () => {
    const k = fixedPrivateKey(3);
    const pub = x.publicKeyOf(fixedPrivateKey(4));
    for (const [a, b] of [[k.subarray(1), pub], [k, pub.subarray(0, 31)], [new Uint8Array(0), pub], [k, new Uint8Array(33)]] as const) {
      expect(x.dh(a, b)).toBeUndefined();
    }
  });
});

describe('PKCS#8 fallback import', () => {
  it('yields the RFC 7748 §6.1 public key for Alice', () => {
    const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const jwk = createPublicKey(importPrivateDer(alice)).export({ format: 'jwk' });
    expect(toHex(new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url')))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });
});
