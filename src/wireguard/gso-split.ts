/**
 * Segmentation of TCP "superpackets" read from a TUN device with offloads on (TUNSETOFFLOAD
 * TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): what a NIC does for TSO, done here so the WireGuard
 * core still sees ordinary MTU-sized IP packets.
 *
 * Each frame from the TUN is a virtio_net_hdr (virtio-net-hdr.ts) and one IP packet:
 * - gso_type NONE: an ordinary packet. With VIRTIO_NET_HDR_F_NEEDS_CSUM its transport checksum
 *   is partial: the field at csum_start + csum_offset holds the pseudo-header sum, and the sum
 *   over [csum_start, end) must be completed before the packet leaves the host.
 * - gso_type TCPV4 / TCPV6: one IP header and one TCP header followed by up to 64 KiB of
 *   payload, to be cut into gso_size pieces. Every segment gets a copy of the headers with
 *   (RFC 791) IPv4 total length, identification (+1 per segment, as the kernel's GSO does) and
 *   header checksum, or (RFC 8200) IPv6 payload length; (RFC 9293) sequence number advanced by
 *   gso_size per segment, FIN and PSH only on the last, CWR only on the first (RFC 3168 §6.1.2,
 *   as Linux TSO), and a full TCP checksum over the pseudo-header and the segment.
 *
 * hdr_len from the kernel is only a hint (it can be the whole first packet on forwarded traffic),
 * so the header length comes from csum_start (the IP header) plus the TCP data offset. Every
 * field is checked before the first segment is handed out: a frame gives all its segments or
 * a typed drop, never an exception. Segments are views of one reused buffer, valid only during
 * the callback; the frame itself may be modified in place.
 */
import { finishChecksum, pseudoHeaderAddressSum, sumWords, IPPROTO_TCP } from './inet-checksum.js';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_BYTES,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  emptyVirtioNetHdr,
  readVirtioNetHdr,
} from './virtio-net-hdr.js';

/** The largest IP packet a segment may be (the IPv4 total length and IPv6 payload length are 16-bit). */
export const MAX_SEGMENT_BYTES = 65_535;
/**
 * Segments one superpacket may be cut into. 64 KiB at Linux's smallest send MSS (tcp_min_snd_mss,
 * 48 bytes) is about 1366 segments; a frame claiming more (gso_size 1, say) is dropped unread.
 */
export const MAX_GSO_SEGMENTS = 2048;

/** TCP header (RFC 9293 §3.1): seq at 4, data offset nibble at 12, flags at 13, checksum at 16. */
const TCP_SEQ_OFFSET = 4;
const TCP_DATA_OFFSET_OFFSET = 12;
const TCP_FLAGS_OFFSET = 13;
const TCP_MIN_HEADER_BYTES = 20;
const TCP_FLAG_FIN = 0x01;
const TCP_FLAG_PSH = 0x08;
const TCP_FLAG_CWR = 0x80;
/** IPv4 header (RFC 791): total length at 2, identification at 4, protocol at 9, checksum at 10, addresses at 12. */
const IPV4_MIN_HEADER_BYTES = 20;
const IPV4_PROTOCOL_OFFSET = 9;
const IPV4_CSUM_OFFSET = 10;
const IPV4_ADDR_OFFSET = 12;
/** IPv6 header (RFC 8200): payload length at 4, next header at 6, addresses at 8; 40 bytes. */
const IPV6_HEADER_BYTES = 40;
const IPV6_NEXT_HEADER_OFFSET = 6;
const IPV6_ADDR_OFFSET = 8;

/** Why a frame read from the TUN was not turned into packets. */
export type GsoDropReason =
  /** Shorter than the 10-byte virtio_net_hdr. */
  | 'short-frame'
  /** NEEDS_CSUM with csum_start/csum_offset outside the packet. */
  | 'bad-csum-offsets'
  /** A gso_type we never enabled (UDP, UDP_L4, the ECN bit). */
  | 'unsupported-gso-type'
  /** The IP header does not match gso_type / csum_start, or is not TCP. */
  | 'bad-gso-ip-header'
  /** The TCP header is cut short, has a bad data offset, or csum_offset is not 16. */
  | 'bad-gso-tcp-header'
  | 'gso-size-zero'
  /** More than MAX_GSO_SEGMENTS segments, or segments larger than an IP packet can be. */
  | 'too-many-segments';

/** The result of `split`: how many packets went to the callback, or why none did. */
export type GsoSplitResult = { readonly type: 'packets'; readonly count: number } | { readonly type: 'drop'; readonly reason: GsoDropReason };

const DROPS = new Map<GsoDropReason, GsoSplitResult>();
function drop(reason: GsoDropReason): GsoSplitResult {
  let d = DROPS.get(reason);
  if (d === undefined) DROPS.set(reason, (d = Object.freeze({ type: 'drop', reason })));
  return d;
}
const ONE: GsoSplitResult = Object.freeze({ type: 'packets', count: 1 });

/**
 * Turns TUN frames (virtio_net_hdr + packet) into IP packets. One instance per TUN reader: it
 * owns the segment buffer.
 * @example
 * const splitter = new GsoSplitter();
 * const r = splitter.split(frame, (packet) => device.sendFromTun(packet, now, out));
 * if (r.type === 'drop') count(r.reason);
 */
export class GsoSplitter {
  readonly #hdr = emptyVirtioNetHdr();
  readonly #segment = new Uint8Array(MAX_SEGMENT_BYTES);
  /** Frames that carried a superpacket (gso_type TCPV4/TCPV6), and the segments cut from them. */
  superpackets = 0n;
  segments = 0n;

