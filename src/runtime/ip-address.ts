/**
 * Textual IP addresses and CIDR prefixes to bytes, without `node:net` (so protocol cores and
 * config schemas may use it). Strict forms only: dotted-quad IPv4 with decimal octets
 * (no leading zeros, RFC 6943 §3.1.1 warns about octal readings), and RFC 4291 §2.2 IPv6 text
 * (`::` compression, trailing embedded IPv4). Zone IDs (`%eth0`) are rejected. Never throws.
 */

/** An IP address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** An address prefix such as `10.0.0.0/8`; host bits past `prefixLength` are zero. */
export interface IpPrefix {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefixLength: number;
}

/** Longest text we try to parse; the longest valid IPv6 text form is 45 characters. */
const MAX_ADDRESS_TEXT = 64;

/** Parses dotted-quad IPv4 (`192.0.2.1`); undefined when not exactly that form. */
export function parseIpv4(text: string): Uint8Array | undefined {
  if (text.length > 15) return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** Parses RFC 4291 §2.2 IPv6 text (`2001:db8::1`, `::ffff:192.0.2.1`); undefined otherwise. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > MAX_ADDRESS_TEXT) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  // An embedded IPv4 address may only be the very last piece.
  let v4: Uint8Array | undefined;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    v4 = parseIpv4(last);
    if (v4 === undefined) return undefined;
    if (tail.length > 0) tail.pop();
    else if (halves.length === 2) return undefined; // `1.2.3.4::`: the IPv4 part is not last
    else head.pop();
  }
  const words = head.length + tail.length + (v4 ? 2 : 0);
  if (halves.length === 2 ? words > 7 : words !== 8) return undefined;
  const out = new Uint8Array(16);
  const put = (list: string[], startWord: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      const v = parseInt(g, 16);
      out[(startWord + i) * 2] = v >> 8;
      out[(startWord + i) * 2 + 1] = v & 0xff;
    }
    return true;
  };
  if (!put(head, 0)) return undefined;
  const tailStart = 8 - (v4 ? 2 : 0) - tail.length;
  if (!put(tail, tailStart)) return undefined;
  if (v4) out.set(v4, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIpAddress(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = text.includes(':') ? parseIpv6(text) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/**
 * Parses `address/length`. With `strict`, host bits past the prefix must be zero (a typo
 * guard: `10.1.0.0/8` is rejected rather than silently meaning `10.0.0.0/8`).
 */
export function parseIpPrefix(text: string, opts: { strict?: boolean } = {}): IpPrefix | undefined {
  const unmasked = parseIpPrefixUnmasked(text);
  if (!unmasked) return undefined;
  const { address: addr, prefixLength } = unmasked;
  const masked = maskBytes(addr.bytes, prefixLength);
  if (opts.strict && !masked.every((b, i) => b === addr.bytes[i])) return undefined;
  return { family: addr.family, bytes: masked, prefixLength };
}

/**
 * Parses `address/length` exactly as written: host bits are kept (WireGuard's UAPI echoes an
 * allowed IP back as the peer configured it). Length is decimal without leading zeros.
 */
export function parseIpPrefixUnmasked(text: string): { address: IpAddress; prefixLength: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return undefined;
  const address = parseIpAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!address || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > address.bytes.length * 8) return undefined;
  return { address, prefixLength };
}

/** A copy of `bytes` with every bit past `prefixLength` cleared. */
export function maskBytes(bytes: Uint8Array, prefixLength: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let bit = prefixLength; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIpAddress(addr: IpAddress): string {
  const b = addr.bytes;
  if (addr.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero word is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
