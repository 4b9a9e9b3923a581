/**
 * A binary min-heap of (deadline, item) with lazy invalidation, so a device with thousands of
 * peers finds the next due peer in O(log n) instead of scanning them all after every packet.
 * Entries are never updated in place: the owner pushes a new entry when an item's deadline moves
 * earlier and marks superseded entries stale through the `isLive` predicate given to
 * `peek`/`popDue`; stale entries are discarded when they reach the top.
 */
import type { MonotonicMs } from '../runtime/clock.js';

export class DeadlineHeap<T> {
  readonly #at: MonotonicMs[] = [];
  readonly #items: T[] = [];

  get size(): number {
    return this.#at.length;
  }

  push(at: MonotonicMs, item: T): void {
    const a = this.#at;
    const it = this.#items;
    let i = a.length;
    a.push(at);
    it.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= at) break;
      a[i] = a[parent]!;
      it[i] = it[parent]!;
      i = parent;
    }
    a[i] = at;
    it[i] = item;
  }

  /** The earliest live deadline (stale tops are discarded on the way). */
  peek(isLive: (item: T, at: MonotonicMs) => boolean): MonotonicMs | undefined {
    while (this.#at.length > 0) {
      const at = this.#at[0]!;
      if (isLive(this.#items[0]!, at)) return at;
      this.#pop();
    }
    return undefined;
  }

  /** Removes and returns the earliest live item whose deadline is at or before `now`. */
  popDue(now: MonotonicMs, isLive: (item: T, at: MonotonicMs) => boolean): T | undefined {
    const at = this.peek(isLive);
    if (at === undefined || at > now) return undefined;
    return this.#pop();
  }

  #pop(): T {
    const a = this.#at;
    const it = this.#items;
    const top = it[0]!;
    const lastAt = a.pop()!;
    const lastItem = it.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= lastAt) break;
        a[i] = a[c]!;
        it[i] = it[c]!;
        i = c;
      }
      a[i] = lastAt;
      it[i] = lastItem;
    }
    return top;
  }
}
