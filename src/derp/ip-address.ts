/**
 * IP address text ⇄ bytes for the DERP and STUN cores, on top of the shared strict parser in
 * src/runtime/ip-address.ts. A `%zone` suffix on IPv6 text is ignored. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is unmapped to 4 bytes, because STUN and DERP report
 * such peers as IPv4 (Tailscale's clients call `Unmap()` on what they read).
 */

import { formatIpAddress, parseIpv4, parseIpv6 } from '../runtime/ip-address.js';

export { parseIpv4, parseIpv6 } from '../runtime/ip-address.js';

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export type IpBytes = Uint8Array;

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** True when 16 bytes hold an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isIpv4Mapped(ip16: Uint8Array): boolean {
  if (ip16.length !== 16) return false;
  for (let i = 0; i < 12; i++) if (ip16[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** Parses IPv4 or IPv6 text; IPv4-mapped IPv6 comes back as 4 bytes. */
export function parseIp(text: string): IpBytes | undefined {
  if (!text.includes(':')) return parseIpv4(text);
  const zone = text.indexOf('%'); // a link-local zone (`fe80::1%eth0`) names an interface, not bytes
  const v6 = parseIpv6(zone >= 0 ? text.slice(0, zone) : text);
  if (v6 && isIpv4Mapped(v6)) return v6.slice(12);
  return v6;
}

/** Formats 4 or 16 bytes as text (IPv6 in RFC 5952 form); empty for any other length. */
export function formatIp(ip: Uint8Array): string {
  if (ip.length !== 4 && ip.length !== 16) return '';
  return formatIpAddress({ family: ip.length === 4 ? 4 : 6, bytes: ip });
}

/** 16-byte form (IPv4 becomes IPv4-mapped), as DERP's PeerPresent frame carries it. */
export function toIp16(ip: IpBytes): Uint8Array {
  if (ip.length === 16) return ip;
  const out = new Uint8Array(16);
  out.set(V4_MAPPED_PREFIX, 0);
  out.set(ip.subarray(0, 4), 12);
  return out;
}

/** 16-byte form of IP text, as PeerPresent carries it: IPv4 becomes ::ffff:a.b.c.d; unparsable text becomes ::. */
export function ipTo16(text: string): Uint8Array {
  const ip = parseIp(text);
  return ip ? toIp16(ip) : new Uint8Array(16);
}

/** Text of a 16-byte IP from PeerPresent: IPv4-mapped as a dotted quad, others as eight uncompressed lower-case groups. */
export function ipFrom16(b: Uint8Array): string {
  if (isIpv4Mapped(b.subarray(0, 16))) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return groups.join(':');
}
