/**
 * Upstream specs from one-line text, for tests and benches (the shipped config path is YAML:
 * src/dns/config-upstreams.ts → forwarder-config.ts). Forms: `10.0.0.1`, `10.0.0.1:5353`,
 * `10.0.0.1#5353` (dnsmasq style), `[fd00::1]:53`, `udp://…`, `tcp://…`, `tls://host[:853]`
 * and `https://host[:443]/dns-query`. Plain and TCP upstreams must be IP literals.
 */
import { formatIpAddress, parseIpAddress } from '../../src/runtime/ip-address.js';
import type { UpstreamSpec, UpstreamTransport } from '../../src/dns/upstream-spec.js';

/** A spec, or a message naming the bad part. */
export type UpstreamParse = { readonly ok: true; readonly spec: UpstreamSpec } | { readonly ok: false; readonly error: string };

const DEFAULT_PORTS: Record<UpstreamTransport, number> = { udp: 53, tcp: 53, tls: 853, https: 443 };

/** An IP literal in canonical text (shared strict grammar; an IPv6 `%zone` is dropped), or undefined for a host name. */
function ipFamily(host: string): { host: string; family: 4 | 6 } | undefined {
  const pct = host.includes(':') ? host.indexOf('%') : -1;
  const ip = parseIpAddress(pct >= 0 ? host.slice(0, pct) : host);
  return ip ? { host: formatIpAddress(ip), family: ip.family } : undefined;
}

/** Parses one upstream address; errors are messages for the user naming the bad part. */
export function parseUpstream(text: string): UpstreamParse {
  let rest = text.trim();
  let transport: UpstreamTransport = 'udp';
  const scheme = /^([a-z]+):\/\//i.exec(rest);
  if (scheme) {
    const s = scheme[1]!.toLowerCase();
    if (s !== 'udp' && s !== 'tcp' && s !== 'tls' && s !== 'https') return { ok: false, error: `unsupported scheme '${s}://' in '${text}'` };
    transport = s;
    rest = rest.slice(scheme[0].length);
  }
  let path = '/dns-query';
  if (transport === 'https') {
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      path = rest.slice(slash);
      rest = rest.slice(0, slash);
    }
  } else if (rest.includes('/')) {
    return { ok: false, error: `unexpected path in '${text}'` };
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { ok: false, error: `missing ']' in '${text}'` };
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':') && !after.startsWith('#')) return { ok: false, error: `junk after ']' in '${text}'` };
      portText = after.slice(1);
    }
  } else if (rest.includes('#')) {
    [host, portText] = [rest.slice(0, rest.indexOf('#')), rest.slice(rest.indexOf('#') + 1)];
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [host, portText] = [rest.slice(0, rest.indexOf(':')), rest.slice(rest.indexOf(':') + 1)];
  } else {
    host = rest;
  }
  let port = DEFAULT_PORTS[transport];
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { ok: false, error: `bad port '${portText}' in '${text}'` };
    }
    port = Number(portText);
  }
  if (host === '') return { ok: false, error: `missing host in '${text}'` };
  const ip = ipFamily(host);
  if (!ip && (transport === 'udp' || transport === 'tcp')) {
    return { ok: false, error: `'${host}' is not an IP address (plain DNS upstreams must be IP literals)` };
  }
  if (!ip && !/^[a-z0-9.-]+$/i.test(host)) return { ok: false, error: `bad host name '${host}' in '${text}'` };
  const canonicalHost = ip ? ip.host : host.toLowerCase();
  const hostPart = ip?.family === 6 ? `[${canonicalHost}]` : canonicalHost;
  const id = transport === 'https'
    ? `https://${hostPart}:${port}${path}`
    : `${transport === 'udp' ? '' : `${transport}://`}${hostPart}:${port}`;
  return { ok: true, spec: { id, transport, host: canonicalHost, port, path, family: ip?.family ?? 0 } };
}
