/**
 * Just enough of IPv4 (RFC 791) and IPv6 (RFC 8200) headers for cryptokey routing: the version
 * nibble, the length the header claims, and where the source and destination addresses sit.
 * Every read is bounded by the packet length; nothing here throws.
 *
 *   IPv4: byte 0 = version(4 bits) ‖ IHL; bytes 2..4 total length (BE); src 12..16; dst 16..20
 *   IPv6: byte 0 = version(4 bits) ‖ ...; bytes 4..6 payload length (BE); src 8..24; dst 24..40
 */

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
 * 16 bytes; undefined for anything else (a zone suffix "%eth0" is ignored).
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (text.length > 64) return undefined;
  const pct = text.indexOf('%');
  if (pct >= 0) text = text.slice(0, pct);
  if (!text.includes(':')) return parseIpv4(text);
  const out = new Uint8Array(16);
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
    if (tail.includes('::')) return undefined;
  }
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    const words: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 === undefined) return undefined;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        words.push(parseInt(p, 16));
      }
    }
    return words;
  };
  const h = groups(head);
  const t = groups(tail);
  if (h === undefined || t === undefined) return undefined;
  if (dbl >= 0 ? h.length + t.length > 7 : h.length !== 8) return undefined;
  const words = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  words.forEach((w, i) => {
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}
