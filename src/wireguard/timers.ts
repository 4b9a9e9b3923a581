/**
 * The per-peer timer state machine (whitepaper §6.2-6.5; wireguard.md §1.6-1.7; the kernel's
 * timers.c and wg-go's timers.go), as *event hooks plus a poll*:
 *
 *   - each hook is named after the protocol event that calls it (`dataSent`, `handshakeComplete`,
 *     ...) and only records state: which deadline is armed, flags, attempts;
 *   - `poll(now)` reports the actions that are due; the peer carries them out (and, because
 *     carrying them out sends packets, calls the hooks again).
 *
 * Five timers: retransmit_handshake, send_keepalive, new_handshake, zero_key_material and
 * persistent_keepalive. "Arm" starts a timer only if idle; "re-arm" restarts it.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import { randomInt, type Rng } from '../runtime/rng.js';
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_TIMER_HANDSHAKES,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEY_MATERIAL_AFTER_MS,
} from './constants.js';

/** What the peer must do now. */
export type TimerAction =
  /** retransmit_handshake expired: send an initiation as a retry (attempts already counted). */
  | { readonly type: 'retransmitHandshake' }
  /** retransmit_handshake expired after MAX_TIMER_HANDSHAKES retries: drop staged packets. */
  | { readonly type: 'giveUpHandshake' }
  /** send_keepalive or persistent_keepalive expired: send a keepalive. */
  | { readonly type: 'sendKeepalive' }
  /** new_handshake expired (data sent, nothing heard back): send a fresh initiation. */
  | { readonly type: 'newHandshake' }
  /** zero_key_material expired: wipe every keypair and the handshake state. */
  | { readonly type: 'zeroKeyMaterial' };

const RETRANSMIT: TimerAction = { type: 'retransmitHandshake' };
const GIVE_UP: TimerAction = { type: 'giveUpHandshake' };
const KEEPALIVE: TimerAction = { type: 'sendKeepalive' };
const NEW_HANDSHAKE: TimerAction = { type: 'newHandshake' };
const ZERO_KEYS: TimerAction = { type: 'zeroKeyMaterial' };

/** One peer's timers. All times are monotonic milliseconds. */
export class PeerTimers {
  readonly #rng: Rng;
  #retransmitHandshakeAt: MonotonicMs | undefined;
  #sendKeepaliveAt: MonotonicMs | undefined;
  #newHandshakeAt: MonotonicMs | undefined;
  #zeroKeyMaterialAt: MonotonicMs | undefined;
  #persistentKeepaliveAt: MonotonicMs | undefined;
  /** Data arrived while send_keepalive was pending: one more keepalive is owed after it fires. */
  #needAnotherKeepalive = false;
  /** Set when send_keepalive fired with `#needAnotherKeepalive`: the keepalive's own send re-arms it. */
  #rearmKeepaliveOnSend = false;
  /** Initiations retried since the last non-retry initiation or completed handshake. */
  handshakeAttempts = 0;
  /** The once-per-session "keypair is about to expire" initiation (keep_key_fresh on receive) was sent. */
  sentLastMinuteHandshake = false;
  /** 0 = off. */
  persistentKeepaliveIntervalMs = 0;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  #jitterMs(): number {
    return randomInt(this.#rng, REKEY_TIMEOUT_JITTER_MAX_MS);
  }

