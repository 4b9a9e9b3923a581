/**
 * Numeric IP text for the configuration interface, in the shapes the UAPI uses: `IP/bits`
 * prefixes (host bits kept) and `IP:port` / `[IPv6]:port` / `[IPv6%zone]:port` endpoints (a
 * link-local peer names the interface it is reached on, as wireguard-go accepts), plus formatting with
 * IPv4-mapped addresses in mixed notation. The address grammar itself (strict dotted quads,
 * RFC 4291 §2.2 IPv6, no zone ids) is the shared one in src/runtime/ip-address.ts. Untrusted text: every parser
 * returns `undefined` instead of throwing. No hostnames: `wg` resolves them before it talks
 * to the daemon (wireguard.md §2.2).
 */
import type { Endpoint, IpPrefix } from './device-api.js';
import * as ip from '../runtime/ip-address.js';

/** Dotted quads and RFC 4291 §2.2 IPv6 text: the shared strict parsers (no zone ids). */
export { parseIpv4, parseIpv6 } from '../runtime/ip-address.js';

/** Parses either family; returns the family and the 4 or 16 address bytes. */
export function parseIpAddress(text: string): { family: 4 | 6; address: Uint8Array } | undefined {
  const a = ip.parseIpAddress(text);
  return a ? { family: a.family, address: a.bytes } : undefined;
}

/**
 * Formats 4 or 16 address bytes; IPv6 in RFC 5952 canonical form, except that IPv4-mapped
 * addresses use the §5 mixed notation `::ffff:a.b.c.d`, as `wg` prints them.
 */
export function formatIpAddress(address: Uint8Array): string {
  if (address.length === 4) return ip.formatIpAddress({ family: 4, bytes: address });
  let mapped = address[10] === 0xff && address[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = address[i] === 0;
  if (mapped) return `::ffff:${address[12]}.${address[13]}.${address[14]}.${address[15]}`;
  return ip.formatIpAddress({ family: 6, bytes: address });
}

/** Parses `IP/bits` (the slash is required, as wireguard-go requires it); host bits are kept. */
export function parseIpPrefix(text: string): IpPrefix | undefined {
  const p = ip.parseIpPrefixUnmasked(text);
  return p ? { family: p.address.family, address: p.address.bytes, bits: p.prefixLength } : undefined;
}

/** Formats a prefix as `IP/bits`. */
export function formatIpPrefix(prefix: IpPrefix): string {
  return `${formatIpAddress(prefix.address)}/${prefix.bits}`;
}

/** An IPv6 zone: an interface name (at most 15 characters, as IFNAMSIZ allows) or its index. */
const ZONE_RE = /^[A-Za-z0-9_.=+-]{1,15}$/;

/**
 * Parses `a.b.c.d:port`, `[v6]:port` or `[v6%zone]:port` (numeric only). The address comes back
 * canonical, with its `%zone` kept as given (the form Node's dgram also reports senders in).
 */
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
  const pct = host.indexOf('%');
  const zone = pct < 0 ? undefined : host.slice(pct + 1);
  if (zone !== undefined && !ZONE_RE.test(zone)) return undefined;
  const ip = parseIpAddress(pct < 0 ? host : host.slice(0, pct));
  if (!ip || (zone !== undefined && ip.family !== 6)) return undefined;
  return { family: ip.family, address: formatIpAddress(ip.address) + (zone !== undefined ? `%${zone}` : ''), port };
}

/** Formats an endpoint as `wg` expects it: IPv6 in brackets. */
export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.family === 6 ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}
