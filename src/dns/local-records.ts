/**
 * Local data: records answered by this forwarder itself (A, AAAA, CNAME, PTR, TXT), with RDATA
 * in wire form ready for the message encoder. Pure and synchronous; rebuilt on change, read on
 * every query.
 *
 * Answer semantics (RFC 1034 §4.3.2 step 3, RFC 2308 §2):
 *   - name has records of qtype            → NOERROR with them (ANY: every record of the name);
 *   - name has a CNAME, qtype ≠ CNAME      → the CNAME, followed through local data (≤ 8 hops);
 *   - name has records of other types only → NODATA (NOERROR, no records);
 *   - name absent but inside a local zone  → NODATA for an empty non-terminal or the zone
 *                                             apex, NXDOMAIN otherwise;
 *   - name absent, outside local zones     → no local answer (the query is forwarded).
 * Records live in named groups (`config`, later `wireguard-peers`) that are replaced whole, so
 * `tsplane run` can refresh MagicDNS-style peer names without touching configured records.
 */
import { RCODE, RR_TYPE, encodeA, encodeAaaa, encodeName, encodeTxt, reverseName, type Rcode } from './rdata.js';
import { normalizeDomain } from './blocklist.js';

/** A resource record answered locally: owner name (lower case, no trailing dot), TYPE, TTL (s), RDATA. */
export interface LocalRecord {
  readonly name: string;
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Uint8Array;
}

/** A local record as written in config (or built by a hook); validated by `setGroup`. */
export type LocalRecordInput =
  | { readonly name: string; readonly type: 'A' | 'AAAA'; readonly address: string; readonly ttl?: number }
  | { readonly name: string; readonly type: 'CNAME' | 'PTR'; readonly target: string; readonly ttl?: number }
  | { readonly name: string; readonly type: 'TXT'; readonly text: readonly string[]; readonly ttl?: number };

/** The supported input types, for config schemas. */
export const LOCAL_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'PTR', 'TXT'] as const;

/** A local answer: records (possibly none, for NODATA) and the response code. */
export interface LocalAnswer {
  readonly records: readonly LocalRecord[];
  readonly rcode: Rcode;
}

/** Why an input record was not added. */
export interface RejectedRecord {
  readonly index: number;
  readonly name: string;
  readonly reason: 'bad-name' | 'bad-address' | 'bad-target' | 'bad-text' | 'bad-ttl' | 'cname-conflict';
}

/** RFC 2181 §8: TTLs are 31-bit unsigned. */
export const MAX_TTL_S = 0x7fffffff;
/** CNAME chains longer than this are cut (loops in local data must not loop the server). */
export const MAX_CNAME_HOPS = 8;
const DEFAULT_TTL_S = 300;

interface StoredRecord extends LocalRecord {
  /** For CNAME records: the target name, to follow the chain. */
  readonly target?: string;
  /** Position in the group's input list, for rejection reports. */
  readonly inputIndex: number;
}

/** Local records, indexed by owner name and then type. */
export class LocalRecordStore {
  readonly #groups = new Map<string, StoredRecord[]>();
  #index = new Map<string, StoredRecord[]>();
  #nonTerminals = new Set<string>();
  #zones: string[] = [];
  readonly #defaultTtlS: number;
  readonly #autoPtr: boolean;

  /**
   * @param opts.zones names this store is authoritative for (NXDOMAIN for absent names below them)
   * @param opts.autoPtr add a PTR for every A/AAAA record
   */
  constructor(opts: { defaultTtlS?: number; autoPtr?: boolean; zones?: readonly string[] } = {}) {
    this.#defaultTtlS = opts.defaultTtlS ?? DEFAULT_TTL_S;
    this.#autoPtr = opts.autoPtr ?? false;
    this.setZones(opts.zones ?? []);
  }

  /** Replaces the authoritative zones (names are normalized; invalid ones are ignored). */
  setZones(zones: readonly string[]): void {
    this.#zones = zones.map((z) => normalizeDomain(z)).filter((z): z is string => z !== undefined);
  }

