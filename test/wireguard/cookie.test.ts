import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isAllZero, toHex } from '../../src/runtime/bytes.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { mac } from '../../src/wireguard/crypto.js';
import { CookieChecker, CookieGenerator, cookieSourceAddress, mac1Key } from '../../src/wireguard/cookie.js';
import { consumeInitiation, createInitiation, createResponse } from '../../src/wireguard/noise.js';
import { identity, pair, WALL_MS } from './handshake-fixtures.js';

const SRC = cookieSourceAddress(Uint8Array.of(127, 0, 0, 1), 51820);
const OTHER_SRC = cookieSourceAddress(Uint8Array.of(127, 0, 0, 1), 51821);
const T0 = 1_000_000;

function setup(seed = 1) {
  const p = pair(seed);
  const checker = new CookieChecker(p.responder.publicKey, new SeededRng(seed + 100));
  const generator = new CookieGenerator(p.responder.publicKey);
  let wall = WALL_MS;
  let index = 1;
  const initiation = (now: number) => {
    const m = createInitiation(p.iHs, index++, (wall += 1000), p.rng);
    generator.addMacs(m, now);
    return m;
  };
  return { p, checker, generator, initiation };
}

describe('mac1', () => {
  it('is MAC(HASH("mac1----" ‖ S_responder.pub), msg[0:116]) and the checker accepts it', () => {
    const { p, checker, initiation } = setup(1);
    const m = initiation(T0);
    expect(toHex(m.subarray(116, 132))).toBe(toHex(mac(mac1Key(p.responder.publicKey), m.subarray(0, 116))));
    expect(checker.checkMac1(m)).toBe(true);
    expect(isAllZero(m.subarray(132))).toBe(true); // no cookie yet: mac2 zero
  });

  it('is required: zero, wrong-key or tampered mac1 fails', () => {
    const { p, checker, initiation } = setup(2);
    const m = initiation(T0);
    expect(new CookieChecker(p.initiator.publicKey, new SeededRng(1)).checkMac1(m)).toBe(false);
    expect(new CookieChecker(undefined, new SeededRng(1)).checkMac1(m)).toBe(false);
    const zero = Uint8Array.from(m);
    zero.fill(0, 116, 132);
    expect(checker.checkMac1(zero)).toBe(false);
    for (let i = 0; i < 132; i++) {
      const bad = Uint8Array.from(m);
      bad[i]! ^= 0x04;
      expect(checker.checkMac1(bad), `byte ${i}`).toBe(false);
    }
    expect(checker.checkMac1(m.subarray(0, 147))).toBe(false);
  });

  it('covers responses too (offset 60)', () => {
    const { p, checker } = setup(3);
    const init = createInitiation(p.iHs, 1, WALL_MS, p.rng);
    consumeInitiation(p.responder, init, p.findPeer);
    const resp = createResponse(p.rHs, 2, p.rng);
    new CookieGenerator(p.initiator.publicKey).addMacs(resp, T0);
    expect(new CookieChecker(p.initiator.publicKey, new SeededRng(1)).checkMac1(resp)).toBe(true);
    expect(checker.checkMac1(resp)).toBe(false); // mac1 is keyed to the receiver's public key
  });
});

describe('mac2 and cookie replies', () => {
  it('a consumed cookie reply makes the next initiation carry a mac2 the checker accepts', () => {
    const { checker, generator, initiation } = setup(10);
    const m1 = initiation(T0);
    expect(checker.checkMac2(m1, SRC, T0)).toBe(false);
    const reply = checker.createReply(m1, 1, SRC, T0);
    expect(reply.length).toBe(64);
    expect(toHex(reply.subarray(0, 8))).toBe('0300000001000000');
    expect(generator.consumeReply(reply, T0 + 5)).toBe(true);
    const m2 = initiation(T0 + 10);
    expect(isAllZero(m2.subarray(132))).toBe(false);
    expect(checker.checkMac1(m2)).toBe(true);
    expect(checker.checkMac2(m2, SRC, T0 + 10)).toBe(true);
    expect(checker.checkMac2(m2, OTHER_SRC, T0 + 10)).toBe(false); // the cookie is bound to the source address
    const tampered = Uint8Array.from(m2);
    tampered[140]! ^= 1;
    expect(checker.checkMac2(tampered, SRC, T0 + 10)).toBe(false);
  });

  it('a reply only decrypts with the mac1 last sent, and only once', () => {
    const { checker, generator, initiation } = setup(11);
    const m1 = initiation(T0);
    const reply1 = checker.createReply(m1, 1, SRC, T0);
    initiation(T0 + 1); // a newer initiation: its mac1 is now the AAD we expect
    expect(generator.consumeReply(reply1, T0 + 2)).toBe(false);
    const m3 = initiation(T0 + 3);
    const reply3 = checker.createReply(m3, 3, SRC, T0 + 3);
    const bad = Uint8Array.from(reply3);
    bad[40]! ^= 1;
    expect(generator.consumeReply(bad, T0 + 4)).toBe(false);
    expect(generator.consumeReply(reply3, T0 + 4)).toBe(true);
    expect(generator.consumeReply(reply3, T0 + 5)).toBe(false);
  });

  it('a reply from someone without the responder key does not decrypt', () => {
    const { generator, initiation } = setup(12);
    const m = initiation(T0);
    const impostor = new CookieChecker(identity(new SeededRng(77)).publicKey, new SeededRng(5));
    expect(generator.consumeReply(impostor.createReply(m, 1, SRC, T0), T0)).toBe(false);
  });

  it('stops using a cookie 115 s after receipt (120 s minus 5 s latency) and older than 120 s', () => {
    const { checker, generator, initiation } = setup(13);
    generator.consumeReply(checker.createReply(initiation(T0), 1, SRC, T0), T0);
    expect(isAllZero(initiation(T0 + 115_000).subarray(132))).toBe(false);
    expect(isAllZero(initiation(T0 + 115_001).subarray(132))).toBe(true);
    expect(isAllZero(initiation(T0 + 121_000).subarray(132))).toBe(true);
    expect(generator.hasCookie(T0 + 121_000)).toBe(false);
  });

  it('rotates the secret after 120 s: old cookies stop validating, a new reply works', () => {
    const { checker, generator, initiation } = setup(14);
    generator.consumeReply(checker.createReply(initiation(T0), 1, SRC, T0), T0);
    const m = initiation(T0 + 100_000);
    expect(checker.checkMac2(m, SRC, T0 + 100_000)).toBe(true);
    expect(checker.checkMac2(m, SRC, T0 + 120_001)).toBe(false); // secret expired
    const fresh = initiation(T0 + 120_002);
    const reply = checker.createReply(fresh, 9, SRC, T0 + 120_002); // new secret
    expect(checker.checkMac2(m, SRC, T0 + 120_003)).toBe(false); // old cookie under the new secret
    expect(generator.consumeReply(reply, T0 + 120_003)).toBe(true);
    expect(checker.checkMac2(initiation(T0 + 120_004), SRC, T0 + 120_004)).toBe(true);
  });

  it('never throws on arbitrary bytes', () => {
    const { checker, generator, initiation } = setup(15);
    initiation(T0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(64, 92, 148), (bytes, n) => {
        const sized = bytes.length >= n ? bytes.subarray(0, n) : bytes;
        expect(typeof checker.checkMac1(sized)).toBe('boolean');
        expect(typeof checker.checkMac2(sized, SRC, T0)).toBe('boolean');
        if (sized.length === 64) sized[0] = 3;
        expect(generator.consumeReply(sized, T0)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
