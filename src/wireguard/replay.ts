/**
 * The receive-side sliding replay window for transport counters (RFC 6479; whitepaper §5.4.6;
 * wireguard.md §1.5).
 *
 * Sized like the Linux kernel on 64-bit machines (src/receive.c counter_validate,
 * src/messages.h): a ring of COUNTER_BITS_TOTAL = 8192 bits, of which one 64-bit word is kept
 * spare so that the window only ever clears whole words, giving COUNTER_WINDOW_SIZE =
 * 8192 − 64 = 8128 counters behind the highest one seen. wireguard-go's 128 × 64-bit ring has the
 * same 8128 window; we prefer the kernel's names. We store the ring as 256 32-bit words (JS bit
 * operators are 32-bit); that changes nothing observable, because the window plus one word still
 * fits in the ring, so the ring is an exact record of "seen" for every counter inside the window.
 *
 * Accepts counter c iff c < limit, c ≥ highest − COUNTER_WINDOW_SIZE (or nothing was seen yet),
 * and c was not accepted before. Like the kernel, the state keeps `top = highest + 1` so that 0
 * means "empty".
 *
 * Counters are 64-bit (bigint at the API), but bigint arithmetic allocates, so the hot path
 * converts the counter to a number once (exact below 2^53, which a session can never reach at
 * any real packet rate) and does all window arithmetic with numbers. Only counters at or
 * above 2^53 − 1 take the bigint path; after that the window stays on it until reset().
 */

/** Total bits in the ring (kernel COUNTER_BITS_TOTAL). */
export const COUNTER_BITS_TOTAL = 8192;
/** Counters accepted behind the highest seen (kernel COUNTER_WINDOW_SIZE on 64-bit: 8192 − 64). */
export const COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - 64;

const WORD_BITS = 32;
const RING_WORDS = COUNTER_BITS_TOTAL / WORD_BITS; // 256
const RING_MASK = RING_WORDS - 1;
const WINDOW_BIG = BigInt(COUNTER_WINDOW_SIZE);
/** Counters below this stay on the number path: counter + 1 ≤ Number.MAX_SAFE_INTEGER. */
const FAST_COUNTER_END = BigInt(Number.MAX_SAFE_INTEGER);
const NOT_FAST = -1;

/** An RFC 6479 anti-replay window for one keypair's receive counter. */
export class ReplayWindow {
  readonly #ring = new Uint32Array(RING_WORDS);
  /** highest accepted counter + 1 as a number while it is ≤ 2^53 − 1; NOT_FAST after that. */
  #top = 0;
  /** highest accepted counter + 1 once it no longer fits the number path. */
  #topBig = 0n;

  /**
   * Validates `counter` (< limit) against the window and, if fresh, marks it seen. Returns false
   * for replayed, too-old or >= limit counters. Call only AFTER the packet authenticated: only
   * authenticated counters may move the window.
   */
  validateCounter(counter: bigint, limit: bigint): boolean {
    if (counter >= limit || counter < 0n) return false;
    const top = this.#top;
    if (top === NOT_FAST || counter >= FAST_COUNTER_END) return this.#validateBig(counter);
    const n = Number(counter) + 1;
    if (n + COUNTER_WINDOW_SIZE < top) return false; // older than the window
    if (n > top) {
      // Advance: clear the words strictly after the old top's word, up to the new top's word.
      // Division by a power of two is exact for integers below 2^53.
      const current = Math.floor(top / WORD_BITS);
      const steps = Math.min(Math.floor(n / WORD_BITS) - current, RING_WORDS);
      const ring = this.#ring;
      for (let i = 1; i <= steps; i++) ring[(current + i) & RING_MASK] = 0;
      this.#top = n;
    }
    // `>>> 5` reduces n modulo 2^32 first, which keeps the low 13 bits we need intact.
    return this.#testAndSet((n >>> 5) & RING_MASK, 1 << (n & 31));
  }

  /** Forgets every counter (a new keypair starts from an empty window). */
  reset(): void {
    this.#ring.fill(0);
    this.#top = 0;
    this.#topBig = 0n;
  }

  #testAndSet(word: number, bit: number): boolean {
    const ring = this.#ring;
    const w = ring[word]!;
    if ((w & bit) !== 0) return false;
    ring[word] = w | bit;
    return true;
  }

  /** The same algorithm in bigint, for counters at or beyond 2^53 − 1. */
  #validateBig(counter: bigint): boolean {
    const n = counter + 1n;
    const top = this.#top === NOT_FAST ? this.#topBig : BigInt(this.#top);
    if (n + WINDOW_BIG < top) return false;
    if (n > top) {
      const current = top >> 5n;
      const delta = (n >> 5n) - current;
      const steps = delta > BigInt(RING_WORDS) ? RING_WORDS : Number(delta);
      const base = Number(current & BigInt(RING_MASK));
      const ring = this.#ring;
      for (let i = 1; i <= steps; i++) ring[(base + i) & RING_MASK] = 0;
      if (n > FAST_COUNTER_END) {
        this.#top = NOT_FAST;
        this.#topBig = n;
      } else {
        this.#top = Number(n);
      }
    }
    const low = Number(n & BigInt(COUNTER_BITS_TOTAL - 1));
    return this.#testAndSet(low >>> 5, 1 << (low & 31));
  }
}
