import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { hash } from '../../src/wireguard/crypto.js';
import {
  beginSession,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  INITIAL_CHAINING_KEY,
  INITIAL_HASH,
} from '../../src/wireguard/noise.js';
import { INITIATION_MAC1_OFFSET, INITIATION_SENDER_OFFSET, RESPONSE_MAC1_OFFSET, RESPONSE_SENDER_OFFSET } from '../../src/wireguard/constants.js';
import { identity, pair, WALL_MS } from './handshake-fixtures.js';

const PSK = fromHex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20');

/** Runs a full handshake and returns both sides' session keys. */
function handshake(p: ReturnType<typeof pair>, wallMs = WALL_MS) {
  const init = createInitiation(p.iHs, 0x11223344, wallMs, p.rng);
  const ci = consumeInitiation(p.responder, init, p.findPeer);
  if (ci.type !== 'ok') throw new Error(`consumeInitiation: ${ci.reason}`);
  const resp = createResponse(ci.handshake, 0x55667788, p.rng);
  const cr = consumeResponse(p.initiator, resp, p.findByIndex);
  if (cr.type !== 'ok') throw new Error(`consumeResponse: ${cr.reason}`);
  return { init, resp, iKeys: beginSession(p.iHs), rKeys: beginSession(p.rHs) };
}

