/**
 * One scheduler for the whole process (STYLE.md §7 "one event loop, one ticker").
 * Every core exposes `nextDeadline()`; the scheduler keeps exactly one timer armed for the
 * earliest of them and calls `onDeadline(now)` on each source whose deadline has passed.
 * Edges call `kick()` after feeding a core input, because input can move deadlines.
 */
import type { Clock, MonotonicMs } from './clock.js';

export interface DeadlineSource {
  /** The monotonic time at which this source next needs `onDeadline`, or undefined for none. */
  nextDeadline(): MonotonicMs | undefined;
  /** Called at or after the deadline; does the due work (usually by polling a core). */
  onDeadline(now: MonotonicMs): void;
}

/** Timers coarser than this are merged: wake-ups closer together than 1 ms buy nothing. */
const MIN_TIMER_GRANULARITY_MS = 1;

export class Scheduler {
  readonly #clock: Clock;
  readonly #sources = new Set<DeadlineSource>();
  #timer: NodeJS.Timeout | undefined;
  #armedFor: number | undefined;
  #kickPending = false;
  #stopped = false;
  #running = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  add(source: DeadlineSource): void {
    this.#sources.add(source);
    this.kick();
  }

  remove(source: DeadlineSource): void {
    this.#sources.delete(source);
    this.kick();
  }

  /** Re-evaluates deadlines soon (coalesced to one microtask per tick of input). */
  kick(): void {
    if (this.#kickPending || this.#stopped) return;
    this.#kickPending = true;
    queueMicrotask(() => {
      this.#kickPending = false;
      this.#rearm();
    });
  }

  /** Runs due sources now; returns how many were due. Exposed for tests. */
  runDue(): number {
    if (this.#running) return 0;
    this.#running = true;
    let due = 0;
    try {
      const now = this.#clock.monotonicMs();
      for (const s of [...this.#sources]) {
        const d = s.nextDeadline();
        if (d !== undefined && d <= now) {
          due++;
          s.onDeadline(now);
        }
      }
    } finally {
      this.#running = false;
    }
    return due;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
  }

  #earliest(): number | undefined {
    let min: number | undefined;
    for (const s of this.#sources) {
      const d = s.nextDeadline();
      if (d !== undefined && (min === undefined || d < min)) min = d;
    }
    return min;
  }

  #rearm(): void {
    if (this.#stopped) return;
    const earliest = this.#earliest();
    if (earliest === undefined) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#armedFor = undefined;
      return;
    }
    if (this.#armedFor !== undefined && Math.abs(this.#armedFor - earliest) < MIN_TIMER_GRANULARITY_MS) return;
    if (this.#timer) clearTimeout(this.#timer);
    const delay = Math.max(0, earliest - this.#clock.monotonicMs());
    this.#armedFor = earliest;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#armedFor = undefined;
      this.runDue();
      this.#rearm();
    }, Math.ceil(delay));
    // The scheduler alone must not keep the process alive; sockets and servers do.
    this.#timer.unref();
  }
}
