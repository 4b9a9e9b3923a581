/**
 * Handshakes per second (no sockets): the initiator side (createInitiation + consumeResponse),
 * the responder side (consumeInitiation + createResponse), a full handshake with both
 * beginSession calls, mac1 work, and the X25519 backends. Everything is cross-validated first:
 * a handshake must give crosswise-equal keys, and node:crypto X25519 must equal noble's.
 */
import { bench, crossValidate } from '../harness.js';
import { SeededRng, SystemRng, type Rng } from '../../src/runtime/rng.js';
import { kdf, mac } from '../../src/wireguard/crypto.js';
import { nobleBlake2s } from '../../test/reference/blake2s-reference.js';
import { identity } from '../../test/support/wg-keys.js';
import { CookieChecker, CookieGenerator, mac1Key } from '../../src/wireguard/cookie.js';
import {
  beginSession,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
} from '../../src/wireguard/noise.js';
import { nobleX25519, nodeX25519 } from '../../src/wireguard/x25519.js';

const WALL_MS = Date.UTC(2026, 10, 26);
const MIN_MS = 300;
const RUNS = 5;

/** Always yields the same bytes, so createInitiation reproduces one message and its response fits. */
class FixedRng implements Rng {
  constructor(private readonly bytes: Uint8Array) {}
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i++) out[i] = this.bytes[i % this.bytes.length]!;
    return out;
  }
}

const seeded = new SeededRng(42);
const rng = new SystemRng();
const initiator = identity(seeded);
const responder = identity(seeded);
const psk = seeded.fill(new Uint8Array(32));
const iHs = new Handshake(initiator, responder.publicKey, psk);
const rHs = new Handshake(responder, initiator.publicKey, psk);
const findPeer = (pub: Uint8Array) => (pub.every((b, i) => b === initiator.publicKey[i]) ? rHs : undefined);
const findByIndex = () => iHs;

// --- cross-validation -------------------------------------------------------------------------
{
  const x = seeded.fill(new Uint8Array(32));
  const y = nodeX25519.publicKeyOf(seeded.fill(new Uint8Array(32)));
  crossValidate('x25519 publicKeyOf node vs noble', nodeX25519.publicKeyOf(x), nobleX25519.publicKeyOf(x));
  crossValidate('x25519 dh node vs noble', nodeX25519.dh(x, y)!, nobleX25519.dh(x, y)!);
  const init = createInitiation(iHs, 1, WALL_MS, seeded);
  if (consumeInitiation(responder, init, findPeer).type !== 'ok') throw new Error('cross-validate: consumeInitiation failed');
  const resp = createResponse(rHs, 2, seeded);
  if (consumeResponse(initiator, resp, findByIndex).type !== 'ok') throw new Error('cross-validate: consumeResponse failed');
  const a = beginSession(iHs)!;
  const b = beginSession(rHs)!;
  crossValidate('initiator send = responder receive', a.sendKey, b.receiveKey);
  crossValidate('initiator receive = responder send', a.receiveKey, b.sendKey);
}

let wall = WALL_MS + 1_000_000;

// --- X25519 -------------------------------------------------------------------------------------
{
  const priv = seeded.fill(new Uint8Array(32));
  const pub = responder.publicKey;
  bench('x25519 dh (node:crypto)', () => void nodeX25519.dh(priv, pub), { minMs: MIN_MS, runs: RUNS });
  bench('x25519 dh (@noble/curves)', () => void nobleX25519.dh(priv, pub), { minMs: MIN_MS, runs: 3 });
}

// --- KDF3 (HMAC-BLAKE2s) ------------------------------------------------------------------------
{
  const key = seeded.fill(new Uint8Array(32));
  const input = seeded.fill(new Uint8Array(32));
  kdf(3, key, input).forEach((t, i) => crossValidate(`kdf3 output ${i} fast vs noble`, nobleBlake2s.kdf(3, key, input)[i]!, t));
  bench('kdf3 (blake2s.ts unrolled)', () => void kdf(3, key, input), { minMs: MIN_MS, runs: RUNS });
  bench('kdf3 (@noble/hashes hmac)', () => void nobleBlake2s.kdf(3, key, input), { minMs: MIN_MS, runs: RUNS });
}

