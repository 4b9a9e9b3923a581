/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of
 * the data taken as big-endian 16-bit words, an odd last byte padded with a zero byte. Used by
 * the TUN offload code (gso-split.ts, tcp-coalesce.ts) for IPv4 headers (RFC 791) and TCP
 * segments with their pseudo-header (RFC 9293 §3.1; RFC 8200 §8.1 for IPv6).
 *
 * Sums are carried unfolded in a plain number: each 16-bit word adds at most 0xffff, so a
 * 64 KiB packet stays far below 2^53 and one fold at the end is exact (2^16 ≡ 1 mod 0xffff).
 */

/** The IANA protocol number of TCP, as it appears in the pseudo-header. */
export const IPPROTO_TCP = 6;

/**
 * Adds bytes [start, end) of `bytes` to the running sum `initial` (unfolded). The caller keeps
 * start and end inside `bytes`; an odd-length range is padded with one zero byte.
 */
export function sumWords(bytes: Uint8Array, start: number, end: number, initial: number): number {
  let s = initial;
  let i = start;
  // Four words per turn: the loop is the hot path of segment splitting.
  const end8 = start + ((end - start) & ~7);
  for (; i < end8; i += 8) {
    s += ((bytes[i]! << 8) | bytes[i + 1]!) + ((bytes[i + 2]! << 8) | bytes[i + 3]!) + ((bytes[i + 4]! << 8) | bytes[i + 5]!) + ((bytes[i + 6]! << 8) | bytes[i + 7]!);
  }
  for (; i + 1 < end; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) s += bytes[i]! << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits (end-around carry). */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for data whose unfolded sum (checksum field zeroed) is `sum`. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * The unfolded sum of a TCP pseudo-header without its length: source and destination address
 * (4 bytes each for IPv4, 16 for IPv6, adjacent in both headers at `addrOffset`) and the
 * protocol number. Add the TCP length (header + payload) to finish it; the IPv4 (RFC 9293
 * §3.1) and IPv6 (RFC 8200 §8.1) layouts sum to the same value.
 */
export function pseudoHeaderAddressSum(packet: Uint8Array, addrOffset: number, addrBytes: 4 | 16): number {
  return sumWords(packet, addrOffset, addrOffset + 2 * addrBytes, IPPROTO_TCP);
}
