/**
 * Replay-window checks per second: in order (every counter fresh) and random within the window
 * (mostly old or replayed counters), for ReplayWindow and for the same kernel algorithm written
 * entirely in bigint (what the number fast path avoids). Outputs are cross-validated first.
 */
import { bench } from '../harness.js';
import { COUNTER_BITS_TOTAL, COUNTER_WINDOW_SIZE, ReplayWindow } from '../../src/wireguard/replay.js';

const LIMIT = 2n ** 64n - 2n ** 13n - 1n;
const N = 1 << 16;

/** The kernel's counter_validate in plain bigint arithmetic, one 64-bit-word-per-bigint ring. */
class BigintWindow {
  #ring = new BigUint64Array(COUNTER_BITS_TOTAL / 64);
  #top = 0n;
  validateCounter(counter: bigint, limit: bigint): boolean {
    if (counter >= limit) return false;
    const n = counter + 1n;
    if (n + BigInt(COUNTER_WINDOW_SIZE) < this.#top) return false;
    const index = n >> 6n;
    if (n > this.#top) {
      const current = this.#top >> 6n;
      const d = index - current;
      const steps = d > 128n ? 128n : d;
      for (let i = 1n; i <= steps; i++) this.#ring[Number((current + i) & 127n)] = 0n;
      this.#top = n;
    }
    const w = Number(index & 127n);
    const bit = 1n << (n & 63n);
    if ((this.#ring[w]! & bit) !== 0n) return false;
    this.#ring[w]! |= bit;
    return true;
  }
  reset(): void {
    this.#ring.fill(0n);
    this.#top = 0n;
  }
}

// Deterministic pseudo-random offsets (xorshift32) so runs are comparable.
let seed = 0x9e3779b9;
function next(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const inOrder = Array.from({ length: N }, (_, i) => BigInt(i));
const randomInWindow = Array.from({ length: N }, (_, i) => {
  const top = i * 4 + COUNTER_WINDOW_SIZE;
  return BigInt(top - (next() % (COUNTER_WINDOW_SIZE + 1)));
});

interface Window {
  validateCounter(counter: bigint, limit: bigint): boolean;
  reset(): void;
}

function checker(w: Window, counters: bigint[]): () => boolean {
  let i = 0;
  return () => {
    if (i === counters.length) {
      i = 0;
      w.reset();
    }
    return w.validateCounter(counters[i++]!, LIMIT);
  };
}

for (const [label, counters] of [['in order', inOrder], ['random within window', randomInWindow]] as const) {
  const a = new ReplayWindow(), b = new BigintWindow();
  let accepted = 0;
  for (const c of counters) {
    const x = a.validateCounter(c, LIMIT);
    if (x !== b.validateCounter(c, LIMIT)) throw new Error(`crossValidate: replay ${label}: windows disagree at ${c}`);
    if (x) accepted++;
  }
  process.stdout.write(`# ${label}: ${accepted} of ${counters.length} counters accepted\n`);
  bench(`replay check ${label} ReplayWindow`, checker(new ReplayWindow(), counters));
  bench(`replay check ${label} all-bigint kernel port`, checker(new BigintWindow(), counters));
}
