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
/** Settled once; `.then` on it queues a microtask without Node's per-call AsyncResource (queueMicrotask). */
const RESOLVED = Promise.resolve();

export class Scheduler {
  readonly #clock: Clock;
  readonly #sources = new Set<DeadlineSource>();
  #timer: NodeJS.Timeout | undefined;
  #armedFor: number | undefined;
  #kickPending = false;
  #stopped = false;
  #running = false;
  /** Timers armed (setTimeout calls) since construction; for tests and diagnostics. */
  #timersArmed = 0;
  readonly #onKick = (): void => {
    this.#kickPending = false;
    this.#rearm();
  };
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#armedFor = undefined;
    this.runDue();
    this.#rearm();
  };

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

  /**
   * Re-evaluates deadlines soon (coalesced to one microtask per tick of input). Edges call this
   * once per datagram, so it allocates nothing of its own: a shared callback on a settled
   * promise, not queueMicrotask (which builds an AsyncResource and a bound function per call).
   */
  kick(): void {
    if (this.#kickPending || this.#stopped) return;
    this.#kickPending = true;
    void RESOLVED.then(this.#onKick);
  }

  /** How many timers the scheduler has armed so far (each is a setTimeout); for tests and diagnostics. */
  get timersArmed(): number {
    return this.#timersArmed;
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
    // A timer armed for no later than the earliest deadline stays: when it fires early, runDue
    // finds nothing due and arms the next one. Deadlines mostly move later (every packet pushes
    // a peer's keepalive and rekey timers back), so this keeps one Timeout for many packets
    // instead of a clearTimeout + setTimeout (and a Timeout object for the GC) per packet.
    if (this.#armedFor !== undefined && this.#armedFor < earliest + MIN_TIMER_GRANULARITY_MS) return;
    if (this.#timer) clearTimeout(this.#timer);
    const delay = Math.max(0, earliest - this.#clock.monotonicMs());
    this.#armedFor = earliest;
    this.#timersArmed++;
    this.#timer = setTimeout(this.#onTimer, Math.ceil(delay));
    // The scheduler alone must not keep the process alive; sockets and servers do.
    this.#timer.unref();
  }
}
