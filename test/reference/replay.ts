/**
 * Slow, obviously-correct replay window used only to check src/wireguard/replay.ts: a set of
 * every accepted counter plus the highest one. Accept c iff c < limit, c is within
 * COUNTER_WINDOW_SIZE of the highest accepted counter, and c was never accepted before.
 */
import { COUNTER_WINDOW_SIZE } from '../../src/wireguard/replay.js';

export class ReferenceReplayWindow {
  readonly #seen = new Set<bigint>();
  #highest: bigint | undefined;
  readonly #window: bigint;

  constructor(windowSize: number = COUNTER_WINDOW_SIZE) {
    this.#window = BigInt(windowSize);
  }

  validateCounter(counter: bigint, limit: bigint): boolean {
    if (counter < 0n || counter >= limit) return false;
    if (this.#highest !== undefined && counter + this.#window < this.#highest) return false;
    if (this.#seen.has(counter)) return false;
    this.#seen.add(counter);
    if (this.#highest === undefined || counter > this.#highest) this.#highest = counter;
    return true;
  }

  reset(): void {
    this.#seen.clear();
    this.#highest = undefined;
  }
}
