/**
 * WireGuard crypto micro-benchmarks: transport AEAD at 64 / 1420 / 8192 bytes for both backends
 * (plus the pre-change node:crypto code, to measure the allocation work); X25519 through
 * x25519.ts (node:crypto, cached JWK imports), uncached DER imports and @noble/curves, with both
 * reused and fresh keys; KDF, HMAC, MAC and HASH through blake2s.ts, @noble/hashes and
 * node:crypto's blake2s256 (the route not taken). Every compared variant is cross-validated on
 * the same inputs before anything is timed.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { bench, crossValidate } from '../harness.js';
import {
  aeadNonce,
  hash,
  hmacBlake2s,
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
} from '../../src/wireguard/crypto.js';
import { nobleBlake2s } from '../../test/reference/blake2s-reference.js';

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
/** node:crypto X25519 with PKCS#8/SPKI DER imports and no cache (the route not taken), for comparison. */
function derDh(scalar: Uint8Array, u: Uint8Array): Uint8Array {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, u]), format: 'der', type: 'spki' });
  return new Uint8Array(diffieHellman({ privateKey, publicKey }));
}
const priv = filled(32, 7);
const peer = nobleX25519.publicKeyOf(filled(32, 9));
const shared = nobleX25519.dh(priv, peer) ?? noAad;
crossValidate('dh node:crypto', shared, nodeX25519.dh(priv, peer) ?? noAad);
crossValidate('dh DER', shared, derDh(priv, peer));
crossValidate('publicKeyOf', nobleX25519.publicKeyOf(priv), publicKeyOf(priv));
// Handshake-like inputs: a fresh private key array (an ephemeral) and a peer key that is a view
// into a datagram, so the x25519.ts KeyObject cache cannot help.
const POOL = 1024;
const freshPrivs = Array.from({ length: POOL }, (_, i) => filled(32, i));
const datagrams = new Uint8Array(POOL * 148);
const peerViews = Array.from({ length: POOL }, (_, i) => {
  datagrams.set(nobleX25519.publicKeyOf(filled(32, i + 11)), i * 148 + 8);
  return datagrams.subarray(i * 148 + 8, i * 148 + 40);
});
crossValidate('dh fresh', nobleX25519.dh(freshPrivs[3]!, peerViews[3]!) ?? noAad, nodeX25519.dh(Uint8Array.from(freshPrivs[3]!), peerViews[3]!) ?? noAad);
let at = 0;
const nextAt = (): number => (at = (at + 1) % POOL);
const xo = { minMs: 300 };
bench('x25519 dh same keys node:crypto (x25519.ts)', () => nodeX25519.dh(priv, peer), xo);
bench('x25519 dh same keys node:crypto DER, no cache', () => derDh(priv, peer), xo);
bench('x25519 dh same keys @noble/curves', () => nobleX25519.dh(priv, peer), xo);
bench('x25519 dh static priv, datagram peer node:crypto', () => nodeX25519.dh(priv, peerViews[nextAt()]!), xo);
bench('x25519 dh fresh priv, datagram peer node:crypto', () => nodeX25519.dh(Uint8Array.from(freshPrivs[nextAt()]!), peerViews[at]!), xo);
bench('x25519 publicKeyOf fresh node:crypto', () => nodeX25519.publicKeyOf(Uint8Array.from(freshPrivs[nextAt()]!)), xo);
bench('x25519 publicKeyOf fresh @noble/curves', () => nobleX25519.publicKeyOf(freshPrivs[nextAt()]!), xo);

process.stdout.write('\n# KDF / HMAC / MAC / HASH (BLAKE2s)\n');
const ck = filled(32, 3);
const input = filled(32, 4);
/** HMAC through node:crypto's blake2s256 (the route not taken: slower than blake2s.ts). */
const nodeHmac = (k: Uint8Array, x: Uint8Array): Uint8Array => new Uint8Array(createHmac('blake2s256', k).update(x).digest());
crossValidate('hmac noble', nobleBlake2s.hmac(ck, input), hmacBlake2s(ck, input));
crossValidate('hmac node:crypto', nodeHmac(ck, input), hmacBlake2s(ck, input));
kdf(3, ck, input).forEach((t, i) => crossValidate(`kdf3 tau${i + 1}`, nobleBlake2s.kdf(3, ck, input)[i]!, t));
bench('hmac 32B blake2s.ts', () => hmacBlake2s(ck, input));
bench('hmac 32B node:crypto createHmac(blake2s256)', () => nodeHmac(ck, input));
bench('hmac 32B @noble/hashes', () => nobleBlake2s.hmac(ck, input));
bench('kdf3 blake2s.ts', () => kdf(3, ck, input));
bench('kdf3 @noble/hashes', () => nobleBlake2s.kdf(3, ck, input));
const initiation = filled(116, 5); // mac1 covers the first 116 bytes of a 148-byte initiation
crossValidate('mac', mac(ck, initiation), nobleBlake2s.mac(ck, initiation));
bench('mac (keyed blake2s-128) 116B blake2s.ts', () => mac(ck, initiation), { bytesPerOp: 116 });
bench('mac (keyed blake2s-128) 116B @noble/hashes', () => nobleBlake2s.mac(ck, initiation), { bytesPerOp: 116 });
const nodeHash = (a: Uint8Array, b: Uint8Array): Uint8Array => new Uint8Array(createHash('blake2s256').update(a).update(b).digest());
crossValidate('hash node:crypto', hash(ck, input), nodeHash(ck, input));
crossValidate('hash noble', hash(ck, input), nobleBlake2s.hash(ck, input));
bench('hash 64B blake2s.ts', () => hash(ck, input));
bench('hash 64B node:crypto createHash', () => nodeHash(ck, input));
bench('hash 64B @noble/hashes', () => nobleBlake2s.hash(ck, input));

process.stdout.write('\n# XAEAD (cookie reply: 16-byte cookie sealed with mac1 as AAD)\n');
const cookie = filled(16, 6);
const mac1 = filled(16, 8);
const xnonce = filled(24, 10);
crossValidate('xaead seal', nobleXaead.seal(key, xnonce, cookie, mac1), nodeXaead.seal(key, xnonce, cookie, mac1));
for (const x of [nobleXaead, nodeXaead]) bench(`xaead seal cookie ${x.name}`, () => x.seal(key, xnonce, cookie, mac1));