describe('Noise constants', () => {
  it('derives C0 and H0 as in wireguard.md §1.2', () => {
    expect(toHex(INITIAL_CHAINING_KEY)).toBe('60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
    expect(toHex(INITIAL_HASH)).toBe('2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3');
    expect(toHex(hash(new TextEncoder().encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s')))).toBe(toHex(INITIAL_CHAINING_KEY));
  });
});

describe('handshake round trip', () => {
  it('gives both sides matching session keys, crosswise, and the right indices', () => {
    const p = pair(1);
    const { init, resp, iKeys, rKeys } = handshake(p);
    expect(init.length).toBe(148);
    expect(resp.length).toBe(92);
    expect(iKeys).toBeDefined();
    expect(rKeys).toBeDefined();
    expect(toHex(iKeys!.sendKey)).toBe(toHex(rKeys!.receiveKey));
    expect(toHex(iKeys!.receiveKey)).toBe(toHex(rKeys!.sendKey));
    expect(toHex(iKeys!.sendKey)).not.toBe(toHex(iKeys!.receiveKey));
    expect(iKeys).toMatchObject({ localIndex: 0x11223344, remoteIndex: 0x55667788, isInitiator: true });
    expect(rKeys).toMatchObject({ localIndex: 0x55667788, remoteIndex: 0x11223344, isInitiator: false });
  });

  it('completes with the same preshared key on both sides and derives different keys than without', () => {
    const withPsk = handshake(pair(2, { initiator: PSK, responder: PSK }));
    const without = handshake(pair(2));
    expect(toHex(withPsk.iKeys!.sendKey)).toBe(toHex(withPsk.rKeys!.receiveKey));
    expect(toHex(withPsk.iKeys!.sendKey)).not.toBe(toHex(without.iKeys!.sendKey));
  });

  it('never completes when the preshared keys differ', () => {
    const p = pair(3, { initiator: PSK });
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    const ci = consumeInitiation(p.responder, init, p.findPeer);
    expect(ci.type).toBe('ok'); // the PSK enters only at the response
    const resp = createResponse(p.rHs, 2, p.rng);
    expect(consumeResponse(p.initiator, resp, p.findByIndex)).toEqual({ type: 'drop', reason: 'decrypt-failed' });
    expect(p.iHs.state).toBe('initiationCreated'); // a failed response leaves the handshake in flight
    expect(beginSession(p.iHs)).toBeUndefined();
  });

  it('never completes when the initiator has the wrong responder key', () => {
    const p = pair(4);
    const stranger = identity(new SeededRng(99));
    const hs = new Handshake(p.initiator, stranger.publicKey);
    const init = createInitiation(hs, 1, WALL_MS, p.rng);
    expect(consumeInitiation(p.responder, init, p.findPeer)).toEqual({ type: 'drop', reason: 'decrypt-failed' });
  });

  it('drops an initiation from a static key the responder does not know', () => {
    const p = pair(5);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    expect(consumeInitiation(p.responder, init, () => undefined)).toEqual({ type: 'drop', reason: 'unknown-peer' });
  });

  it('a response is accepted once, and beginSession wipes the handshake', () => {
    const p = pair(6);
    const { resp } = handshake(p);
    expect(p.iHs.state).toBe('zeroed');
    expect(p.iHs.localIndex).toBeUndefined();
    expect(consumeResponse(p.initiator, resp, () => p.iHs)).toEqual({ type: 'drop', reason: 'unknown-index' });
    expect(beginSession(p.iHs)).toBeUndefined();
  });

  it('drops a response whose receiver index does not match the handshake in flight', () => {
    const p = pair(7);
    const init = createInitiation(p.iHs, 10, WALL_MS, p.rng);
    consumeInitiation(p.responder, init, p.findPeer);
    const resp = createResponse(p.rHs, 20, p.rng);
    createInitiation(p.iHs, 11, WALL_MS + 1000, p.rng); // a retransmit replaced index 10
    expect(consumeResponse(p.initiator, resp, () => p.iHs)).toEqual({ type: 'drop', reason: 'unknown-index' });
  });

  it('simultaneous initiations: consuming the peer\'s initiation supersedes our own in flight', () => {
    const p = pair(9);
    const mine = createInitiation(p.iHs, 100, WALL_MS, p.rng); // initiator → responder
    const theirs = createInitiation(p.rHs, 200, WALL_MS, p.rng); // responder → initiator, crossing
    const findResponderPeer = (pub: Uint8Array) => (pub.every((b, i) => b === p.responder.publicKey[i]) ? p.iHs : undefined);
    expect(consumeInitiation(p.initiator, theirs, findResponderPeer).type).toBe('ok');
    expect(p.iHs.state).toBe('initiationConsumed');
    // The responder answers our (now superseded) initiation: no longer acceptable.
    expect(consumeInitiation(p.responder, mine, p.findPeer).type).toBe('ok');
    const lateResponse = createResponse(p.rHs, 201, p.rng);
    expect(consumeResponse(p.initiator, lateResponse, () => p.iHs)).toEqual({ type: 'drop', reason: 'unknown-index' });
    // Symmetrically, their initiation 200 was superseded when they consumed ours, so our response
    // to it is dropped too. Both sides retry after REKEY_TIMEOUT + jitter, as in wg-go.
    const resp = createResponse(p.iHs, 101, p.rng);
    expect(consumeResponse(p.responder, resp, () => p.rHs)).toEqual({ type: 'drop', reason: 'unknown-index' });
  });

  it('rejects createResponse and beginSession in the wrong state', () => {
    const p = pair(8);
    expect(() => createResponse(p.iHs, 1, p.rng)).toThrow(expect.objectContaining({ code: 'WG_ERR_HANDSHAKE_STATE' }));
    createInitiation(p.iHs, 1, WALL_MS, p.rng);
    expect(beginSession(p.iHs)).toBeUndefined();
  });
});

describe('initiation replay and flood', () => {
  it('drops a replayed initiation (same timestamp) as stale-timestamp', () => {
    const p = pair(10);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    expect(consumeInitiation(p.responder, init, p.findPeer).type).toBe('ok');
    expect(consumeInitiation(p.responder, init, p.findPeer)).toEqual({ type: 'drop', reason: 'stale-timestamp' });
    // a fresh initiation with the same (whitened) timestamp is also stale, an older one too
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 2, WALL_MS + 1, p.rng), p.findPeer)).toEqual({ type: 'drop', reason: 'stale-timestamp' });
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 3, WALL_MS - 5000, p.rng), p.findPeer)).toEqual({ type: 'drop', reason: 'stale-timestamp' });
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 4, WALL_MS + 1000, p.rng), p.findPeer).type).toBe('ok');
  });

  it('keeps the greatest timestamp across clear(), beginSession and setLocal', () => {
    const p = pair(11);
    const { init } = handshake(p);
    p.rHs.clear();
    p.rHs.setLocal(p.responder);
    expect(consumeInitiation(p.responder, init, p.findPeer)).toEqual({ type: 'drop', reason: 'stale-timestamp' });
  });

  it('applies the 20 ms flood check when given a monotonic time', () => {
    const p = pair(12);
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 1, WALL_MS, p.rng), p.findPeer, 1000).type).toBe('ok');
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 2, WALL_MS + 1000, p.rng), p.findPeer, 1019)).toEqual({ type: 'drop', reason: 'rate-limited' });
    expect(consumeInitiation(p.responder, createInitiation(p.iHs, 3, WALL_MS + 2000, p.rng), p.findPeer, 1020).type).toBe('ok');
  });
});

