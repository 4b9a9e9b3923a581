/**
 * TAI64N timestamps carried (encrypted) in handshake initiations (whitepaper §5.1, §5.4.2;
 * docs/wireguard.md §1.4; wg-go tai64n/tai64n.go). A responder accepts an initiation only if its
 * timestamp is strictly greater than the greatest one it accepted from that peer, which stops
 * replayed initiations.
 *
 * Layout (12 bytes): seconds (u64 BE) = 2^62 + 10 + Unix seconds ‖ nanoseconds (u32 BE).
 * The nanoseconds are rounded down to a multiple of 2^24 ns (≈16.8 ms) so the timestamp does not
 * leak a precise clock (wg-go whitenerMask, kernel tai64n_now). The wall clock is passed in.
 */
import { TAI64N_BYTES } from './constants.js';

/** TAI64 label of the Unix epoch: 2^62 + 10 (TAI was 10 s ahead of UTC in 1970; wg-go `base`). */
export const TAI64_BASE_SECONDS = 0x400000000000000an;
/** Low bits of the nanoseconds that are cleared (wg-go whitenerMask = 0x1000000 − 1). */
export const TAI64N_WHITENER_MASK = 0xffffff;

/**
 * Encodes wall-clock time as a whitened TAI64N timestamp.
 * @param nowWallMs milliseconds since the Unix epoch (Clock.wallTimeMs())
 * @param out a 12-byte output buffer (a new one when omitted)
 */
export function tai64nEncode(nowWallMs: number, out: Uint8Array = new Uint8Array(TAI64N_BYTES)): Uint8Array {
  const ms = Math.floor(nowWallMs);
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  const v = new DataView(out.buffer, out.byteOffset, TAI64N_BYTES);
  v.setBigUint64(0, TAI64_BASE_SECONDS + BigInt(seconds), false);
  v.setUint32(8, (nanos & ~TAI64N_WHITENER_MASK) >>> 0, false);
  return out;
}

/** Decodes a TAI64N timestamp back to Unix milliseconds (for logs and tests). */
export function tai64nToWallMs(stamp: Uint8Array): number {
  const v = new DataView(stamp.buffer, stamp.byteOffset, TAI64N_BYTES);
  const seconds = v.getBigUint64(0, false) - TAI64_BASE_SECONDS;
  return Number(seconds) * 1000 + Math.floor(v.getUint32(8, false) / 1_000_000);
}

/**
 * True when `a` is strictly later than `b`. Both fields are big-endian, so this is a bytewise
 * comparison (wg-go Timestamp.After).
 */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_BYTES; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}
