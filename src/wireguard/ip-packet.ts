/**
 * Just enough of IPv4 (RFC 791) and IPv6 (RFC 8200) headers for cryptokey routing: the version
 * nibble, the length the header claims, and where the source and destination addresses sit.
 * Every read is bounded by the packet length; nothing here throws.
 *
 *   IPv4: byte 0 = version(4 bits) ‖ IHL; bytes 2..4 total length (BE); src 12..16; dst 16..20
 *   IPv6: byte 0 = version(4 bits) ‖ ...; bytes 4..6 payload length (BE); src 8..24; dst 24..40
 */
import { parseIpAddress as parseIp } from '../runtime/ip-address.js';

export const IPV4_HEADER_BYTES = 20;
export const IPV6_HEADER_BYTES = 40;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;

/** 4 or 6 when `packet` is long enough for that version's fixed header, else 0. */
export function ipVersion(packet: Uint8Array): 0 | 4 | 6 {
  if (packet.length === 0) return 0;
  const v = packet[0]! >>> 4;
  if (v === 4) return packet.length >= IPV4_HEADER_BYTES ? 4 : 0;
  if (v === 6) return packet.length >= IPV6_HEADER_BYTES ? 6 : 0;
  return 0;
}

/**
 * The length the header claims (IPv4 total length; IPv6 40 + payload length), or 0 when the
 * header is malformed or claims more than `packet` holds. Used to trim transport padding.
 */
export function ipClaimedLength(packet: Uint8Array, version: 4 | 6): number {
  if (version === 4) {
    const total = (packet[2]! << 8) | packet[3]!;
    const ihlBytes = (packet[0]! & 0x0f) * 4;
    if (ihlBytes < IPV4_HEADER_BYTES || total < ihlBytes || total > packet.length) return 0;
    return total;
  }
  const total = IPV6_HEADER_BYTES + ((packet[4]! << 8) | packet[5]!);
  return total > packet.length ? 0 : total;
}

/**
 * Parses numeric IPv4 ("192.0.2.1") or IPv6 ("2001:db8::1", "::ffff:192.0.2.1") text into 4 or
 * 16 bytes; undefined for anything else. A zone suffix ("%eth0") is ignored, because socket
 * addresses of link-local peers carry one. The grammar is src/runtime/ip-address.ts's.
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  const pct = text.indexOf('%');
  return parseIp(pct >= 0 ? text.slice(0, pct) : text)?.bytes;
}
