import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/runtime/rng.js';
import { reconnectDelayMs } from '../../src/derp/reconnect.js';

const none = { restartAt: 0, restartUntil: 0 };

describe('DERP client reconnect delay', () => {
  it('doubles per failure with jitter in [d/2, d), up to the ceiling', () => {
    const rng = new SeededRng(5);
    const expected = [100, 200, 400, 800, 1000, 1000];
    expected.forEach((d, failures) => {
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const v = reconnectDelayMs({ failures, ...none }, 0, rng, 100, 1000);
        expect(v).toBeGreaterThanOrEqual(d / 2);
        expect(v).toBeLessThan(d);
        seen.add(v);
      }
      expect(seen.size).toBeGreaterThan(10); // jitter is real
    });
  });

  it('after Restarting waits until reconnect-in, then retries quickly until try-for ends', () => {
    const rng = new SeededRng(6);
    const st = { failures: 7, restartAt: 5_000, restartUntil: 35_000 };
    expect(reconnectDelayMs(st, 1_000, rng, 100, 10_000)).toBe(4_000);
    expect(reconnectDelayMs(st, 6_000, rng, 100, 10_000)).toBe(100);
    const late = reconnectDelayMs(st, 35_000, rng, 100, 10_000);
    expect(late).toBeGreaterThanOrEqual(5_000);
  });

  it('never overflows for huge failure counts', () => {
    const v = reconnectDelayMs({ failures: 1e9, ...none }, 0, new SeededRng(1), 250, 10_000);
    expect(v).toBeGreaterThanOrEqual(5_000);
    expect(v).toBeLessThan(10_000);
  });
});
