/** Shared fixtures for handshake tests: deterministic identities and a two-peer setup. */
import { SeededRng, type Rng } from '../../src/runtime/rng.js';
import { Handshake, type StaticIdentity } from '../../src/wireguard/noise.js';
import { identity } from '../support/wg-keys.js';

export { identity };

export const WALL_MS = Date.UTC(2026, 10, 26, 2, 0, 0);

export interface Pair {
  rng: Rng;
  initiator: StaticIdentity;
  responder: StaticIdentity;
  /** The initiator's handshake state for the responder. */
  iHs: Handshake;
  /** The responder's handshake state for the initiator. */
  rHs: Handshake;
  findPeer: (pub: Uint8Array) => Handshake | undefined;
  findByIndex: (index: number) => Handshake | undefined;
}

export function pair(seed = 1, psk?: { initiator?: Uint8Array; responder?: Uint8Array }): Pair {
  const rng = new SeededRng(seed);
  const initiator = identity(rng);
  const responder = identity(rng);
  const iHs = new Handshake(initiator, responder.publicKey, psk?.initiator);
  const rHs = new Handshake(responder, initiator.publicKey, psk?.responder);
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
  return {
    rng,
    initiator,
    responder,
    iHs,
    rHs,
    findPeer: (pub) => (same(pub, initiator.publicKey) ? rHs : undefined),
    findByIndex: (index) => (iHs.localIndex === index ? iHs : undefined),
  };
}
