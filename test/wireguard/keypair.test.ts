import { describe, expect, it } from 'vitest';
import { nobleAead } from '../../src/wireguard/crypto.js';
import { Keypair, KeypairSet, paddedLength, transportMessageLength } from '../../src/wireguard/keypair.js';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES } from '../../src/wireguard/constants.js';
import { SeededRng } from '../../src/runtime/rng.js';

const MTU = 1420;
const T0 = 1_000_000;

function pair(): [Keypair, Keypair] {
  const rng = new SeededRng(7);
  const k1 = rng.fill(new Uint8Array(32));
  const k2 = rng.fill(new Uint8Array(32));
  const a = new Keypair({ sendKey: k1, receiveKey: k2, localIndex: 1, remoteIndex: 2, isInitiator: true }, T0);
  const b = new Keypair({ sendKey: k2, receiveKey: k1, localIndex: 2, remoteIndex: 1, isInitiator: false }, T0);
  return [a, b];
}

function counterOf(msg: Uint8Array): bigint {
  return new DataView(msg.buffer, msg.byteOffset).getBigUint64(8, true);
}

describe('paddedLength (wg-go calculatePaddingSize)', () => {
  it.each([
    [0, 0], [1, 16], [15, 16], [16, 16], [17, 32], [1400, 1408], [1419, 1420], [1420, 1420],
    // Larger than the MTU: padded as if its length were len % mtu.
    [1421, 1436], [2840, 2840],
  ])('%i bytes pad to %i at MTU 1420', (len, expected) => {
    expect(paddedLength(len, MTU)).toBe(expected);
  });
  it('without an MTU rounds up to 16', () => {
    expect(paddedLength(1419, 0)).toBe(1424);
  });
});

describe('Keypair transport encryption', () => {
  it('writes type 4, the peer index, the counter and a padded ciphertext that noble decrypts', () => {
    const [a] = pair();
    const plain = Uint8Array.from({ length: 21 }, (_, i) => i + 1);
    const out = new Uint8Array(2000);
    const n = a.encrypt(plain, MTU, out, T0);
    expect(n).toBe(transportMessageLength(21, MTU));
    expect(n).toBe(16 + 32 + 16);
    expect(Array.from(out.subarray(0, 8))).toEqual([4, 0, 0, 0, 2, 0, 0, 0]);
    expect(counterOf(out)).toBe(0n);
    // Cross-check against the pure-JS AEAD with the same key.
    const rng = new SeededRng(7);
    const k1 = rng.fill(new Uint8Array(32));
    const opened = nobleAead.open(k1, 0n, out.subarray(16, n), new Uint8Array(0));
    expect(opened).toBeDefined();
    expect(Array.from(opened!)).toEqual([...plain, ...new Array<number>(11).fill(0)]);
  });

  it('counts messages: each packet uses the next counter', () => {
    const [a, b] = pair();
    const out = new Uint8Array(100);
    for (let i = 0n; i < 5n; i++) {
      const n = a.encrypt(new Uint8Array(0), MTU, out, T0);
      expect(n).toBe(32);
      expect(counterOf(out)).toBe(i);
      const r = b.decrypt(out.subarray(0, n), i, T0);
      expect(r).toBeInstanceOf(Uint8Array);
      expect((r as Uint8Array).length).toBe(0);
    }
    expect(a.sendCounter).toBe(5n);
  });

  it('carries the counter across the 32-bit boundary', () => {
    const [a, b] = pair();
    a.sendCounter = 0xffff_ffffn;
    const out = new Uint8Array(100);
    a.encrypt(new Uint8Array(1), MTU, out, T0);
    expect(counterOf(out)).toBe(0xffff_ffffn);
    expect(b.decrypt(out.subarray(0, 48), 0xffff_ffffn, T0)).toBeInstanceOf(Uint8Array);
    a.encrypt(new Uint8Array(1), MTU, out, T0);
    expect(counterOf(out)).toBe(0x1_0000_0000n);
    expect(a.sendCounter).toBe(0x1_0000_0001n);
  });

  it('refuses to send at REJECT_AFTER_MESSAGES and flags rekey after REKEY_AFTER_MESSAGES', () => {
    const [a] = pair();
    const out = new Uint8Array(100);
    a.sendCounter = REKEY_AFTER_MESSAGES;
    expect(a.needsRekeyByMessages).toBe(false);
    a.sendCounter = REKEY_AFTER_MESSAGES + 1n;
    expect(a.needsRekeyByMessages).toBe(true);
    a.sendCounter = REJECT_AFTER_MESSAGES - 1n;
    expect(a.encrypt(new Uint8Array(0), MTU, out, T0)).toBe(32);
    expect(counterOf(out)).toBe(REJECT_AFTER_MESSAGES - 1n);
    expect(a.canSend(T0)).toBe(false);
    expect(a.encrypt(new Uint8Array(0), MTU, out, T0)).toBe(0);
  });

  it('refuses to send or receive once REJECT_AFTER_TIME has passed', () => {
    const [a, b] = pair();
    const out = new Uint8Array(100);
    const n = a.encrypt(new Uint8Array(0), MTU, out, T0 + REJECT_AFTER_TIME_MS - 1);
    expect(n).toBe(32);
    expect(b.decrypt(out.subarray(0, n), 0n, T0 + REJECT_AFTER_TIME_MS)).toBe('expired-keypair');
    expect(a.encrypt(new Uint8Array(0), MTU, out, T0 + REJECT_AFTER_TIME_MS)).toBe(0);
  });

  it('rejects a replayed counter only after authenticating it', () => {
    const [a, b] = pair();
    const out = new Uint8Array(100);
    const n = a.encrypt(new Uint8Array(16), MTU, out, T0);
    const msg = out.slice(0, n);
    expect(b.decrypt(msg, 0n, T0)).toBeInstanceOf(Uint8Array);
    expect(b.decrypt(msg, 0n, T0)).toBe('replayed-counter');
    // A forged packet with a fresh counter fails authentication and does not move the window.
    const forged = msg.slice();
    forged[20]! ^= 1;
    new DataView(forged.buffer).setBigUint64(8, 100_000n, true);
    expect(b.decrypt(forged, 100_000n, T0)).toBe('decrypt-failed');
    const next = out.subarray(0, a.encrypt(new Uint8Array(16), MTU, out, T0));
    expect(b.decrypt(next, 1n, T0)).toBeInstanceOf(Uint8Array);
  });

  it('wipes its keys when destroyed', () => {
    const [a, b] = pair();
    const out = new Uint8Array(100);
    const n = a.encrypt(new Uint8Array(0), MTU, out, T0);
    b.destroy();
    expect(b.destroyed).toBe(true);
    expect(b.decrypt(out.subarray(0, n), 0n, T0)).toBe('expired-keypair');
    a.destroy();
    expect(a.encrypt(new Uint8Array(0), MTU, out, T0)).toBe(0);
  });
});

