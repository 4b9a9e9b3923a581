/**
 * The peer-timer heap of the device: src/runtime/deadline-heap.ts with the liveness check folded
 * into `popDue`, so a device with thousands of peers finds the next due peer in O(log n) and
 * superseded entries (a peer whose deadline moved) are discarded when they reach the top.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import { DeadlineHeap as Heap } from '../runtime/deadline-heap.js';

export class DeadlineHeap<T> {
  readonly #heap = new Heap<T>();

  /** Entries held, stale ones included. */
  get size(): number {
    return this.#heap.size;
  }

  /** Adds `item` due at `at`. */
  push(at: MonotonicMs, item: T): void {
    this.#heap.push(at, item);
  }

  /** The earliest live deadline (stale tops are discarded on the way). */
  peek(isLive: (item: T, at: MonotonicMs) => boolean): MonotonicMs | undefined {
    return this.#heap.peek(isLive);
  }

  /** Removes and returns the earliest live item whose deadline is at or before `now`. */
  popDue(now: MonotonicMs, isLive: (item: T, at: MonotonicMs) => boolean): T | undefined {
    const at = this.#heap.peek(isLive);
    if (at === undefined || at > now) return undefined;
    return this.#heap.popDue(now)?.item;
  }
}