  /**
   * Hands every IP packet in `frame` to `onPacket` (a view valid only during the call) and
   * returns how many, or a drop with nothing handed out. May rewrite checksum bytes in `frame`.
   */
  split(frame: Uint8Array, onPacket: (packet: Uint8Array) => void): GsoSplitResult {
    const hdr = this.#hdr;
    if (!readVirtioNetHdr(frame, hdr)) return drop('short-frame');
    const packet = frame.subarray(VIRTIO_NET_HDR_BYTES);
    const len = packet.length;
    if (hdr.gsoType === VIRTIO_NET_HDR_GSO_NONE) {
      if (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        const at = hdr.csumStart + hdr.csumOffset;
        if (hdr.csumStart >= len || at + 2 > len) return drop('bad-csum-offsets');
        completeChecksum(packet, hdr.csumStart, at);
      }
      onPacket(packet);
      return ONE;
    }
    let addrBytes: 4 | 16;
    let addrOffset: number;
    if (hdr.gsoType === VIRTIO_NET_HDR_GSO_TCPV4) {
      if (len < IPV4_MIN_HEADER_BYTES || packet[0]! >>> 4 !== 4) return drop('bad-gso-ip-header');
      if ((packet[0]! & 0x0f) * 4 !== hdr.csumStart || packet[IPV4_PROTOCOL_OFFSET] !== IPPROTO_TCP) return drop('bad-gso-ip-header');
      addrBytes = 4;
      addrOffset = IPV4_ADDR_OFFSET;
    } else if (hdr.gsoType === VIRTIO_NET_HDR_GSO_TCPV6) {
      if (len < IPV6_HEADER_BYTES || packet[0]! >>> 4 !== 6) return drop('bad-gso-ip-header');
      if (hdr.csumStart !== IPV6_HEADER_BYTES || packet[IPV6_NEXT_HEADER_OFFSET] !== IPPROTO_TCP) return drop('bad-gso-ip-header');
      addrBytes = 16;
      addrOffset = IPV6_ADDR_OFFSET;
    } else {
      return drop('unsupported-gso-type');
    }
    const tcpAt = hdr.csumStart;
    if (hdr.csumOffset !== TCP_CSUM_OFFSET || tcpAt + TCP_MIN_HEADER_BYTES > len) return drop('bad-gso-tcp-header');
    const tcpHeaderBytes = (packet[tcpAt + TCP_DATA_OFFSET_OFFSET]! >>> 4) * 4;
    const hdrLen = tcpAt + tcpHeaderBytes;
    if (tcpHeaderBytes < TCP_MIN_HEADER_BYTES || hdrLen > len) return drop('bad-gso-tcp-header');
    const gsoSize = hdr.gsoSize;
    if (gsoSize === 0) return drop('gso-size-zero');
    const payload = len - hdrLen;
    const count = Math.max(1, Math.ceil(payload / gsoSize));
    if (count > MAX_GSO_SEGMENTS || hdrLen + Math.min(gsoSize, payload) > MAX_SEGMENT_BYTES) return drop('too-many-segments');

    const seg = this.#segment;
    const v4 = addrBytes === 4;
    const addrSum = pseudoHeaderAddressSum(packet, addrOffset, addrBytes);
    const id0 = v4 ? (packet[4]! << 8) | packet[5]! : 0;
    const seq0 = readU32be(packet, tcpAt + TCP_SEQ_OFFSET);
    const flags0 = packet[tcpAt + TCP_FLAGS_OFFSET]!;
    const headers = packet.subarray(0, hdrLen);
    for (let i = 0; i < count; i++) {
      const dataAt = hdrLen + i * gsoSize;
      const end = Math.min(dataAt + gsoSize, len);
      const total = hdrLen + (end - dataAt);
      seg.set(headers, 0);
      seg.set(packet.subarray(dataAt, end), hdrLen);
      if (v4) {
        writeU16be(seg, 2, total);
        writeU16be(seg, 4, (id0 + i) & 0xffff);
        writeU16be(seg, IPV4_CSUM_OFFSET, 0);
        writeU16be(seg, IPV4_CSUM_OFFSET, finishChecksum(sumWords(seg, 0, tcpAt, 0)));
      } else {
        writeU16be(seg, 4, total - IPV6_HEADER_BYTES);
      }
      writeU32be(seg, tcpAt + TCP_SEQ_OFFSET, (seq0 + i * gsoSize) >>> 0);
      let flags = flags0;
      if (i !== count - 1) flags &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
      if (i !== 0) flags &= ~TCP_FLAG_CWR;
      seg[tcpAt + TCP_FLAGS_OFFSET] = flags;
      const csumAt = tcpAt + TCP_CSUM_OFFSET;
      writeU16be(seg, csumAt, 0);
      writeU16be(seg, csumAt, finishChecksum(sumWords(seg, tcpAt, total, addrSum + (total - tcpAt))));
      onPacket(seg.subarray(0, total));
    }
    this.superpackets++;
    this.segments += BigInt(count);
    return { type: 'packets', count };
  }
}

/**
 * Completes a partial checksum in place: the field holds the pseudo-header sum (CHECKSUM_PARTIAL).
 * A result of 0 goes out as 0xffff, as the kernel's skb_checksum_help does: for UDP (RFC 768) 0
 * would mean "no checksum", and for TCP the two are the same one's complement value.
 */
function completeChecksum(packet: Uint8Array, start: number, fieldAt: number): void {
  const partial = (packet[fieldAt]! << 8) | packet[fieldAt + 1]!;
  writeU16be(packet, fieldAt, 0);
  writeU16be(packet, fieldAt, finishChecksum(sumWords(packet, start, packet.length, partial)) || 0xffff);
}

function readU32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU16be(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function writeU32be(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
