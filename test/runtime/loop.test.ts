import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock, type MonotonicMs } from '../../src/runtime/clock.js';
import { Scheduler, type DeadlineSource } from '../../src/runtime/loop.js';

const clock = new SystemClock();
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A source whose deadline the test moves; records every onDeadline and nextDeadline call. */
function source(at: MonotonicMs | undefined) {
  const s = {
    at,
    fired: [] as MonotonicMs[],
    asked: 0,
    nextDeadline: (): MonotonicMs | undefined => {
      s.asked++;
      return s.at;
    },
    onDeadline: (now: MonotonicMs): void => {
      s.fired.push(now);
      s.at = undefined;
    },
  };
  return s satisfies DeadlineSource;
}

describe('Scheduler', () => {
  let scheduler: Scheduler | undefined;
  afterEach(() => scheduler?.stop());

  it('coalesces the kicks of one tick into one look at the deadlines', async () => {
    scheduler = new Scheduler(clock);
    const s = source(clock.monotonicMs() + 60_000);
    scheduler.add(s);
    await settle();
    const asked = s.asked;
    for (let i = 0; i < 100; i++) scheduler.kick();
    expect(s.asked).toBe(asked);
    await settle();
    expect(s.asked).toBe(asked + 1);
  });

  it('keeps the armed timer while the deadline only moves later (one Timeout for many packets)', async () => {
    scheduler = new Scheduler(clock);
    const s = source(clock.monotonicMs() + 10_000);
    scheduler.add(s);
    await settle();
    expect(scheduler.timersArmed).toBe(1);
    for (let i = 1; i <= 200; i++) {
      s.at! += 5; // every packet pushes a keepalive back
      scheduler.kick();
      await settle();
    }
    expect(scheduler.timersArmed).toBe(1);
  });

  it('re-arms when a deadline moves earlier', async () => {
    scheduler = new Scheduler(clock);
    const s = source(clock.monotonicMs() + 10_000);
    scheduler.add(s);
    await settle();
    s.at = clock.monotonicMs() + 5_000;
    scheduler.kick();
    await settle();
    expect(scheduler.timersArmed).toBe(2);
  });

  it('runs a source at its moved-back deadline, not at the earlier one the timer was armed for', async () => {
    scheduler = new Scheduler(clock);
    const start = clock.monotonicMs();
    const s = source(start + 20);
    scheduler.add(s);
    await settle();
    s.at = start + 80;
    scheduler.kick();
    await sleep(50); // the timer armed for +20 has fired: nothing was due
    expect(s.fired).toEqual([]);
    await sleep(100);
    expect(s.fired).toHaveLength(1);
    expect(s.fired[0]!).toBeGreaterThanOrEqual(start + 80);
  });

  it('runs a due source when the deadline moves earlier', async () => {
    scheduler = new Scheduler(clock);
    const start = clock.monotonicMs();
    const s = source(start + 60_000);
    scheduler.add(s);
    await settle();
    s.at = start + 10;
    scheduler.kick();
    await sleep(80);
    expect(s.fired).toHaveLength(1);
    expect(s.fired[0]!).toBeGreaterThanOrEqual(start + 10);
  });
});
