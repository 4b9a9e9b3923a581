/**
 * A deliberately plain Internet checksum (RFC 1071) and TCP segment builder for the offload
 * tests: one 16-bit word at a time, carry folded after every addition, pseudo-header built as
 * real bytes (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6). Shares no code with src/.
 */

/** One's complement sum of big-endian words, folded after every step. */
export function referenceSum(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const word = (bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    s += word;
    if (s > 0xffff) s = (s & 0xffff) + 1;
  }
  return s;
}

/** The pseudo-header bytes followed by the TCP segment. */
export function withPseudoHeader(packet: Uint8Array): Uint8Array {
  const v4 = packet[0]! >>> 4 === 4;
  const ipLen = v4 ? (packet[0]! & 0x0f) * 4 : 40;
  const tcp = packet.subarray(ipLen);
  const pseudo = v4 ? new Uint8Array(12) : new Uint8Array(40);
  if (v4) {
    pseudo.set(packet.subarray(12, 20), 0);
    pseudo[9] = 6;
    pseudo[10] = tcp.length >>> 8;
    pseudo[11] = tcp.length & 0xff;
  } else {
    pseudo.set(packet.subarray(8, 40), 0);
    pseudo[34] = tcp.length >>> 8;
    pseudo[35] = tcp.length & 0xff;
    pseudo[39] = 6;
  }
  const all = new Uint8Array(pseudo.length + tcp.length);
  all.set(pseudo);
  all.set(tcp, pseudo.length);
  return all;
}

/** True when the IPv4 header checksum verifies (sum over the header is all ones). */
export function ipv4HeaderChecksumOk(packet: Uint8Array): boolean {
  return referenceSum(packet.subarray(0, (packet[0]! & 0x0f) * 4)) === 0xffff;
}

/** True when the TCP checksum verifies over pseudo-header + segment. */
export function tcpChecksumOk(packet: Uint8Array): boolean {
  return referenceSum(withPseudoHeader(packet)) === 0xffff;
}

export interface TcpSegmentSpec {
  readonly version: 4 | 6;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  /** TCP option bytes (a multiple of 4, at most 40). */
  readonly options: Uint8Array;
  readonly payload: Uint8Array;
  readonly ipId?: number;
  readonly ttl?: number;
}

/** A complete IPv4 (no options, DF) or IPv6 TCP packet with valid checksums. */
export function buildTcpPacket(s: TcpSegmentSpec): Uint8Array {
  const ipLen = s.version === 4 ? 20 : 40;
  const thLen = 20 + s.options.length;
  const p = new Uint8Array(ipLen + thLen + s.payload.length);
  const v = new DataView(p.buffer);
  if (s.version === 4) {
    p[0] = 0x45;
    v.setUint16(2, p.length);
    v.setUint16(4, s.ipId ?? 0);
    p[6] = 0x40;
    p[8] = s.ttl ?? 64;
    p[9] = 6;
    p.set(s.src, 12);
    p.set(s.dst, 16);
  } else {
    p[0] = 0x60;
    v.setUint16(4, p.length - 40);
    p[6] = 6;
    p[7] = s.ttl ?? 64;
    p.set(s.src, 8);
    p.set(s.dst, 24);
  }
  v.setUint16(ipLen, s.srcPort);
  v.setUint16(ipLen + 2, s.dstPort);
  v.setUint32(ipLen + 4, s.seq >>> 0);
  v.setUint32(ipLen + 8, s.ack >>> 0);
  p[ipLen + 12] = (thLen / 4) << 4;
  p[ipLen + 13] = s.flags;
  v.setUint16(ipLen + 14, s.window);
  p.set(s.options, ipLen + 20);
  p.set(s.payload, ipLen + thLen);
  if (s.version === 4) v.setUint16(10, ~referenceSum(p.subarray(0, 20)) & 0xffff);
  v.setUint16(ipLen + 16, ~referenceSum(withPseudoHeader(p)) & 0xffff);
  return p;
}
