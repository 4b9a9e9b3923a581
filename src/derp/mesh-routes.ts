/**
 * Routing state the relay keeps about keys it does not own (derp.md §3.5, §6):
 *  - `ForwarderTable`: keys a meshed sibling announced, each with its forwarders; the first
 *    registered wins (derper's multiForwarder).
 *  - `SentToIndex`: who received packets from which source, so that when a source leaves the
 *    region its recipients get PeerGone(Disconnected).
 */
import { keyHex, type NodePublicKey } from './keys.js';

/** Delivers packets for keys that live on a meshed sibling relay (derp.md §6). */
export interface PacketForwarder {
  /** Sends ForwardPacket(src, dst, packet) to the sibling. Must not throw. */
  forwardPacket(src: NodePublicKey, dst: NodePublicKey, packet: Uint8Array): void;
}

export class ForwarderTable {
  readonly #byKey = new Map<string, { key: NodePublicKey; list: PacketForwarder[] }>();

  add(key: NodePublicKey, fwd: PacketForwarder): void {
    const hex = keyHex(key);
    const entry = this.#byKey.get(hex);
    if (!entry) this.#byKey.set(hex, { key: key.slice() as NodePublicKey, list: [fwd] });
    else if (!entry.list.includes(fwd)) entry.list.push(fwd);
  }

  /** Removes `fwd` for `key`; returns the key when that was its last route. */
  remove(key: NodePublicKey, fwd: PacketForwarder): NodePublicKey | undefined {
    const hex = keyHex(key);
    const entry = this.#byKey.get(hex);
    if (!entry) return undefined;
    const i = entry.list.indexOf(fwd);
    if (i >= 0) entry.list.splice(i, 1);
    if (entry.list.length > 0) return undefined;
    this.#byKey.delete(hex);
    return entry.key;
  }

  /** The forwarder to use for a key (the first registered), if any. */
  first(hex: string): PacketForwarder | undefined {
    return this.#byKey.get(hex)?.list[0];
  }

  has(hex: string): boolean {
    return this.#byKey.has(hex);
  }

  keys(): IterableIterator<string> {
    return this.#byKey.keys();
  }
}

export class SentToIndex<C> {
  readonly #bySource = new Map<string, Set<C>>();

  /** Records that `recipient` got a packet from the source `srcHex`. */
  note(srcHex: string, recipient: C): void {
    let set = this.#bySource.get(srcHex);
    if (!set) this.#bySource.set(srcHex, (set = new Set()));
    set.add(recipient);
  }

  /** Removes and returns the recipients of `srcHex` (it left the region). */
  take(srcHex: string): Set<C> | undefined {
    const set = this.#bySource.get(srcHex);
    this.#bySource.delete(srcHex);
    return set;
  }

  /** Forgets a recipient that disconnected. */
  forgetRecipient(recipient: C): void {
    for (const [src, set] of this.#bySource) {
      set.delete(recipient);
      if (set.size === 0) this.#bySource.delete(src);
    }
  }
}