describe('low-order keys', () => {
  // Points of small order on Curve25519 (RFC 7748 §6.1 notes; the kernel's netns.sh "low-order" case).
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ];
  it.each(lowOrder)('a peer with static key %s is never valid and never handshakes', (hex) => {
    const me = identity(new SeededRng(20));
    const hs = new Handshake(me, fromHex(hex));
    expect(hs.isValid).toBe(false);
    expect(() => createInitiation(hs, 1, WALL_MS, new SeededRng(1))).toThrow(expect.objectContaining({ code: 'WG_ERR_HANDSHAKE_INVALID' }));
  });

  it('drops an initiation whose ephemeral key is low-order', () => {
    const p = pair(21);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    init.set(fromHex(lowOrder[2]!), 8);
    expect(consumeInitiation(p.responder, init, p.findPeer)).toEqual({ type: 'drop', reason: 'low-order-key' });
  });

  it('drops a response whose ephemeral key is low-order', () => {
    const p = pair(22);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    consumeInitiation(p.responder, init, p.findPeer);
    const resp = createResponse(p.rHs, 2, p.rng);
    resp.set(fromHex(lowOrder[3]!), 12);
    expect(consumeResponse(p.initiator, resp, p.findByIndex)).toEqual({ type: 'drop', reason: 'low-order-key' });
  });

  it('a handshake without a local key is invalid until setLocal', () => {
    const p = pair(23);
    const hs = new Handshake(undefined, p.responder.publicKey);
    expect(hs.isValid).toBe(false);
    hs.setLocal(p.initiator);
    expect(hs.isValid).toBe(true);
  });
});

describe('tampering', () => {
  it('drops an initiation with any flipped byte outside the sender index and MACs, even with a re-computed mac1', () => {
    const p = pair(30);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    let accepted = 0;
    for (let i = 0; i < INITIATION_MAC1_OFFSET; i++) {
      if (i >= INITIATION_SENDER_OFFSET && i < INITIATION_SENDER_OFFSET + 4) continue; // not covered by Noise; mac1 covers it
      const bad = Uint8Array.from(init);
      bad[i]! ^= 0x01;
      const r = consumeInitiation(p.responder, bad, p.findPeer);
      if (r.type === 'ok') accepted++;
    }
    expect(accepted).toBe(0);
    expect(consumeInitiation(p.responder, init, p.findPeer).type).toBe('ok'); // failures changed nothing
  });

  it('drops a response with any flipped byte outside the sender index and MACs', () => {
    const p = pair(31);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    consumeInitiation(p.responder, init, p.findPeer);
    const resp = createResponse(p.rHs, 2, p.rng);
    let accepted = 0;
    for (let i = 0; i < RESPONSE_MAC1_OFFSET; i++) {
      if (i >= RESPONSE_SENDER_OFFSET && i < RESPONSE_SENDER_OFFSET + 4) continue;
      const bad = Uint8Array.from(resp);
      bad[i]! ^= 0x80;
      if (consumeResponse(p.initiator, bad, p.findByIndex).type === 'ok') accepted++;
    }
    expect(accepted).toBe(0);
    expect(consumeResponse(p.initiator, resp, p.findByIndex).type).toBe('ok');
  });

  it('consumeInitiation and consumeResponse never throw on arbitrary bytes', () => {
    const p = pair(32);
    createInitiation(p.iHs, 7, WALL_MS, p.rng);
    const sized = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
    const withType = (n: number, t: number) => sized(n).map((b) => { b.set([t, 0, 0, 0]); b.set([7, 0, 0, 0], 8); return b; });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), withType(148, 1), withType(92, 2)), (bytes) => {
        const a = consumeInitiation(p.responder, bytes, p.findPeer);
        const b = consumeResponse(p.initiator, bytes, p.findByIndex);
        expect(a.type).toBe('drop');
        expect(b.type).toBe('drop');
      }),
      { numRuns: 150 },
    );
  });
});
