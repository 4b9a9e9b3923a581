/**
 * Cryptokey routing table (whitepaper §2 "Cryptokey Routing"; wireguard.md §1.11): one
 * longest-prefix-match table per device mapping IP prefixes to peers, used twice per packet:
 * on send, the inner *destination* picks the peer; on receive, the inner *source* must map back
 * to the peer whose key decrypted the packet (the crypto reverse-path filter).
 *
 * A binary trie with path compression per address family (the layout the kernel's
 * allowedips.c and wg-go's allowedips.go use): every node holds a masked key and a prefix
 * length; a node without a value is an internal branch point with exactly two children.
 * Prefixes are unique per table: inserting a prefix that another peer owns moves it.
 */
import type { IpPrefix } from './device-api.js';

interface TrieNode<P> {
  /** The prefix bits, host bits cleared; 4 or 16 bytes. */
  readonly key: Uint8Array;
  readonly bits: number;
  value: P | undefined;
  parent: TrieNode<P> | undefined;
  readonly children: [TrieNode<P> | undefined, TrieNode<P> | undefined];
}

/** Bit `i` (0 = most significant bit of byte 0) of `addr` starting at `offset`. */
function bitAt(addr: Uint8Array, offset: number, i: number): 0 | 1 {
  return ((addr[offset + (i >>> 3)]! >>> (7 - (i & 7))) & 1) as 0 | 1;
}

/** Number of leading bits `a` (at offset) and `b` share, up to `limit`. */
function commonBits(a: Uint8Array, aOffset: number, b: Uint8Array, limit: number): number {
  let n = 0;
  for (let byte = 0; n < limit; byte++) {
    const x = a[aOffset + byte]! ^ b[byte]!;
    if (x === 0) {
      n += 8;
      continue;
    }
    n += Math.clz32(x) - 24;
    break;
  }
  return n < limit ? n : limit;
}

