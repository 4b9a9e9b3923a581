/**
 * Time sources. Protocol cores never read the clock themselves: they receive a `Clock`
 * (or a `now` argument) so tests can drive time with `ManualClock` (STYLE.md §7).
 */

/** Milliseconds on a monotonic scale (never goes backwards, unrelated to the calendar). */
export type MonotonicMs = number;

export interface Clock {
  /** Monotonic milliseconds, used for every timer and deadline. */
  monotonicMs(): MonotonicMs;
  /** Wall-clock time in milliseconds since the Unix epoch (TAI64N timestamps, logs). */
  wallTimeMs(): number;
}

/** The process clock: `performance.now()` for monotonic time, `Date.now()` for wall time. */
export class SystemClock implements Clock {
  monotonicMs(): MonotonicMs {
    return performance.now();
  }
  wallTimeMs(): number {
    return Date.now();
  }
}

/** A clock that moves only when told to; for tests and simulations. */
export class ManualClock implements Clock {
  #mono: number;
  #wall: number;

  constructor(startMonotonicMs = 1_000_000, startWallMs = Date.UTC(2026, 0, 1)) {
    this.#mono = startMonotonicMs;
    this.#wall = startWallMs;
  }
  monotonicMs(): MonotonicMs {
    return this.#mono;
  }
  wallTimeMs(): number {
    return this.#wall;
  }
  /** Moves both time scales forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.#mono += ms;
    this.#wall += ms;
  }
}
