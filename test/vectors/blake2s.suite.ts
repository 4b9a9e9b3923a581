import { describe, expect, it } from 'vitest';
import { blake2s } from '@noble/hashes/blake2.js';
import { MAC_BYTES } from '../../src/wireguard/crypto.js';
import { BLAKE2S_BACKENDS, type Blake2sBackend } from '../reference/blake2s-reference.js';
import { hex, loadVectors, toHex, unaligned, type VectorCase } from './load.js';

interface Blake2sCase extends VectorCase {
  readonly origin: string;
  readonly key?: string;
  readonly input?: string;
  readonly outputBytes?: number;
  readonly selftest?: 'rfc7693-appendix-e';
  readonly digest: string;
}

const file = loadVectors<Blake2sCase>('blake2s.json');

/** RFC 7693 Appendix E: deterministic Fibonacci byte sequence. */
function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = t >>> 24;
  }
  return out;
}

/** RFC 7693 Appendix E blake2s_selftest(): hash of 48 unkeyed and keyed digests. */
function appendixE(): Uint8Array {
  const grand = blake2s.create({ dkLen: 32 });
  for (const outlen of [16, 20, 28, 32]) {
    for (const inlen of [0, 3, 64, 65, 255, 1024]) {
      const input = selftestSeq(inlen, inlen);
      grand.update(blake2s(input, { dkLen: outlen }));
      grand.update(blake2s(input, { dkLen: outlen, key: selftestSeq(outlen, outlen) }));
    }
  }
  return grand.digest();
}

/** The digest a backend computes for a case: hash() for unkeyed 32, mac() for keyed 16, noble otherwise. */
function compute(b: Blake2sBackend, c: Blake2sCase): string {
  if (c.selftest === 'rfc7693-appendix-e') return toHex(appendixE());
  const input = hex(c.input, 'input');
  const key = hex(c.key ?? '', 'key');
  if (key.length === 0 && c.outputBytes === 32) return toHex(b.hash(input));
  if (key.length > 0 && c.outputBytes === MAC_BYTES) return toHex(b.mac(key, input));
  return toHex(blake2s(input, { dkLen: c.outputBytes, ...(key.length > 0 ? { key } : {}) }));
}

describe.each(BLAKE2S_BACKENDS)('blake2s.json through $name', (b) => {
  it.each(file.cases.filter((c) => c.result === 'valid'))('matches: $name', (c) => {
    expect(compute(b, c)).toBe(c.digest);
  });

  it.each(file.cases.filter((c) => c.result === 'invalid'))('differs from the wrong digest: $name', (c) => {
    expect(compute(b, c)).not.toBe(c.digest);
  });

  it.each(file.cases.filter((c) => c.result === 'valid' && c.input !== undefined && (c.input.length >= 4)))(
    'gives the same digest for the input split into parts and unaligned: $name',
    (c) => {
      const input = hex(c.input, 'input');
      const key = hex(c.key ?? '', 'key');
      for (let offset = 1; offset <= 7; offset++) {
        const u = unaligned(input, offset), k = unaligned(key, offset);
        const at = Math.min(offset, u.view.length);
        const parts = [u.view.subarray(0, at), u.view.subarray(at)];
        if (key.length === 0 && c.outputBytes === 32) expect(toHex(b.hash(...parts))).toBe(c.digest);
        if (key.length > 0 && c.outputBytes === MAC_BYTES) expect(toHex(b.mac(k.view, ...parts))).toBe(c.digest);
        expect(u.intact() && k.intact()).toBe(true);
      }
    },
  );
});
