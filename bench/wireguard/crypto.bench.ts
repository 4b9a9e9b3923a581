/**
 * WireGuard crypto micro-benchmarks: transport AEAD at 64 / 1420 / 8192 bytes for both backends
 * (plus the pre-change node:crypto code, to measure the allocation work), X25519 through
 * node:crypto (JWK and DER imports) and @noble/curves, KDF, MAC and HASH. Every compared
 * variant is cross-validated on the same inputs before anything is timed.
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { bench, crossValidate } from '../harness.js';
import {
  aeadNonce,
  hash,
  kdf,
  mac,
  nobleAead,
  nobleX25519,
  nobleXaead,
  nodeAead,
  nodeX25519,
  nodeXaead,
  publicKeyOf,
  type Aead,
  type X25519Backend,
} from '../../src/wireguard/crypto.js';

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** The node:crypto AEAD as it was before this branch (new nonce + DataView per packet), for comparison. */
const legacyNodeAead: Aead = {
  name: 'node:crypto (before)',
  seal(key, counter, plaintext, aad) {
    const c = createCipheriv('chacha20-poly1305', key, aeadNonce(counter), { authTagLength: 16 });
    if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    const out = new Uint8Array(body.length + 16);
    out.set(body, 0);
    out.set(c.getAuthTag(), body.length);
    return out;
  },
  open(key, counter, ciphertext, aad) {
    if (ciphertext.length < 16) return undefined;
    const bodyLen = ciphertext.length - 16;
    const d = createDecipheriv('chacha20-poly1305', key, aeadNonce(counter), { authTagLength: 16 });
    d.setAuthTag(ciphertext.subarray(bodyLen));
    if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
    const body = d.update(ciphertext.subarray(0, bodyLen));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  },
};

const key = filled(32, 1);
const noAad = new Uint8Array(0);
const counter = 0x1234_5678n;

process.stdout.write('# transport AEAD (ChaCha20-Poly1305, WireGuard nonce, empty AAD as in data packets)\n');
for (const size of [64, 1420, 8192]) {
  const pt = filled(size, size);
  const sealed = nodeAead.seal(key, counter, pt, noAad);
  const out = new Uint8Array(size + 16);
  for (const aead of [nobleAead, legacyNodeAead]) {
    crossValidate(`seal ${size}B ${aead.name}`, sealed, aead.seal(key, counter, pt, noAad));
    crossValidate(`open ${size}B ${aead.name}`, pt, aead.open(key, counter, sealed, noAad) ?? noAad);
  }
  crossValidate(`seal ${size}B into out`, sealed, nodeAead.seal(key, counter, pt, noAad, out));
  const opts = { bytesPerOp: size, minMs: 250 };
  for (const aead of [nodeAead, legacyNodeAead, nobleAead]) {
    bench(`aead seal ${String(size).padStart(4)}B ${aead.name}`, () => aead.seal(key, counter, pt, noAad), opts);
    bench(`aead open ${String(size).padStart(4)}B ${aead.name}`, () => aead.open(key, counter, sealed, noAad), opts);
  }
  bench(`aead seal ${String(size).padStart(4)}B node:crypto into out`, () => nodeAead.seal(key, counter, pt, noAad, out), opts);
  bench(`aead open ${String(size).padStart(4)}B node:crypto into out`, () => nodeAead.open(key, counter, sealed, noAad, out), opts);
}

process.stdout.write('\n# X25519\n');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
/** node:crypto X25519 with PKCS#8/SPKI DER imports (the route not taken), for comparison. */
const derX25519: X25519Backend = {
  name: 'node:crypto DER import',
  scalarMult(scalar, u) {
    const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, u]), format: 'der', type: 'spki' });
    return new Uint8Array(diffieHellman({ privateKey, publicKey }));
  },
};
const priv = filled(32, 7);
const peer = publicKeyOf(filled(32, 9));
const shared = nobleX25519.scalarMult(priv, peer) ?? noAad;
for (const x of [nodeX25519, derX25519]) crossValidate(`dh ${x.name}`, shared, x.scalarMult(priv, peer) ?? noAad);
for (const x of [nodeX25519, derX25519, nobleX25519]) bench(`x25519 dh ${x.name}`, () => x.scalarMult(priv, peer), { minMs: 300 });
const base = Uint8Array.of(9, ...new Uint8Array(31));
crossValidate('publicKeyOf', nobleX25519.scalarMult(priv, base) ?? noAad, publicKeyOf(priv));
crossValidate('publicKeyOf noble', x25519.getPublicKey(priv), publicKeyOf(priv));
bench('x25519 publicKeyOf (default backend)', () => publicKeyOf(priv), { minMs: 300 });
bench('x25519 publicKeyOf @noble/curves', () => x25519.getPublicKey(priv), { minMs: 300 });

process.stdout.write('\n# KDF / MAC / HASH (BLAKE2s)\n');
const ck = filled(32, 3);
const input = filled(32, 4);
function nobleKdf2(k: Uint8Array, x: Uint8Array): Uint8Array[] {
  const t0 = hmac(blake2s, k, x);
  const t1 = hmac(blake2s, t0, Uint8Array.of(1));
  return [t1, hmac(blake2s, t0, Uint8Array.of(...t1, 2))];
}
const k2 = kdf(2, ck, input);
const n2 = nobleKdf2(ck, input);
crossValidate('kdf2 tau1', k2[0]!, n2[0]!);
crossValidate('kdf2 tau2', k2[1]!, n2[1]!);
bench('kdf2 node:crypto hmac', () => kdf(2, ck, input));
bench('kdf2 @noble/hashes hmac', () => nobleKdf2(ck, input));
bench('kdf3 node:crypto hmac', () => kdf(3, ck, input));
const initiation = filled(116, 5); // mac1 covers the first 116 bytes of a 148-byte initiation
crossValidate('mac', mac(ck, initiation), blake2s(initiation, { key: ck, dkLen: 16 }));
bench('mac (keyed blake2s-128) 116B @noble/hashes', () => mac(ck, initiation), { bytesPerOp: 116 });
const nodeHash = (a: Uint8Array, b: Uint8Array): Uint8Array => new Uint8Array(createHash('blake2s256').update(a).update(b).digest());
crossValidate('hash', hash(ck, input), nodeHash(ck, input));
bench('hash 64B hash() (@noble/hashes)', () => hash(ck, input));
bench('hash 64B node:crypto createHash', () => nodeHash(ck, input));

process.stdout.write('\n# XAEAD (cookie reply: 16-byte cookie sealed with mac1 as AAD)\n');
const cookie = filled(16, 6);
const mac1 = filled(16, 8);
const xnonce = filled(24, 10);
crossValidate('xaead seal', nobleXaead.seal(key, xnonce, cookie, mac1), nodeXaead.seal(key, xnonce, cookie, mac1));
for (const x of [nobleXaead, nodeXaead]) bench(`xaead seal cookie ${x.name}`, () => x.seal(key, xnonce, cookie, mac1));
