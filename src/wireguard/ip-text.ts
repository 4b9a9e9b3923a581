/**
 * Numeric IP text for the configuration interface: strict parsers for IPv4 dotted quads,
 * IPv6 (RFC 4291 §2.2 text forms, no zone ids), `IP/bits` prefixes and `IP:port` /
 * `[IPv6]:port` endpoints, plus RFC 5952 canonical formatting. Untrusted text: every parser
 * returns `undefined` instead of throwing. No hostnames: `wg` resolves them before it talks
 * to the daemon (wireguard.md §2.2).
 */
import type { Endpoint, IpPrefix } from './device-api.js';

/** Longest textual IPv6 address we look at (RFC 4291 full form with an embedded IPv4 is 45). */
const MAX_IP_TEXT_CHARS = 45;

/** Parses a dotted quad ("192.0.2.1"): four decimal octets, no leading zeros, no signs. */
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

/** Parses IPv6 text ("2001:db8::1", "::ffff:192.0.2.1"); rejects zone ids and malformed groups. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > MAX_IP_TEXT_CHARS) return undefined;
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const words: number[] = [];
  let tailV4: Uint8Array | undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string, allowV4Tail: boolean): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const res: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        tailV4 = parseIpv4(g);
        if (!tailV4) return undefined;
        res.push((tailV4[0]! << 8) | tailV4[1]!, (tailV4[2]! << 8) | tailV4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      res.push(parseInt(g, 16));
    }
    return res;
  };
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (!head || !tail) return undefined;
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    const all = parseGroups(text, true);
    if (!all || all.length !== 8) return undefined;
    words.push(...all);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Parses either family; returns the family and the 4 or 16 address bytes. */
export function parseIpAddress(text: string): { family: 4 | 6; address: Uint8Array } | undefined {
  if (text.includes(':')) {
    const a = parseIpv6(text);
    return a ? { family: 6, address: a } : undefined;
  }
  const a = parseIpv4(text);
  return a ? { family: 4, address: a } : undefined;
}

/** Formats 4 or 16 address bytes; IPv6 in RFC 5952 canonical form (IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIpAddress(address: Uint8Array): string {
  if (address.length === 4) return `${address[0]}.${address[1]}.${address[2]}.${address[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((address[2 * i]! << 8) | address[2 * i + 1]!);
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  if (mapped) return `::ffff:${address[12]}.${address[13]}.${address[14]}.${address[15]}`;
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
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

/** Parses `IP/bits` (the slash is required, as wireguard-go requires it). */
export function parseIpPrefix(text: string): IpPrefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return undefined;
  const ip = parseIpAddress(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (ip.family === 4 ? 32 : 128)) return undefined;
  return { family: ip.family, address: ip.address, bits };
}

export function formatIpPrefix(prefix: IpPrefix): string {
  return `${formatIpAddress(prefix.address)}/${prefix.bits}`;
}

/** Parses `a.b.c.d:port` or `[v6]:port` (numeric only). The address comes back canonical. */
export function parseEndpoint(text: string): Endpoint | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!host.includes(':')) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return undefined; // bare IPv6 needs brackets
  }
  if (!/^(0|[1-9][0-9]{0,4})$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  const ip = parseIpAddress(host);
  if (!ip) return undefined;
  return { family: ip.family, address: formatIpAddress(ip.address), port };
}

/** Formats an endpoint as `wg` expects it: IPv6 in brackets. */
export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.family === 6 ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}