/** True when the first `bits` bits of `addr` (at offset) equal those of `key`. */
function prefixMatches(key: Uint8Array, bits: number, addr: Uint8Array, offset: number): boolean {
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (key[i] !== addr[offset + i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((key[whole]! ^ addr[offset + whole]!) & mask) === 0;
}

/** A copy of `address` with every bit after `bits` cleared. */
export function maskPrefix(address: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(address);
  for (let i = 0; i < out.length; i++) {
    const keep = bits - i * 8;
    if (keep >= 8) continue;
    out[i] = keep <= 0 ? 0 : out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** Throws RangeError for a prefix the table cannot hold (config errors, not untrusted input). */
function checkPrefix(prefix: IpPrefix): void {
  const len = prefix.family === 4 ? 4 : 16;
  if (prefix.address.length !== len) throw new RangeError(`allowed-ips: IPv${prefix.family} address must be ${len} bytes`);
  if (!Number.isInteger(prefix.bits) || prefix.bits < 0 || prefix.bits > len * 8) {
    throw new RangeError(`allowed-ips: prefix length ${prefix.bits} out of range for IPv${prefix.family}`);
  }
}

/** One family's trie. */
class Trie<P> {
  root: TrieNode<P> | undefined;
  readonly #maxBits: number;

  constructor(maxBits: number) {
    this.#maxBits = maxBits;
  }

  /** The value of the longest prefix containing the address at `addr[offset..]`. */
  lookup(addr: Uint8Array, offset: number): P | undefined {
    let best: P | undefined;
    let node = this.root;
    while (node !== undefined && prefixMatches(node.key, node.bits, addr, offset)) {
      if (node.value !== undefined) best = node.value;
      if (node.bits === this.#maxBits) break;
      node = node.children[bitAt(addr, offset, node.bits)];
    }
    return best;
  }

  /** The node holding exactly `key/bits`, if any (valued or not). */
  find(key: Uint8Array, bits: number): TrieNode<P> | undefined {
    let node = this.root;
    while (node !== undefined && node.bits <= bits && prefixMatches(node.key, node.bits, key, 0)) {
      if (node.bits === bits) return node;
      node = node.children[bitAt(key, 0, node.bits)];
    }
    return undefined;
  }

  /** Sets `key/bits` (key already masked) to `value`; returns the node and the previous value. */
  insert(key: Uint8Array, bits: number, value: P): { node: TrieNode<P>; previous: P | undefined } {
    let parent: TrieNode<P> | undefined;
    let node = this.root;
    while (node !== undefined && node.bits <= bits && prefixMatches(node.key, node.bits, key, 0)) {
      if (node.bits === bits) {
        const previous = node.value;
        node.value = value;
        return { node, previous };
      }
      parent = node;
      node = node.children[bitAt(key, 0, node.bits)];
    }
    const fresh: TrieNode<P> = { key, bits, value, parent, children: [undefined, undefined] };
    if (node === undefined) {
      this.#attach(parent, fresh);
      return { node: fresh, previous: undefined };
    }
    // `node` diverges from `key` somewhere in its first min(bits, node.bits) bits, or is below it.
    const common = commonBits(node.key, 0, key, Math.min(bits, node.bits));
    if (common === bits) {
      // The new prefix contains `node`: splice it in between `parent` and `node`.
      this.#attach(parent, fresh);
      fresh.children[bitAt(node.key, 0, bits)] = node;
      node.parent = fresh;
      return { node: fresh, previous: undefined };
    }
    // They split at `common`: a valueless branch node takes both.
    const branch: TrieNode<P> = { key: maskPrefix(key, common), bits: common, value: undefined, parent, children: [undefined, undefined] };
    this.#attach(parent, branch);
    branch.children[bitAt(node.key, 0, common)] = node;
    branch.children[bitAt(key, 0, common)] = fresh;
    node.parent = branch;
    fresh.parent = branch;
    return { node: fresh, previous: undefined };
  }

  /** Clears the value of `node` and removes nodes that no longer carry information. */
  clear(node: TrieNode<P>): void {
    node.value = undefined;
    let n: TrieNode<P> | undefined = node;
    // A valueless node with fewer than two children is redundant: lift its child (if any).
    while (n !== undefined && n.value === undefined) {
      const [c0, c1] = n.children;
      if (c0 !== undefined && c1 !== undefined) break;
      const only = c0 ?? c1;
      const parent: TrieNode<P> | undefined = n.parent;
      this.#replace(parent, n, only);
      n = parent;
    }
  }

  #attach(parent: TrieNode<P> | undefined, child: TrieNode<P>): void {
    child.parent = parent;
    if (parent === undefined) this.root = child;
    else parent.children[bitAt(child.key, 0, parent.bits)] = child;
  }

  #replace(parent: TrieNode<P> | undefined, old: TrieNode<P>, replacement: TrieNode<P> | undefined): void {
    if (replacement !== undefined) replacement.parent = parent;
    if (parent === undefined) this.root = replacement;
    else parent.children[parent.children[0] === old ? 0 : 1] = replacement;
    old.parent = undefined;
  }
}

/**
 * The device's allowed-IPs table: IPv4 and IPv6 tries plus, per peer, the set of its nodes so
 * that listing or removing a peer's prefixes does not walk the whole table.
 */
export class AllowedIps<P> {
  readonly #v4 = new Trie<P>(32);
  readonly #v6 = new Trie<P>(128);
  readonly #byPeer = new Map<P, Set<TrieNode<P>>>();

  /** Maps `prefix` to `peer`, taking it away from any other peer that had it. */
  insert(prefix: IpPrefix, peer: P): void {
    checkPrefix(prefix);
    const trie = prefix.family === 4 ? this.#v4 : this.#v6;
    const { node, previous } = trie.insert(maskPrefix(prefix.address, prefix.bits), prefix.bits, peer);
    if (previous !== undefined && previous !== peer) this.#byPeer.get(previous)?.delete(node);
    let set = this.#byPeer.get(peer);
    if (set === undefined) this.#byPeer.set(peer, (set = new Set()));
    set.add(node);
  }

  /** Removes `prefix` if `peer` owns it (`allowed_ip=-PREFIX`); returns whether it did. */
  remove(prefix: IpPrefix, peer: P): boolean {
    checkPrefix(prefix);
    const trie = prefix.family === 4 ? this.#v4 : this.#v6;
    const node = trie.find(maskPrefix(prefix.address, prefix.bits), prefix.bits);
    if (node === undefined || node.value !== peer) return false;
    this.#byPeer.get(peer)?.delete(node);
    trie.clear(node);
    return true;
  }

  /** Removes every prefix of `peer`. */
  removePeer(peer: P): void {
    const set = this.#byPeer.get(peer);
    if (set === undefined) return;
    this.#byPeer.delete(peer);
    for (const node of set) (node.key.length === 4 ? this.#v4 : this.#v6).clear(node);
  }

  /** The peer owning the longest prefix containing the IPv4 address at `bytes[offset..offset+4]`. */
  lookupV4(bytes: Uint8Array, offset = 0): P | undefined {
    if (offset < 0 || offset + 4 > bytes.length) return undefined;
    return this.#v4.lookup(bytes, offset);
  }

  /** The peer owning the longest prefix containing the IPv6 address at `bytes[offset..offset+16]`. */
  lookupV6(bytes: Uint8Array, offset = 0): P | undefined {
    if (offset < 0 || offset + 16 > bytes.length) return undefined;
    return this.#v6.lookup(bytes, offset);
  }

  /** Longest-prefix match for a 4- or 16-byte address. */
  lookup(address: Uint8Array): P | undefined {
    if (address.length === 4) return this.#v4.lookup(address, 0);
    if (address.length === 16) return this.#v6.lookup(address, 0);
    return undefined;
  }

  /** The prefixes of `peer` (addresses masked), IPv4 first, each family in address order. */
  prefixesOf(peer: P): IpPrefix[] {
    const set = this.#byPeer.get(peer);
    if (set === undefined) return [];
    const out: IpPrefix[] = [];
    for (const node of set) out.push({ family: node.key.length === 4 ? 4 : 6, address: Uint8Array.from(node.key), bits: node.bits });
    out.sort((a, b) => a.family - b.family || compareBytes(a.address, b.address) || a.bits - b.bits);
    return out;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
