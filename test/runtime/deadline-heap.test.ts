import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DeadlineHeap } from '../../src/runtime/deadline-heap.js';

describe('DeadlineHeap', () => {
  it('pops items in deadline order, only when due', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }), (times) => {
      const h = new DeadlineHeap<number>();
      times.forEach((t, i) => h.push(t, i));
      expect(h.popDue(-1)).toBeUndefined();
      const out: number[] = [];
      for (let d = h.popDue(1000); d; d = h.popDue(1000)) out.push(d.at);
      expect(out).toEqual([...times].sort((a, b) => a - b));
    }));
  });

  it('skips dead items in peek and drops them in compact', () => {
    const h = new DeadlineHeap<{ live: boolean }>();
    const items = Array.from({ length: 100 }, (_, i) => ({ live: i % 10 === 0 }));
    items.forEach((it, i) => h.push(1000 - i, it));
    expect(h.peek((x) => x.live)).toBe(910);
    h.compact((x) => x.live);
    expect(h.size).toBe(10);
    expect(h.peek((x) => x.live)).toBe(910);
  });
});