// --- initiator side -----------------------------------------------------------------------------
{
  // Same ephemeral and timestamp every time, so one precomputed response always fits.
  const fixed = new FixedRng(seeded.fill(new Uint8Array(32)));
  const init = createInitiation(iHs, 7, wall, fixed);
  const rHs2 = new Handshake(responder, initiator.publicKey, psk);
  if (consumeInitiation(responder, init, () => rHs2).type !== 'ok') throw new Error('initiator bench setup');
  const resp = createResponse(rHs2, 8, rng);
  bench('handshake initiator (createInitiation+consumeResponse)', () => {
    createInitiation(iHs, 7, wall, fixed);
    if (consumeResponse(initiator, resp, findByIndex).type !== 'ok') throw new Error('consumeResponse failed in bench');
  }, { minMs: MIN_MS, runs: RUNS });
}

// --- responder side -----------------------------------------------------------------------------
{
  // Each consumeInitiation needs a strictly newer timestamp, so pre-build a pool sized from a
  // trial run (generous: the harness needs warmup + RUNS × MIN_MS of calls).
  const makePool = (n: number) => Array.from({ length: n }, (_, i) => createInitiation(iHs, i, (wall += 1000), rng));
  const respond = (m: Uint8Array) => {
    if (consumeInitiation(responder, m, findPeer).type !== 'ok') throw new Error('consumeInitiation failed in bench');
    createResponse(rHs, 9, rng);
  };
  const trial = makePool(200);
  const t0 = performance.now();
  for (const m of trial) respond(m);
  const ratePerMs = trial.length / (performance.now() - t0);
  const pool = makePool(Math.ceil(ratePerMs * RUNS * MIN_MS * 2.5) + 2000);
  let next = 0;
  bench('handshake responder (consumeInitiation+createResponse)', () => {
    const m = pool[next++];
    if (m === undefined) throw new Error('responder bench: initiation pool exhausted');
    respond(m);
  }, { minMs: MIN_MS, runs: RUNS });
}

// --- full handshake, both sides, with MACs ------------------------------------------------------
{
  const checkerR = new CookieChecker(responder.publicKey, rng);
  const checkerI = new CookieChecker(initiator.publicKey, rng);
  const genI = new CookieGenerator(responder.publicKey);
  const genR = new CookieGenerator(initiator.publicKey);
  bench('handshake full (both sides, mac1, beginSession)', () => {
    const init = createInitiation(iHs, 1, (wall += 1000), rng);
    genI.addMacs(init, 0);
    if (!checkerR.checkMac1(init) || consumeInitiation(responder, init, findPeer).type !== 'ok') throw new Error('full: initiation');
    const resp = createResponse(rHs, 2, rng);
    genR.addMacs(resp, 0);
    if (!checkerI.checkMac1(resp) || consumeResponse(initiator, resp, findByIndex).type !== 'ok') throw new Error('full: response');
    if (beginSession(iHs) === undefined || beginSession(rHs) === undefined) throw new Error('full: session');
  }, { minMs: MIN_MS, runs: RUNS });

  const m = createInitiation(iHs, 1, (wall += 1000), rng);
  genI.addMacs(m, 0);
  const key = mac1Key(responder.publicKey);
  crossValidate('mac1 fast vs noble', mac(key, m.subarray(0, 116)), nobleBlake2s.mac(key, m.subarray(0, 116)));
  bench('mac1 check (148-byte initiation)', () => void checkerR.checkMac1(m), { minMs: MIN_MS, runs: RUNS });
  bench('mac1 (@noble/hashes keyed blake2s, reference)', () => void nobleBlake2s.mac(key, m.subarray(0, 116)), { minMs: MIN_MS, runs: RUNS });
}
