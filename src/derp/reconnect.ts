/**
 * When a DERP client reconnects (pure). Two rules:
 *  - after a server's Restarting(reconnectIn, tryFor) frame (derp.md §3.2), wait until
 *    `reconnectIn` has passed, then retry at the initial delay until `tryFor` runs out;
 *  - otherwise exponential backoff, doubling per consecutive failure up to a ceiling, with
 *    jitter drawn uniformly from [d/2, d) so a relay restart does not get every client back
 *    in the same millisecond.
 */
import { randomInt, type Rng } from '../runtime/rng.js';

/** Default first delay after a failure. */
export const RECONNECT_INITIAL_MS = 250;
/** Default ceiling of the doubling delay. */
export const RECONNECT_MAX_MS = 10_000;

export interface ReconnectState {
  /** Consecutive failed attempts since the last successful handshake. */
  readonly failures: number;
  /** From the last Restarting frame: monotonic ms to try again at, and to keep trying until. */
  readonly restartAt: number;
  readonly restartUntil: number;
}

/** Delay in ms before the next attempt. */
export function reconnectDelayMs(state: ReconnectState, now: number, rng: Rng, initialMs = RECONNECT_INITIAL_MS, maxMs = RECONNECT_MAX_MS): number {
  if (now < state.restartUntil) return now < state.restartAt ? state.restartAt - now : initialMs;
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(state.failures, 30));
  const half = Math.floor(d / 2);
  return half + randomInt(rng, Math.max(1, d - half));
}