  /** Call after an authenticated data packet (not a keepalive) was sent. Arms new_handshake. */
  dataSent(now: MonotonicMs): void {
    if (this.#newHandshakeAt === undefined) this.#newHandshakeAt = now + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.#jitterMs();
  }

  /** Call after an authenticated data packet (not a keepalive) was received. Arms send_keepalive. */
  dataReceived(now: MonotonicMs): void {
    if (this.#sendKeepaliveAt === undefined) this.#sendKeepaliveAt = now + KEEPALIVE_TIMEOUT_MS;
    else this.#needAnotherKeepalive = true;
  }

  /** Call after any authenticated packet (data, keepalive, handshake) was sent. Disarms send_keepalive. */
  anyAuthenticatedPacketSent(now: MonotonicMs): void {
    if (this.#rearmKeepaliveOnSend) {
      this.#rearmKeepaliveOnSend = false;
      this.#sendKeepaliveAt = now + KEEPALIVE_TIMEOUT_MS;
    } else {
      this.#sendKeepaliveAt = undefined;
    }
  }

  /** Call after any authenticated packet was received. Disarms new_handshake. */
  anyAuthenticatedPacketReceived(): void {
    this.#newHandshakeAt = undefined;
  }

  /** Call after any authenticated packet was sent or received. Re-arms persistent_keepalive. */
  anyAuthenticatedPacketTraversal(now: MonotonicMs): void {
    if (this.persistentKeepaliveIntervalMs > 0) this.#persistentKeepaliveAt = now + this.persistentKeepaliveIntervalMs;
  }

  /** Call after a handshake initiation was sent. Re-arms retransmit_handshake with jitter. */
  handshakeInitiated(now: MonotonicMs): void {
    this.#retransmitHandshakeAt = now + REKEY_TIMEOUT_MS + this.#jitterMs();
  }

  /** Call after a handshake completed (response consumed, or first data on a new responder keypair). */
  handshakeComplete(): void {
    this.#retransmitHandshakeAt = undefined;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** Call after a new keypair was derived. Re-arms zero_key_material. */
  sessionDerived(now: MonotonicMs): void {
    this.#zeroKeyMaterialAt = now + ZERO_KEY_MATERIAL_AFTER_MS;
  }

  /** Changes the persistent keepalive interval (0 = off); the caller sends one keepalive on 0 → n. */
  setPersistentKeepalive(intervalMs: number, now: MonotonicMs): void {
    this.persistentKeepaliveIntervalMs = intervalMs;
    this.#persistentKeepaliveAt = intervalMs > 0 ? now + intervalMs : undefined;
  }

  /** Disarms everything (peer removed, or the device lost its private key). */
  stop(): void {
    this.#retransmitHandshakeAt = undefined;
    this.#sendKeepaliveAt = undefined;
    this.#newHandshakeAt = undefined;
    this.#zeroKeyMaterialAt = undefined;
    this.#persistentKeepaliveAt = undefined;
    this.#needAnotherKeepalive = false;
    this.#rearmKeepaliveOnSend = false;
    this.handshakeAttempts = 0;
  }

  /** The earliest armed deadline, or undefined when every timer is idle. */
  nextDeadline(): MonotonicMs | undefined {
    // Called after every packet: no temporaries.
    let d = this.#retransmitHandshakeAt;
    d = earlier(d, this.#sendKeepaliveAt);
    d = earlier(d, this.#newHandshakeAt);
    d = earlier(d, this.#zeroKeyMaterialAt);
    return earlier(d, this.#persistentKeepaliveAt);
  }

  /** Appends the actions due at `now` to `out` (in timer order) and returns it. */
  poll(now: MonotonicMs, out: TimerAction[] = []): TimerAction[] {
    this.#rearmKeepaliveOnSend = false;
    if (this.#retransmitHandshakeAt !== undefined && this.#retransmitHandshakeAt <= now) {
      this.#retransmitHandshakeAt = undefined;
      // Retry while attempts <= MAX_TIMER_HANDSHAKES: 1 + 19 = 20 initiations in all (kernel timers.c).
      if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        // "Handshake did not complete after 20 attempts, giving up."
        out.push(GIVE_UP);
        this.#sendKeepaliveAt = undefined;
        this.#needAnotherKeepalive = false;
        if (this.#zeroKeyMaterialAt === undefined) this.#zeroKeyMaterialAt = now + ZERO_KEY_MATERIAL_AFTER_MS;
      } else {
        this.handshakeAttempts++;
        out.push(RETRANSMIT);
      }
    }
    let keepalive = false;
    if (this.#sendKeepaliveAt !== undefined && this.#sendKeepaliveAt <= now) {
      this.#sendKeepaliveAt = undefined;
      keepalive = true;
      if (this.#needAnotherKeepalive) {
        this.#needAnotherKeepalive = false;
        this.#rearmKeepaliveOnSend = true;
      }
    }
    if (this.#persistentKeepaliveAt !== undefined && this.#persistentKeepaliveAt <= now) {
      this.#persistentKeepaliveAt = undefined;
      if (this.persistentKeepaliveIntervalMs > 0) keepalive = true;
    }
    if (keepalive) out.push(KEEPALIVE);
    if (this.#newHandshakeAt !== undefined && this.#newHandshakeAt <= now) {
      // "Retrying handshake because we stopped hearing back after 15 seconds."
      this.#newHandshakeAt = undefined;
      out.push(NEW_HANDSHAKE);
    }
    if (this.#zeroKeyMaterialAt !== undefined && this.#zeroKeyMaterialAt <= now) {
      this.#zeroKeyMaterialAt = undefined;
      out.push(ZERO_KEYS);
    }
    return out;
  }
}

function earlier(a: MonotonicMs | undefined, b: MonotonicMs | undefined): MonotonicMs | undefined {
  if (a === undefined) return b;
  return b !== undefined && b < a ? b : a;
}
