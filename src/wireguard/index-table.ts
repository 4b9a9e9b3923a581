/**
 * The device's index table (whitepaper §5.4.2 "sender index"; kernel peerlookup.c
 * wg_index_hashtable_*; wg-go indextable.go): random 32-bit local indices, chosen from the
 * injected Rng and never reused while live, mapping the receiver field of incoming responses,
 * cookie replies and transport messages to the handshake or keypair they address.
 */
import type { Rng } from '../runtime/rng.js';
import { TsplaneError } from '../runtime/errors.js';
import type { Keypair } from './keypair.js';

/** What an index points at: a handshake in flight, or an established keypair, of `peer`. */
export type IndexEntry<P> =
  | { readonly kind: 'handshake'; readonly peer: P }
  | { readonly kind: 'keypair'; readonly peer: P; readonly keypair: Keypair };

/** Attempts at finding a free random index before giving up (the table is never anywhere near full). */
const MAX_INDEX_ATTEMPTS = 64;

export class IndexTable<P> {
  readonly #entries = new Map<number, IndexEntry<P>>();
  readonly #rng: Rng;
  readonly #scratch = new Uint8Array(4);

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Allocates a fresh random index for `entry` (no collision with any live index). */
  insert(entry: IndexEntry<P>): number {
    for (let i = 0; i < MAX_INDEX_ATTEMPTS; i++) {
      const b = this.#rng.fill(this.#scratch);
      const index = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
      if (!this.#entries.has(index)) {
        this.#entries.set(index, entry);
        return index;
      }
    }
    throw new TsplaneError('WG_ERR_INDEX_EXHAUSTED', `no free index after ${MAX_INDEX_ATTEMPTS} random attempts`);
  }

  /** Re-points a live index (a handshake's index becomes its keypair's, kernel wg_index_hashtable_replace). */
  replace(index: number, entry: IndexEntry<P>): void {
    this.#entries.set(index >>> 0, entry);
  }

  lookup(index: number): IndexEntry<P> | undefined {
    return this.#entries.get(index);
  }

  /** Frees `index`, but only if it still points at `what` (a handshake's peer or a keypair). */
  remove(index: number, what: P | Keypair): void {
    const e = this.#entries.get(index);
    if (e === undefined) return;
    if ((e.kind === 'keypair' && e.keypair === what) || (e.kind === 'handshake' && e.peer === what)) this.#entries.delete(index);
  }
}
