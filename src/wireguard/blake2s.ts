/**
 * BLAKE2s-256 (RFC 7693), HMAC-BLAKE2s and KDF1..3 (whitepaper §5.4) for the handshake's hot
 * path. A handshake side runs about 20 HMACs; through the general-purpose @noble/hashes objects
 * those were a third of the handshake's CPU time (profiled), mostly per-call object setup. This
 * file does the same arithmetic over preallocated scratch words with a fully unrolled G function.
 * It is the only BLAKE2s implementation in src/ (crypto.ts exports these functions as hash, mac,
 * hmacBlake2s and kdf); measured 3–10× faster than @noble/hashes and about 3.5× faster than
 * node:crypto's createHmac('blake2s256') (bench/wireguard/crypto.bench.ts). @noble/hashes stays
 * the reference backend in tests (test/reference/blake2s-reference.ts): RFC 7693 vectors, KDF
 * vectors and random inputs run through both, and the wireguard-go interop test checks the
 * whole handshake.
 *
 * Only what WireGuard needs: 32-byte digests and 16-byte keyed MACs of short messages (< 2^32 bytes).
 */

/** BLAKE2s-256 digest length, HASH's output (whitepaper §5.4). */
const HASH_BYTES = 32;
/** Keyed BLAKE2s output length, MAC's output (whitepaper §5.4). */
const MAC_BYTES = 16;
const MAX_KEY_BYTES = 32;

const BLOCK_BYTES = 64;
// RFC 7693 §2.6: the SHA-256 initial values.
const IV0 = 0x6a09e667, IV1 = 0xbb67ae85, IV2 = 0x3c6ef372, IV3 = 0xa54ff53a;
const IV4 = 0x510e527f, IV5 = 0x9b05688c, IV6 = 0x1f83d9ab, IV7 = 0x5be0cd19;
// RFC 7693 §2.7: message word permutations for the 10 rounds.
// prettier-ignore
const SIGMA = Uint8Array.from([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);

const h = new Uint32Array(8);
const m = new Uint32Array(16);
/** Scratch for message assembly: ipad/opad block plus inner message (WireGuard inputs are short). */
let scratch = new Uint8Array(4 * BLOCK_BYTES);

/** RFC 7693 §3.2 F: compresses the block in `m` into `h`. `t` is the byte count so far. */
function compress(t: number, last: boolean): void {
  let v0 = h[0]!, v1 = h[1]!, v2 = h[2]!, v3 = h[3]!, v4 = h[4]!, v5 = h[5]!, v6 = h[6]!, v7 = h[7]!;
  let v8 = IV0, v9 = IV1, v10 = IV2, v11 = IV3;
  let v12 = IV4 ^ (t >>> 0), v13 = IV5 ^ Math.floor(t / 0x100000000), v14 = last ? ~IV6 : IV6, v15 = IV7;
  for (let r = 0; r < 160; r += 16) {
    // G(v0, v4, v8, v12), G(v1, v5, v9, v13), G(v2, v6, v10, v14), G(v3, v7, v11, v15)
    v0 = (v0 + v4 + m[SIGMA[r]!]!) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
    v0 = (v0 + v4 + m[SIGMA[r + 1]!]!) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
    v1 = (v1 + v5 + m[SIGMA[r + 2]!]!) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
    v1 = (v1 + v5 + m[SIGMA[r + 3]!]!) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
    v2 = (v2 + v6 + m[SIGMA[r + 4]!]!) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
    v2 = (v2 + v6 + m[SIGMA[r + 5]!]!) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
    v3 = (v3 + v7 + m[SIGMA[r + 6]!]!) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
    v3 = (v3 + v7 + m[SIGMA[r + 7]!]!) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
    // G(v0, v5, v10, v15), G(v1, v6, v11, v12), G(v2, v7, v8, v13), G(v3, v4, v9, v14)
    v0 = (v0 + v5 + m[SIGMA[r + 8]!]!) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
    v0 = (v0 + v5 + m[SIGMA[r + 9]!]!) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
    v1 = (v1 + v6 + m[SIGMA[r + 10]!]!) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
    v1 = (v1 + v6 + m[SIGMA[r + 11]!]!) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
    v2 = (v2 + v7 + m[SIGMA[r + 12]!]!) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
    v2 = (v2 + v7 + m[SIGMA[r + 13]!]!) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
    v3 = (v3 + v4 + m[SIGMA[r + 14]!]!) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
    v3 = (v3 + v4 + m[SIGMA[r + 15]!]!) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  }
  h[0] = h[0]! ^ v0 ^ v8; h[1] = h[1]! ^ v1 ^ v9; h[2] = h[2]! ^ v2 ^ v10; h[3] = h[3]! ^ v3 ^ v11;
  h[4] = h[4]! ^ v4 ^ v12; h[5] = h[5]! ^ v5 ^ v13; h[6] = h[6]! ^ v6 ^ v14; h[7] = h[7]! ^ v7 ^ v15;
}

function loadBlock(data: Uint8Array, offset: number, len: number): void {
  if (len === BLOCK_BYTES) {
    for (let i = 0, o = offset; i < 16; i++, o += 4) m[i] = data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24);
    return;
  }
  m.fill(0);
  for (let i = 0; i < len; i++) m[i >>> 2]! |= data[offset + i]! << (8 * (i & 3));
}

