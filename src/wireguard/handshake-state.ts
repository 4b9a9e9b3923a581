/**
 * Per-peer handshake state of the WireGuard Noise_IKpsk2 handshake (whitepaper §5.4; wg-go
 * Handshake, kernel noise_handshake) and its precomputations. The message functions that move
 * this state live in noise.ts, which re-exports everything here; import from noise.ts.
 *
 * The mutable secrets sit behind a module symbol (`HANDSHAKE_STATE`) so that only the handshake
 * functions reach them; it is exported for noise.ts only.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import { wipe } from '../runtime/bytes.js';
import { TsplaneError } from '../runtime/errors.js';
import { dh, hash, KEY_BYTES } from './crypto.js';
import { NOISE_CONSTRUCTION, TAI64N_BYTES, WG_IDENTIFIER } from './constants.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** C0 = HASH(CONSTRUCTION): the initial chaining key (docs/wireguard.md §1.2 gives its hex). */
export const INITIAL_CHAINING_KEY: Uint8Array = hash(ascii(NOISE_CONSTRUCTION));
/** H0 = HASH(C0 ‖ IDENTIFIER): the initial hash before the responder's static key is mixed in. */
export const INITIAL_HASH: Uint8Array = hash(INITIAL_CHAINING_KEY, ascii(WG_IDENTIFIER));

/** A device's static key pair. */
export interface StaticIdentity {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Where a handshake is (wg-go handshakeState). */
export type HandshakeState = 'zeroed' | 'initiationCreated' | 'initiationConsumed' | 'responseCreated' | 'responseConsumed';

/** Keys of a freshly derived session (whitepaper §5.4.5). */
export interface SessionKeys {
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  /** Our index of this keypair: peers put it in the receiver field of transport messages to us. */
  localIndex: number;
  /** The peer's index: we put it in the receiver field of transport messages we send. */
  remoteIndex: number;
  /** True on the side that sent the initiation (it may use the keypair at once; wireguard.md §1.2). */
  isInitiator: boolean;
}

/** Per-identity precomputation for the responder side: HASH(H0 ‖ S_local.pub). */
const responderHashCache = new WeakMap<StaticIdentity, Uint8Array>();
export function hashWithStatic(local: StaticIdentity): Uint8Array {
  let h = responderHashCache.get(local);
  if (h === undefined) {
    h = hash(INITIAL_HASH, local.publicKey);
    responderHashCache.set(local, h);
  }
  return h;
}

/** @internal The key of a Handshake's secrets; for noise.ts only. */
export const HANDSHAKE_STATE = Symbol('handshake-state');

/** @internal */
export interface Secrets {
  local: StaticIdentity | undefined;
  presharedKey: Uint8Array;
  /** DH(S_local, S_remote), precomputed; undefined when zero (low-order remote key) or no local key. */
  staticStatic: Uint8Array | undefined;
  /** HASH(H0 ‖ S_remote.pub), precomputed for createInitiation. */
  initiatorHash: Uint8Array;
  state: HandshakeState;
  hash: Uint8Array | undefined;
  chainingKey: Uint8Array | undefined;
  localEphemeral: Uint8Array | undefined;
  remoteEphemeral: Uint8Array | undefined;
  localIndex: number | undefined;
  remoteIndex: number | undefined;
  /** Greatest TAI64N accepted from this peer; kept across clear(). */
  lastTimestamp: Uint8Array;
  lastInitiationConsumedMs: MonotonicMs | undefined;
}

/** Per-peer handshake state (whitepaper §5.4; wg-go Handshake, kernel noise_handshake). */
export class Handshake {
  /** The peer's static public key (a copy). */
  readonly remoteStatic: Uint8Array;
  /** @internal module-private state; reachable only through this module's symbol. */
  readonly [HANDSHAKE_STATE]: Secrets;

  /**
   * @param local our static identity (undefined: no private key configured, never handshakes)
   * @param remoteStatic the peer's 32-byte public key
   * @param presharedKey optional 32-byte PSK (all-zero or absent means none)
   */
  constructor(local: StaticIdentity | undefined, remoteStatic: Uint8Array, presharedKey?: Uint8Array) {
    if (remoteStatic.length !== KEY_BYTES) throw new TsplaneError('WG_ERR_BAD_KEY', `remote static key must be 32 bytes, got ${remoteStatic.length}`);
    this.remoteStatic = Uint8Array.from(remoteStatic);
    this[HANDSHAKE_STATE] = {
      local: undefined,
      presharedKey: new Uint8Array(KEY_BYTES),
      staticStatic: undefined,
      // initiator.hash = HASH(HASH(initiator.chaining_key ‖ IDENTIFIER) ‖ responder.static_public)
      initiatorHash: hash(INITIAL_HASH, this.remoteStatic),
      state: 'zeroed',
      hash: undefined,
      chainingKey: undefined,
      localEphemeral: undefined,
      remoteEphemeral: undefined,
      localIndex: undefined,
      remoteIndex: undefined,
      lastTimestamp: new Uint8Array(TAI64N_BYTES),
      lastInitiationConsumedMs: undefined,
    };
    this.setPresharedKey(presharedKey);
    this.setLocal(local);
  }

  /** False when no local key is set or DH(S_local, S_remote) is zero (a low-order peer key): never handshake. */
  get isValid(): boolean {
    return this[HANDSHAKE_STATE].staticStatic !== undefined;
  }
  /** Index of the handshake we have in flight (initiation sent or response sent), for the index table. */
  get localIndex(): number | undefined {
    return this[HANDSHAKE_STATE].localIndex;
  }
  /** The peer's sender index from the message we consumed last (undefined when zeroed or initiation created). */
  get remoteIndex(): number | undefined {
    return this[HANDSHAKE_STATE].remoteIndex;
  }
  get state(): HandshakeState {
    return this[HANDSHAKE_STATE].state;
  }
  /** A copy of the preshared key (32 zero bytes when none), for UAPI `get`. */
  get presharedKey(): Uint8Array {
    return Uint8Array.from(this[HANDSHAKE_STATE].presharedKey);
  }

  /** Sets or removes (undefined / all-zero) the preshared key. Takes effect from the next message. */
  setPresharedKey(psk: Uint8Array | undefined): void {
    const s = this[HANDSHAKE_STATE];
    if (psk !== undefined && psk.length !== KEY_BYTES) throw new TsplaneError('WG_ERR_BAD_KEY', `preshared key must be 32 bytes, got ${psk.length}`);
    wipe(s.presharedKey);
    s.presharedKey = psk === undefined ? new Uint8Array(KEY_BYTES) : Uint8Array.from(psk);
  }

  /** Our private key changed (or was removed): recompute DH(S_local, S_remote) and clear state. */
  setLocal(local: StaticIdentity | undefined): void {
    const s = this[HANDSHAKE_STATE];
    wipe(s.staticStatic);
    s.local = local;
    s.staticStatic = local === undefined ? undefined : dh(local.privateKey, this.remoteStatic);
    this.clear();
  }

  /** Wipes ephemeral keys and chaining state (wg-go Handshake.Clear). The replay timestamp is kept. */
  clear(): void {
    const s = this[HANDSHAKE_STATE];
    wipe(s.localEphemeral, s.remoteEphemeral, s.chainingKey, s.hash);
    s.localEphemeral = s.remoteEphemeral = s.chainingKey = s.hash = undefined;
    s.localIndex = s.remoteIndex = undefined;
    s.state = 'zeroed';
  }
}
