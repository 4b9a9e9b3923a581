import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { COUNTER_WINDOW_SIZE, ReplayWindow } from '../../src/wireguard/replay.js';
import { ReferenceReplayWindow } from '../reference/replay.js';

/** Whitepaper / wireguard-go REJECT_AFTER_MESSAGES = 2^64 − 2^13 − 1. */
const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
const W = BigInt(COUNTER_WINDOW_SIZE);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * One step of a counter sequence, relative to the previous counter so that sequences stay
 * mostly near the window edges where bugs live.
 */
const step = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -9000, max: 9000 }).map((d) => ({ kind: 'delta' as const, v: BigInt(d) })) },
  { weight: 2, arbitrary: fc.constantFrom(-W - 1n, -W, -W + 1n, W, W + 1n, 8192n, 8193n, -32n, 32n, 64n).map((v) => ({ kind: 'delta' as const, v })) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ kind: 'abs' as const, v })) },
  { weight: 1, arbitrary: fc.bigInt({ min: -20000n, max: 20000n }).map((d) => ({ kind: 'abs' as const, v: SAFE + d })) },
  { weight: 1, arbitrary: fc.bigInt({ min: -20000n, max: 3n }).map((d) => ({ kind: 'abs' as const, v: REJECT_AFTER_MESSAGES + d })) },
  { weight: 1, arbitrary: fc.nat({ max: 20000 }).map((v) => ({ kind: 'abs' as const, v: BigInt(v) })) },
);

function counters(steps: { kind: 'delta' | 'abs'; v: bigint }[]): bigint[] {
  let last = 0n;
  return steps.map((s) => {
    let c = s.kind === 'abs' ? s.v : last + s.v;
    if (c < 0n) c = 0n;
    if (c >= 2n ** 64n) c = 2n ** 64n - 1n;
    last = c;
    return c;
  });
}

describe('ReplayWindow', () => {
  it('agrees with the slow reference window on random counter sequences', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const fast = new ReplayWindow();
        const ref = new ReferenceReplayWindow();
        for (const c of counters(steps)) {
          expect(fast.validateCounter(c, REJECT_AFTER_MESSAGES), `counter ${c}`).toBe(ref.validateCounter(c, REJECT_AFTER_MESSAGES));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('accepts the oldest counter inside the window and rejects the one just outside', () => {
    const w = new ReplayWindow();
    expect(w.validateCounter(100_000n, REJECT_AFTER_MESSAGES)).toBe(true);
    expect(w.validateCounter(100_000n - W - 1n, REJECT_AFTER_MESSAGES)).toBe(false);
    expect(w.validateCounter(100_000n - W, REJECT_AFTER_MESSAGES)).toBe(true);
    expect(w.validateCounter(100_000n - W, REJECT_AFTER_MESSAGES)).toBe(false);
  });

  it('rejects counters at or above the limit and never lets them move the window', () => {
    const w = new ReplayWindow();
    expect(w.validateCounter(10n, 10n)).toBe(false);
    expect(w.validateCounter(9n, 10n)).toBe(true);
    expect(w.validateCounter(0n, 10n)).toBe(true);
    expect(w.validateCounter(-1n, 10n)).toBe(false);
  });

  it('keeps exact bookkeeping across the 2^53 switch to bigint arithmetic', () => {
    const w = new ReplayWindow();
    const ref = new ReferenceReplayWindow();
    for (let d = -40n; d <= 40n; d += 3n) {
      for (const c of [SAFE + d, SAFE - d, SAFE + d]) {
        expect(w.validateCounter(c, REJECT_AFTER_MESSAGES)).toBe(ref.validateCounter(c, REJECT_AFTER_MESSAGES));
      }
    }
  });

  it('forgets everything on reset()', () => {
    const w = new ReplayWindow();
    expect(w.validateCounter(5n, REJECT_AFTER_MESSAGES)).toBe(true);
    expect(w.validateCounter(2n ** 60n, REJECT_AFTER_MESSAGES)).toBe(true);
    w.reset();
    expect(w.validateCounter(5n, REJECT_AFTER_MESSAGES)).toBe(true);
    expect(w.validateCounter(5n, REJECT_AFTER_MESSAGES)).toBe(false);
  });
});
