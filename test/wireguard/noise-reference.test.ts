import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../src/runtime/bytes.js';
import type { Rng } from '../../src/runtime/rng.js';
import { publicKeyOf } from '../../src/wireguard/crypto.js';
import { beginSession, consumeInitiation, consumeResponse, createInitiation, createResponse, Handshake } from '../../src/wireguard/noise.js';
import { referenceHandshake } from '../reference/noise-reference.js';

/** Hands out the given byte strings in order. */
class ScriptedRng implements Rng {
  constructor(private readonly chunks: Uint8Array[]) {}
  fill(out: Uint8Array): Uint8Array {
    const next = this.chunks.shift();
    if (next === undefined || next.length !== out.length) throw new Error('ScriptedRng: unexpected request');
    out.set(next);
    return out;
  }
}

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('noise.ts against the slow reference (noble primitives, straight from the whitepaper)', () => {
  it('produces byte-identical initiations, responses and session keys', () => {
    fc.assert(
      fc.property(
        fc.record({
          iPriv: key, rPriv: key, eI: key, eR: key,
          psk: fc.oneof(key, fc.constant(new Uint8Array(32))),
          iIndex: fc.nat({ max: 0xffffffff }), rIndex: fc.nat({ max: 0xffffffff }),
          wallMs: fc.integer({ min: 0, max: 2 ** 42 }),
        }),
        (x) => {
          // Static keys stay unclamped on purpose: X25519 clamps internally, both paths must agree.
          const ref = referenceHandshake({
            initiatorPrivate: x.iPriv, responderPrivate: x.rPriv, psk: x.psk,
            initiatorEphemeralRandom: x.eI, responderEphemeralRandom: x.eR,
            initiatorIndex: x.iIndex, responderIndex: x.rIndex, wallMs: x.wallMs,
          });
          const initiator = { privateKey: x.iPriv, publicKey: publicKeyOf(x.iPriv) };
          const responder = { privateKey: x.rPriv, publicKey: publicKeyOf(x.rPriv) };
          const iHs = new Handshake(initiator, responder.publicKey, x.psk);
          const rHs = new Handshake(responder, initiator.publicKey, x.psk);
          const init = createInitiation(iHs, x.iIndex, x.wallMs, new ScriptedRng([x.eI]));
          expect(toHex(init)).toBe(toHex(ref.initiation));
          expect(consumeInitiation(responder, init, () => rHs).type).toBe('ok');
          const resp = createResponse(rHs, x.rIndex, new ScriptedRng([x.eR]));
          expect(toHex(resp)).toBe(toHex(ref.response));
          expect(consumeResponse(initiator, resp, () => iHs).type).toBe('ok');
          const i = beginSession(iHs)!;
          const r = beginSession(rHs)!;
          expect([toHex(i.sendKey), toHex(i.receiveKey)]).toEqual([toHex(ref.initiatorSend), toHex(ref.initiatorReceive)]);
          expect([toHex(r.sendKey), toHex(r.receiveKey)]).toEqual([toHex(ref.initiatorReceive), toHex(ref.initiatorSend)]);
        },
      ),
      { numRuns: 25 },
    );
  });
});
