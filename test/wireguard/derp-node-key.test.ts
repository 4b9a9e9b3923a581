import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generatePrivateKey, publicKeyOf as wgPublicKeyOf } from '../../src/wireguard/crypto.js';
import { clampPrivateKey, publicKeyOf as derpPublicKeyOf } from '../../src/derp/keys.js';
import { toHex } from '../../src/runtime/bytes.js';

describe('the WireGuard key is the DERP node key', () => {
  it('derp publicKeyOf(clamp(k)) equals the WireGuard public key for any 32 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
        const wg = wgPublicKeyOf(generatePrivateKey(Uint8Array.from(raw)));
        const derp = derpPublicKeyOf(clampPrivateKey(Uint8Array.from(raw)));
        expect(toHex(derp)).toBe(toHex(wg));
      }),
      { numRuns: 50 },
    );
  });
});