/**
 * BLAKE2s of data[0:len] (RFC 7693 §3.3) into `out` (its length is the digest length). With a
 * key, `data` must already start with the key zero-padded to one block, and `len` include it.
 */
function digest(data: Uint8Array, len: number, out: Uint8Array, keyLen = 0): Uint8Array {
  h[0] = IV0 ^ 0x01010000 ^ (keyLen << 8) ^ out.length; // parameter block: digest, key length, fanout 1, depth 1
  h[1] = IV1; h[2] = IV2; h[3] = IV3; h[4] = IV4; h[5] = IV5; h[6] = IV6; h[7] = IV7;
  let off = 0;
  while (len - off > BLOCK_BYTES) {
    loadBlock(data, off, BLOCK_BYTES);
    off += BLOCK_BYTES;
    compress(off, false);
  }
  loadBlock(data, off, len - off);
  compress(len, true);
  for (let i = 0; i < out.length; i++) out[i] = h[i >>> 2]! >>> (8 * (i & 3));
  return out;
}

function ensureScratch(len: number): Uint8Array {
  if (scratch.length < len) scratch = new Uint8Array(len);
  return scratch;
}

function wipeScratch(len: number): void {
  scratch.fill(0, 0, len);
  m.fill(0);
  h.fill(0);
}

/** HASH(a ‖ b ‖ …): BLAKE2s-256 of the concatenated parts (crypto.ts exports it as `hash`). */
export function blake2sHash(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const buf = ensureScratch(len);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  const out = digest(buf, len, new Uint8Array(HASH_BYTES));
  wipeScratch(len);
  return out;
}

/**
 * MAC(key, a ‖ b ‖ …): keyed BLAKE2s with a 16-byte digest (mac1, mac2, cookies); crypto.ts
 * exports it as `mac`. The key is 1..32 bytes (RFC 7693 §2.5); any other length is a programmer
 * error and throws RangeError, as @noble/hashes does.
 */
export function blake2sMac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  if (key.length < 1 || key.length > MAX_KEY_BYTES) throw new RangeError(`blake2sMac: key must be 1..${MAX_KEY_BYTES} bytes, got ${key.length}`);
  // RFC 7693 §3.3: the key, zero-padded to one block, is processed as the first block.
  let len = BLOCK_BYTES;
  for (const p of parts) len += p.length;
  const buf = ensureScratch(len);
  buf.fill(0, 0, BLOCK_BYTES);
  buf.set(key, 0);
  let off = BLOCK_BYTES;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  const out = digest(buf, len, new Uint8Array(MAC_BYTES), key.length);
  wipeScratch(len);
  return out;
}

/** HMAC-BLAKE2s(key, a ‖ b ‖ …) (RFC 2104 with a 64-byte block); crypto.ts exports it as `hmacBlake2s`. */
export function hmacBlake2sFast(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const k = key.length > BLOCK_BYTES ? blake2sHash(key) : key;
  let msgLen = 0;
  for (const p of parts) msgLen += p.length;
  const buf = ensureScratch(BLOCK_BYTES + Math.max(msgLen, HASH_BYTES));
  // inner = HASH((K ⊕ ipad) ‖ message)
  buf.fill(0x36, 0, BLOCK_BYTES);
  for (let i = 0; i < k.length; i++) buf[i]! ^= k[i]!;
  let off = BLOCK_BYTES;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  const inner = digest(buf, off, new Uint8Array(HASH_BYTES));
  // outer = HASH((K ⊕ opad) ‖ inner)
  buf.fill(0x5c, 0, BLOCK_BYTES);
  for (let i = 0; i < k.length; i++) buf[i]! ^= k[i]!;
  buf.set(inner, BLOCK_BYTES);
  const out = digest(buf, BLOCK_BYTES + HASH_BYTES, inner);
  wipeScratch(off > BLOCK_BYTES + HASH_BYTES ? off : BLOCK_BYTES + HASH_BYTES);
  return out;
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/**
 * KDF1..KDF3 of the whitepaper (HKDF over HMAC-BLAKE2s): returns `n` 32-byte outputs τ1..τn,
 * τ0 = HMAC(key, input), τi = HMAC(τ0, τ(i-1) ‖ i). crypto.ts exports it as `kdf`.
 */
export function kdfFast(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmacBlake2sFast(key, input);
  const t1 = hmacBlake2sFast(t0, ONE);
  const out = [t1];
  if (n >= 2) out.push(hmacBlake2sFast(t0, t1, TWO));
  if (n >= 3) out.push(hmacBlake2sFast(t0, out[1]!, THREE));
  t0.fill(0);
  return out;
}
