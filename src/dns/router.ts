/**
 * Split-DNS route table: which upstream group answers a name. Suffixes match on label
 * boundaries and the longest suffix wins (`home.lan` matches `home.lan` and `a.home.lan`, never
 * `xhome.lan`; dns.md §2 item 18, dnsmasq `--server=/suffix/`). Routes may be internal-only:
 * such names never fall back to another group (dns.md §2 item 19). Reverse zones for private
 * ranges come from CIDRs (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa). Pure.
 */
import { formatIpAddress, parseIpv6 as parseIpv6Bytes } from '../runtime/ip-address.js';

/** Group name of routes answered NXDOMAIN locally (dnsmasq `--bogus-priv` for private reverse zones). */
export const LOCAL_NXDOMAIN_GROUP = '!nxdomain';

/**
 * The route suffix that stands for every single-label name (`nas`, `printer`): blocky's `.`
 * conditional mapping, dnsmasq's `--server=//ip`. Not a valid domain, so it never collides.
 */
export const SINGLE_LABEL_SUFFIX = '!single-label';

export interface Route {
  /** Lower-case presentation suffix without leading/trailing dots; '' matches every name. */
  readonly suffix: string;
  /** Name of the upstream group that serves this suffix. */
  readonly group: string;
  /** Never fall back to another group (e.g. public upstreams) when this group fails. */
  readonly internalOnly: boolean;
}

/** Lower-cases and trims dots: `Home.LAN.` → `home.lan`, `.` → ''. */
export function normalizeSuffix(text: string): string {
  let s = text.trim().toLowerCase();
  while (s.startsWith('.')) s = s.slice(1);
  while (s.endsWith('.') && !s.endsWith('\\.')) s = s.slice(0, -1);
  return s;
}

/** The longest-suffix route table; `lookup` is O(labels) map probes. */
export class RouteTable {
  readonly #bySuffix = new Map<string, Route>();
  readonly #default: Route;
  readonly #singleLabel: Route | undefined;

  /** Later routes with the same suffix replace earlier ones. */
  constructor(routes: readonly Route[], defaultGroup: string) {
    for (const r of routes) this.#bySuffix.set(normalizeSuffix(r.suffix), { ...r, suffix: normalizeSuffix(r.suffix) });
    this.#default = this.#bySuffix.get('') ?? { suffix: '', group: defaultGroup, internalOnly: false };
    this.#singleLabel = this.#bySuffix.get(SINGLE_LABEL_SUFFIX);
  }

  get routes(): readonly Route[] {
    return [...this.#bySuffix.values()];
  }

  /**
   * The route for `qname` (lower-case presentation form as produced by message.ts, where a
   * literal dot inside a label is escaped as `\.` and therefore never a boundary).
   */
  lookup(qname: string): Route {
    if (this.#bySuffix.size === 0) return this.#default;
    const exact = this.#bySuffix.get(qname);
    if (exact) return exact;
    let dotted = false;
    for (let i = 0; i < qname.length; i++) {
      const c = qname.charCodeAt(i);
      if (c === 0x5c) {
        i++; // skip the escaped character; \DDD digits are never dots
      } else if (c === 0x2e) {
        dotted = true;
        const r = this.#bySuffix.get(qname.slice(i + 1));
        if (r) return r;
      }
    }
    return !dotted && qname !== '' && this.#singleLabel !== undefined ? this.#singleLabel : this.#default;
  }
}

/** Most zones one CIDR may expand to (a /1 would otherwise give 2^7 zones; /12 gives 16). */
const MAX_REVERSE_ZONES = 256;

/**
 * Reverse-lookup zone suffixes covering a CIDR: `10.0.0.0/8` → [`10.in-addr.arpa`],
 * `172.16.0.0/12` → 16 zones `16.172.in-addr.arpa` … `31.172.in-addr.arpa`, `fd00::/8` →
 * [`d.f.ip6.arpa`]. Prefixes not on an octet (IPv4) or nibble (IPv6) boundary are widened to
 * the next boundary by enumeration. Returns undefined for malformed input or too many zones.
 */
export function reverseZonesForCidr(cidr: string): string[] | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return undefined;
  const addr = cidr.slice(0, slash);
  const bits = Number(cidr.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0) return undefined;
  if (addr.includes(':')) {
    const groups = parseIpv6(addr);
    if (!groups || bits > 128) return undefined;
    const nibbles: number[] = [];
    for (const g of groups) nibbles.push((g >> 12) & 15, (g >> 8) & 15, (g >> 4) & 15, g & 15);
    return expand(nibbles, bits, 4, 'ip6.arpa');
  }
  const parts = addr.split('.');
  if (parts.length !== 4 || bits > 32) return undefined;
  const octets = parts.map((p) => (/^[0-9]{1,3}$/.test(p) ? Number(p) : NaN));
  if (octets.some((o) => !(o >= 0 && o <= 255))) return undefined;
  return expand(octets, bits, 8, 'in-addr.arpa');
}

function expand(digits: number[], bits: number, width: number, root: string): string[] | undefined {
  const whole = Math.floor(bits / width);
  const rest = bits % width;
  const fixed = digits.slice(0, whole);
  const fmt = (d: number): string => (width === 4 ? d.toString(16) : String(d));
  if (rest === 0) return [[...fixed].reverse().map(fmt).concat(root).join('.')];
  const count = 1 << (width - rest);
  if (count > MAX_REVERSE_ZONES) return undefined;
  const next = digits[whole] ?? 0;
  const base = next & ~(count - 1) & ((1 << width) - 1);
  const zones: string[] = [];
  for (let i = 0; i < count; i++) zones.push([...fixed, base + i].reverse().map(fmt).concat(root).join('.'));
  return zones;
}

/**
 * Parses an IPv6 literal (with `::`, optional embedded IPv4; a `%zone` suffix is ignored) to 8
 * groups, or undefined. The grammar is the shared one in src/runtime/ip-address.ts.
 */
export function parseIpv6(text: string): number[] | undefined {
  const pct = text.indexOf('%');
  const bytes = parseIpv6Bytes(pct >= 0 ? text.slice(0, pct) : text);
  if (!bytes) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  return groups;
}

/** RFC 5952 canonical text for 8 IPv6 groups (lower case, longest zero run ≥ 2 as `::`). */
export function formatIpv6(groups: readonly number[]): string {
  const bytes = new Uint8Array(16);
  groups.slice(0, 8).forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return formatIpAddress({ family: 6, bytes });
}

/** RFC 1918 and RFC 6303 / RFC 4193 private ranges whose reverse zones never go to public upstreams. */
export const PRIVATE_REVERSE_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10'] as const;
