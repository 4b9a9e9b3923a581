/**
 * Which path a peer's datagrams take: direct UDP to its endpoint, or a DERP relay (derp.md §1,
 * §3.4). As in Tailscale, the DERP address of a WireGuard node is its WireGuard public key, so
 * "the relay endpoint of peer P" needs no configuration: a datagram for P goes out as a DERP
 * SendPacket to P's public key, and a RecvPacket from source key S is a datagram from S.
 *
 * Policy (sans-IO; event hooks plus a deadline, like timers.ts):
 *   - no relay configured: direct only, exactly the plain WireGuard behaviour;
 *   - a peer without an endpoint is reached through the relay;
 *   - the direct path is given up after FALLBACK_AFTER_UNANSWERED_INITIATIONS initiations sent
 *     to it went unanswered (one initial plus one retransmit: 2 × REKEY_TIMEOUT = 10 s);
 *   - an authenticated packet that arrived through the relay moves the peer to the relay only
 *     if its direct path is not "working": no authenticated packet came in directly within
 *     DIRECT_PATH_TIMEOUT_MS (REKEY_TIMEOUT + KEEPALIVE_TIMEOUT, the time by which a live
 *     WireGuard session has always answered);
 *   - an authenticated packet that arrived directly always takes the peer back to direct;
 *   - while relayed, every initiation goes out on both paths (the responder consumes the
 *     first copy and rejects the second as a replayed timestamp), and while data flows a fresh
 *     initiation is sent every DIRECT_PROBE_INTERVAL_MS as a probe: once UDP gets through
 *     again, the responder answers directly and both sides are back on the direct path. The
 *     price is one extra handshake per probe interval while relayed; an idle peer is not probed.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import type { PathEndpoint } from './device-api.js';
import { KEEPALIVE_TIMEOUT_MS, REKEY_TIMEOUT_MS } from './constants.js';

/** An authenticated direct packet within this window means the direct path works. */
export const DIRECT_PATH_TIMEOUT_MS = REKEY_TIMEOUT_MS + KEEPALIVE_TIMEOUT_MS;
/** Direct initiations left unanswered before falling back to the relay. */
export const FALLBACK_AFTER_UNANSWERED_INITIATIONS = 2;
/** While relayed: how often a fresh initiation probes the direct path. */
export const DIRECT_PROBE_INTERVAL_MS = 2 * REKEY_TIMEOUT_MS;

/** Where one datagram goes. `both`: an initiation while relayed (the direct copy is the probe). */
export type PathChoice = 'direct' | 'relay' | 'both' | 'none';

/** One peer's path state. `relayEnabled`/`hasDirect` come from the device and the peer's endpoint. */
export class PeerPath {
  #relayed = false;
  #unansweredDirect = 0;
  #lastDirectRxMs = -Infinity;
  #probeAt: MonotonicMs | undefined;

  /** True while the peer's datagrams go through the relay. */
  get relayed(): boolean {
    return this.#relayed;
  }

  /** Call after an authenticated packet arrived by direct UDP. */
  directAuthenticatedReceived(now: MonotonicMs): void {
    this.#lastDirectRxMs = now;
    this.#unansweredDirect = 0;
    this.#relayed = false;
    this.#probeAt = undefined;
  }

  /** Call after an authenticated packet arrived through the relay. */
  relayAuthenticatedReceived(now: MonotonicMs, hasDirect: boolean): void {
    if (this.#relayed || now - this.#lastDirectRxMs < DIRECT_PATH_TIMEOUT_MS) return;
    this.#enterRelay(now, hasDirect);
  }

  /** Call when an initiation is about to be sent; says where, and counts direct attempts. */
  initiationSent(now: MonotonicMs, relayEnabled: boolean, hasDirect: boolean): PathChoice {
    if (!relayEnabled) return hasDirect ? 'direct' : 'none';
    if (!hasDirect) return 'relay';
    if (!this.#relayed && this.#unansweredDirect >= FALLBACK_AFTER_UNANSWERED_INITIATIONS) this.#enterRelay(now, hasDirect);
    if (this.#relayed) {
      this.#probeAt = now + DIRECT_PROBE_INTERVAL_MS; // this initiation is the probe
      return 'both';
    }
    this.#unansweredDirect++;
    return 'direct';
  }

  /**
   * Where a transport message goes. Relayed traffic re-arms the direct probe (an idle peer's
   * probe lapses, so an idle tunnel stays silent, as WireGuard does).
   */
  dataPath(now: MonotonicMs, relayEnabled: boolean, hasDirect: boolean): PathChoice {
    if (relayEnabled && (this.#relayed || !hasDirect)) {
      if (this.#relayed && hasDirect && this.#probeAt === undefined) this.#probeAt = now + DIRECT_PROBE_INTERVAL_MS;
      return 'relay';
    }
    return hasDirect ? 'direct' : 'none';
  }

  /** The relay was removed: back to plain WireGuard. */
  relayDisabled(): void {
    this.#relayed = false;
    this.#unansweredDirect = 0;
    this.#probeAt = undefined;
  }

  /** True (once) when a direct probe is due. */
  probeDue(now: MonotonicMs): boolean {
    if (this.#probeAt === undefined || this.#probeAt > now) return false;
    this.#probeAt = undefined;
    return true;
  }

  nextDeadline(): MonotonicMs | undefined {
    return this.#probeAt;
  }

  #enterRelay(now: MonotonicMs, hasDirect: boolean): void {
    this.#relayed = true;
    this.#probeAt = hasDirect ? now + DIRECT_PROBE_INTERVAL_MS : undefined;
  }
}

/** A relayed datagram must come from the DERP key of the peer it authenticated as (the relay vouches for the source key). */
export function relaySourceMatches(from: PathEndpoint, peerKey: Uint8Array): boolean {
  if (from.family !== 'derp') return true;
  const k = from.publicKey;
  if (k.length !== peerKey.length) return false;
  for (let i = 0; i < k.length; i++) if (k[i] !== peerKey[i]) return false;
  return true;
}