  /** Adds `zone` to the authoritative zones (e.g. the MagicDNS suffix). */
  addZone(zone: string): void {
    const z = normalizeDomain(zone);
    if (z !== undefined && !this.#zones.includes(z)) this.#zones.push(z);
  }

  /**
   * Replaces every record of `group` with `inputs`. Invalid inputs are skipped and returned,
   * never thrown (hooks feed names from peers). An empty list removes the group.
   */
  setGroup(group: string, inputs: readonly LocalRecordInput[]): RejectedRecord[] {
    const rejected: RejectedRecord[] = [];
    const records: StoredRecord[] = [];
    inputs.forEach((input, index) => {
      const r = this.#encode(input, index);
      if (typeof r === 'string') rejected.push({ index, name: input.name, reason: r });
      else records.push(...r);
    });
    if (records.length === 0) this.#groups.delete(group);
    else this.#groups.set(group, records);
    rejected.push(...this.#rebuild(group));
    return rejected;
  }

  /** Number of owner names with records. */
  get size(): number {
    return this.#index.size;
  }

  /** The local answer for `qname` (lower case, no trailing dot) and `qtype`, or undefined to forward. */
  lookup(qname: string, qtype: number): LocalAnswer | undefined {
    const own = this.#index.get(qname);
    if (own === undefined) {
      const zone = this.#zoneOf(qname);
      if (zone === undefined) return undefined;
      const exists = qname === zone || this.#nonTerminals.has(qname);
      return { records: [], rcode: exists ? RCODE.NOERROR : RCODE.NXDOMAIN };
    }
    if (qtype === RR_TYPE.ANY) return { records: own, rcode: RCODE.NOERROR };
    const direct = own.filter((r) => r.type === qtype);
    if (direct.length > 0) return { records: direct, rcode: RCODE.NOERROR };
    const cname = own.find((r) => r.type === RR_TYPE.CNAME);
    if (cname === undefined) return { records: [], rcode: RCODE.NOERROR };
    // Follow the chain through local data; stop at the first name we do not hold.
    const chain: LocalRecord[] = [cname];
    let target = cname.target;
    for (let hop = 1; hop < MAX_CNAME_HOPS && target !== undefined; hop++) {
      const next = this.#index.get(target);
      if (next === undefined) break;
      const hit = next.filter((r) => r.type === qtype);
      if (hit.length > 0) return { records: [...chain, ...hit], rcode: RCODE.NOERROR };
      const c = next.find((r) => r.type === RR_TYPE.CNAME);
      if (c === undefined || chain.includes(c)) break;
      chain.push(c);
      target = c.target;
    }
    return { records: chain, rcode: RCODE.NOERROR };
  }

  #zoneOf(qname: string): string | undefined {
    for (const z of this.#zones) if (qname === z || qname.endsWith(`.${z}`)) return z;
    return undefined;
  }

  #encode(input: LocalRecordInput, inputIndex: number): StoredRecord[] | RejectedRecord['reason'] {
    const name = normalizeDomain(input.name);
    if (name === undefined || encodeName(name) === undefined) return 'bad-name';
    const ttl = input.ttl ?? this.#defaultTtlS;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_S) return 'bad-ttl';
    switch (input.type) {
      case 'A':
      case 'AAAA': {
        const rdata = input.type === 'A' ? encodeA(input.address) : encodeAaaa(input.address);
        if (rdata === undefined) return 'bad-address';
        const out: StoredRecord[] = [{ name, type: RR_TYPE[input.type], ttl, rdata, inputIndex }];
        if (this.#autoPtr) out.push({ name: reverseName(rdata), type: RR_TYPE.PTR, ttl, rdata: encodeName(name)!, inputIndex });
        return out;
      }
      case 'CNAME':
      case 'PTR': {
        const target = normalizeDomain(input.target);
        const rdata = target === undefined ? undefined : encodeName(target);
        if (target === undefined || rdata === undefined) return 'bad-target';
        return [{ name, type: RR_TYPE[input.type], ttl, rdata, inputIndex, ...(input.type === 'CNAME' ? { target } : {}) }];
      }
      case 'TXT': {
        const rdata = encodeTxt(input.text);
        return rdata === undefined ? 'bad-text' : [{ name, type: RR_TYPE.TXT, ttl, rdata, inputIndex }];
      }
    }
  }

  /** Rebuilds the index from every group; drops records of `changed` that conflict with a CNAME. */
  #rebuild(changed: string): RejectedRecord[] {
    const index = new Map<string, StoredRecord[]>();
    const rejected: RejectedRecord[] = [];
    for (const [group, records] of this.#groups) {
      for (const r of records) {
        const list = index.get(r.name);
        if (list === undefined) {
          index.set(r.name, [r]);
          continue;
        }
        // RFC 1034 §3.6.2: a CNAME owner has no other data. Identical records are merged.
        const conflict = list.some((x) => x.type === RR_TYPE.CNAME) || r.type === RR_TYPE.CNAME;
        if (conflict) {
          if (group === changed) rejected.push({ index: r.inputIndex, name: r.name, reason: 'cname-conflict' });
          continue;
        }
        if (!list.some((x) => x.type === r.type && equalBytes(x.rdata, r.rdata))) list.push(r);
      }
    }
    const nonTerminals = new Set<string>();
    for (const name of index.keys()) {
      for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) nonTerminals.add(name.slice(dot + 1));
    }
    this.#index = index;
    this.#nonTerminals = nonTerminals;
    return rejected;
  }
}

/**
 * MagicDNS-style records for WireGuard peers: `<peer>.<suffix>` → A/AAAA for each address.
 * Peer names are turned into one DNS label (lower case, runs of other characters → `-`,
 * ≤ 63 octets); peers whose name leaves nothing are skipped. Feed the result to
 * `store.setGroup('wireguard-peers', …)` and `store.addZone(suffix)`.
 */
export function peerRecords(peers: ReadonlyArray<{ readonly name: string; readonly addresses: readonly string[] }>, suffix: string, ttlS = 60): LocalRecordInput[] {
  const out: LocalRecordInput[] = [];
  for (const p of peers) {
    const label = p.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
    if (label === '') continue;
    for (const address of p.addresses) {
      out.push({ name: `${label}.${suffix}`, type: address.includes(':') ? 'AAAA' : 'A', address, ttl: ttlS });
    }
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
