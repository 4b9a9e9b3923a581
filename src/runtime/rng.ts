/**
 * Randomness source. Cores receive an `Rng` so tests can make handshakes and IDs reproducible.
 */
import { randomFillSync } from 'node:crypto';

export interface Rng {
  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array;
}

/** Cryptographically secure randomness from the operating system. */
export class SystemRng implements Rng {
  fill(out: Uint8Array): Uint8Array {
    randomFillSync(out);
    return out;
  }
}

/**
 * Deterministic, NOT secure randomness for tests: xorshift128+ seeded from a number.
 * Never use outside tests and benchmarks.
 */
export class SeededRng implements Rng {
  #s0: bigint;
  #s1: bigint;
  static readonly #MASK = (1n << 64n) - 1n;

  constructor(seed: number) {
    this.#s0 = (BigInt(seed >>> 0) * 0x9e3779b97f4a7c15n + 1n) & SeededRng.#MASK;
    this.#s1 = (this.#s0 ^ 0xbf58476d1ce4e5b9n) & SeededRng.#MASK;
  }
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i++) {
      let s1 = this.#s0;
      const s0 = this.#s1;
      this.#s0 = s0;
      s1 = (s1 ^ (s1 << 23n)) & SeededRng.#MASK;
      this.#s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
      out[i] = Number((this.#s1 + s0) & 0xffn);
    }
    return out;
  }
}

/** A uniformly random integer in [0, bound) from `rng` (bound <= 2^32). */
export function randomInt(rng: Rng, bound: number): number {
  if (!(bound > 0 && bound <= 2 ** 32)) throw new RangeError(`randomInt: bound out of range: ${bound}`);
  const buf = new Uint8Array(4);
  const limit = 2 ** 32 - (2 ** 32 % bound);
  for (;;) {
    rng.fill(buf);
    const v = (buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24)) >>> 0;
    if (v < limit) return v % bound;
  }
}
