/**
 * Peer endpoints as configuration text: `IP:PORT`, `[IPv6]:PORT`, or `HOSTNAME:PORT` as wg-quick
 * files commonly carry (`Endpoint = vpn.example.com:51820`). A host name is kept as text: the
 * runtime resolves it (and re-resolves it while the peer is silent, see endpoint-reresolve.ts).
 */
import { formatIpAddress, parseIpAddress } from '../runtime/ip-address.js';
import type { Endpoint } from './device-api.js';

/** A peer endpoint named by a DNS host name, resolved at run time. */
export interface EndpointHost {
  readonly host: string;
  readonly port: number;
}

export type ParsedEndpoint =
  | { readonly kind: 'ip'; readonly endpoint: Endpoint }
  | { readonly kind: 'host'; readonly endpoint: EndpointHost }
  | { readonly kind: 'error'; readonly problem: string };

/** Longest host name (RFC 1035 presentation form). */
const MAX_HOST_CHARS = 253;
/** One DNS label of a host name: letters, digits, hyphen inside (RFC 1123 §2.1), `_` tolerated. */
const HOST_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Parses endpoint text; never throws. */
export function parseEndpointText(text: string): ParsedEndpoint {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  const bad = `'${text.slice(0, 80)}' is not an endpoint IP:PORT, [IPv6]:PORT or HOST:PORT`;
  if (!m) return { kind: 'error', problem: bad };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return { kind: 'error', problem: `${bad} (port 1–65535)` };
  const ip = parseIpAddress(m[1]!);
  if (ip) return { kind: 'ip', endpoint: { family: ip.family, address: formatIpAddress(ip), port } };
  const host = m[1]!.replace(/\.$/, '');
  if (text.startsWith('[') || host.length === 0 || host.length > MAX_HOST_CHARS || !host.split('.').every((l) => HOST_LABEL.test(l))) {
    return { kind: 'error', problem: bad };
  }
  return { kind: 'host', endpoint: { host: host.toLowerCase(), port } };
}