describe('KeypairSet rotation (kernel add_new_keypair / received_with_keypair)', () => {
  let nextIndex = 100;
  function kp(isInitiator: boolean): Keypair {
    const k = new Uint8Array(32);
    return new Keypair({ sendKey: k, receiveKey: k, localIndex: nextIndex++, remoteIndex: 0, isInitiator }, T0);
  }

  it('the initiator uses a new keypair at once; the old current becomes previous', () => {
    const dropped: Keypair[] = [];
    const set = new KeypairSet((k) => dropped.push(k));
    const k1 = kp(true);
    const k2 = kp(true);
    const k3 = kp(true);
    set.add(k1);
    expect(set.current).toBe(k1);
    set.add(k2);
    expect([set.previous, set.current, set.next]).toEqual([k1, k2, undefined]);
    set.add(k3);
    expect([set.previous, set.current]).toEqual([k2, k3]);
    expect(dropped).toEqual([k1]);
    expect(k1.destroyed).toBe(true);
  });

  it('the responder parks a new keypair as next until the first packet under it arrives', () => {
    const dropped: Keypair[] = [];
    const set = new KeypairSet((k) => dropped.push(k));
    const k1 = kp(true);
    set.add(k1);
    const r = kp(false);
    set.add(r);
    expect([set.previous, set.current, set.next]).toEqual([undefined, k1, r]);
    expect(set.receivedWith(k1)).toBe(false);
    expect(set.receivedWith(r)).toBe(true);
    expect([set.previous, set.current, set.next]).toEqual([k1, r, undefined]);
    expect(set.receivedWith(r)).toBe(false);
  });

  it('an initiator keypair arriving while a next is pending demotes next to previous', () => {
    const dropped: Keypair[] = [];
    const set = new KeypairSet((k) => dropped.push(k));
    const c = kp(true);
    const n = kp(false);
    const i = kp(true);
    set.add(c);
    set.add(n);
    set.add(i);
    expect([set.previous, set.current, set.next]).toEqual([n, i, undefined]);
    expect(dropped).toEqual([c]);
    set.clear();
    expect(dropped).toEqual([c, n, i]);
    expect(set.current).toBeUndefined();
  });
});
