import { describe, expect, it } from 'vitest';
import { COUNTER_WINDOW_SIZE, ReplayWindow } from '../../src/wireguard/replay.js';
import { ReferenceReplayWindow } from '../reference/replay.js';
import { loadVectors, type VectorCase } from './load.js';

interface ReplayCase extends VectorCase {
  readonly scenario: string;
  readonly counter?: string;
  readonly counterFrom?: string;
  readonly counterTo?: string;
}

const file = loadVectors<ReplayCase>('replay-window.json');

function* countersOf(c: ReplayCase): Generator<bigint> {
  if (c.counter !== undefined) {
    yield BigInt(c.counter);
    return;
  }
  const from = BigInt(c.counterFrom ?? 'x'), to = BigInt(c.counterTo ?? 'x');
  const step = from <= to ? 1n : -1n;
  for (let i = from; step > 0n ? i <= to : i >= to; i += step) yield i;
}

interface Window {
  validateCounter(counter: bigint, limit: bigint): boolean;
  reset(): void;
}

describe.each([
  ['ReplayWindow', () => new ReplayWindow()],
  ['the reference window', () => new ReferenceReplayWindow()],
] as const)('replay-window.json through %s', (_label, make: () => Window) => {
  it('is written for our window size', () => {
    expect(file.windowSize).toBe(COUNTER_WINDOW_SIZE);
  });

  it('gives every numbered case its accept/reject result, resetting between scenarios', () => {
    const limit = BigInt(String(file.limit));
    const w = make();
    let scenario: string | undefined;
    let checked = 0;
    for (const c of file.cases) {
      if (c.scenario !== scenario) {
        w.reset();
        scenario = c.scenario;
      }
      for (const counter of countersOf(c)) {
        expect(w.validateCounter(counter, limit), `case ${c.name} (${c.scenario}) counter ${counter}`).toBe(c.result === 'valid');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(6 * COUNTER_WINDOW_SIZE);
  });
});
