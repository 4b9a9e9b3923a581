/**
 * A binary min-heap of deadlines with lazy deletion: cores push (time, item) and, when polling,
 * skip items that are no longer live. Keeps `nextDeadline()` O(1) and `poll` O(k log n) with
 * thousands of DNS queries or WireGuard peers waiting, instead of a scan of all of them per
 * event-loop tick. Entries are never updated in place: an owner whose deadline moves pushes a
 * new entry and reports the old one dead through `isLive`. Shared by src/dns/forwarder.ts and
 * src/wireguard/deadline-heap.ts.
 */
import type { MonotonicMs } from './clock.js';

export class DeadlineHeap<T> {
  readonly #at: MonotonicMs[] = [];
  readonly #items: T[] = [];

  /** Entries held, dead ones included until they reach the top or `compact` runs. */
  get size(): number {
    return this.#at.length;
  }

  /** Adds `item` due at `at`. */
  push(at: MonotonicMs, item: T): void {
    const at_ = this.#at;
    const items = this.#items;
    let i = at_.length;
    at_.push(at);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at_[p]! <= at) break;
      at_[i] = at_[p]!;
      items[i] = items[p]!;
      i = p;
    }
    at_[i] = at;
    items[i] = item;
  }

  /** Earliest time, after discarding items for which `isLive` is false. */
  peek(isLive: (item: T, at: MonotonicMs) => boolean): MonotonicMs | undefined {
    while (this.#at.length > 0) {
      if (isLive(this.#items[0]!, this.#at[0]!)) return this.#at[0];
      this.#pop();
    }
    return undefined;
  }

  /**
   * Drops every item for which `isLive` is false and rebuilds the heap: O(n). Call when dead
   * items (answered queries whose timers never fired) far outnumber live ones.
   */
  compact(isLive: (item: T, at: MonotonicMs) => boolean): void {
    const at: MonotonicMs[] = [];
    const items: T[] = [];
    for (let i = 0; i < this.#at.length; i++) {
      if (isLive(this.#items[i]!, this.#at[i]!)) {
        at.push(this.#at[i]!);
        items.push(this.#items[i]!);
      }
    }
    this.#at.length = 0;
    this.#items.length = 0;
    for (let i = 0; i < at.length; i++) this.push(at[i]!, items[i]!);
  }

  /** Removes and returns the earliest item if its time is ≤ `now`. */
  popDue(now: MonotonicMs): { at: MonotonicMs; item: T } | undefined {
    if (this.#at.length === 0 || this.#at[0]! > now) return undefined;
    const at = this.#at[0]!;
    const item = this.#items[0]!;
    this.#pop();
    return { at, item };
  }

  #pop(): void {
    const at_ = this.#at;
    const items = this.#items;
    const lastAt = at_.pop()!;
    const lastItem = items.pop()!;
    const n = at_.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && at_[r]! < at_[l]! ? r : l;
      if (at_[c]! >= lastAt) break;
      at_[i] = at_[c]!;
      items[i] = items[c]!;
      i = c;
    }
    at_[i] = lastAt;
    items[i] = lastItem;
  }
}
