/**
 * The few RR types and RDATA encoders that local answers need (RFC 1035 §3.3, §3.4; RFC 3596).
 * Names are encoded uncompressed: the message encoder may compress them later, and these
 * bytes also serve as cache values. Encoders validate first (dns.md §4: never trust an
 * encoder to reject a 64-octet label) and return undefined for what cannot be encoded.
 */
import { parseIpv4, parseIpv6 } from '../runtime/ip-address.js';

/** RR TYPE codes (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 8482 for ANY). */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  HTTPS: 65,
  ANY: 255,
} as const;
export type RrTypeName = keyof typeof RR_TYPE;

/** Response codes (RFC 1035 §4.1.1). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

/** RFC 1035 §2.3.4: a label is at most 63 octets, a wire-format name at most 255 octets. */
export const MAX_LABEL_OCTETS = 63;
export const MAX_NAME_OCTETS = 255;
/** RFC 1035 §3.3: a <character-string> is a length octet then at most 255 octets. */
export const MAX_CHARACTER_STRING_OCTETS = 255;
/** RDLENGTH is 16 bits. */
export const MAX_RDATA_OCTETS = 65535;

/** A RDATA: the IPv4 address, 4 octets in network order. */
export function encodeA(address: string): Uint8Array | undefined {
  return parseIpv4(address);
}

/** AAAA RDATA (RFC 3596 §2.2): the IPv6 address, 16 octets in network order. */
export function encodeAaaa(address: string): Uint8Array | undefined {
  return address.includes(':') ? parseIpv6(address) : undefined;
}

/**
 * A domain name in uncompressed wire form: each label as length octet + octets, then a zero
 * octet. `name` is dotted text without escapes, no trailing dot ("" is the root).
 * Layout: [len][label bytes]…[0x00], total ≤ 255 octets. This is also the whole RDATA of CNAME
 * (RFC 1035 §3.3.1) and PTR (§3.3.12).
 */
export function encodeName(name: string): Uint8Array | undefined {
  if (name === '') return new Uint8Array([0]);
  const labels = name.split('.');
  const total = labels.reduce((n, l) => n + 1 + l.length, 1);
  if (total > MAX_NAME_OCTETS) return undefined;
  const out = new Uint8Array(total);
  let o = 0;
  for (const l of labels) {
    if (l.length === 0 || l.length > MAX_LABEL_OCTETS) return undefined;
    out[o++] = l.length;
    for (let i = 0; i < l.length; i++) {
      const c = l.charCodeAt(i);
      // Printable ASCII except '.' (label separator) and space; no escapes are accepted here.
      if (c <= 0x20 || c >= 0x7f || c === 0x2e) return undefined;
      out[o++] = c;
    }
  }
  out[o] = 0;
  return out;
}

/**
 * TXT RDATA (RFC 1035 §3.3.14): one or more <character-string>s, each [len][≤255 octets].
 * Each input string is UTF-8 encoded; one longer than 255 octets is split into several
 * character-strings (how long DKIM keys are published).
 */
export function encodeTxt(strings: readonly string[]): Uint8Array | undefined {
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const s of strings) {
    const b = enc.encode(s);
    if (b.length === 0) chunks.push(b);
    for (let i = 0; i < b.length; i += MAX_CHARACTER_STRING_OCTETS) chunks.push(b.subarray(i, i + MAX_CHARACTER_STRING_OCTETS));
  }
  if (chunks.length === 0) return undefined;
  const total = chunks.reduce((n, c) => n + 1 + c.length, 0);
  if (total > MAX_RDATA_OCTETS) return undefined;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out[o++] = c.length;
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa` (RFC 1035 §3.5) or the
 * nibble form under `ip6.arpa` (RFC 3596 §2.5).
 */
export function reverseName(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[3]}.${bytes[2]}.${bytes[1]}.${bytes[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i]!;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
