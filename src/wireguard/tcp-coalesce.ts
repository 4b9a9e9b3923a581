/**
 * TCP receive coalescing for TUN writes (what a NIC's GRO does, and modern wireguard-go does
 * before writing to a TUN opened with IFF_VNET_HDR): in-order TCP segments of one flow
 * decrypted in the same batch are joined into one superpacket written with one virtio_net_hdr
 * (gso_type TCPV4/TCPV6, gso_size = the first segment's payload). The kernel's TCP stack then
 * handles (and acknowledges) one large packet instead of many, as it would after NIC GRO.
 *
 * A segment joins the newest pending packet of its flow only when the kernel's GRO rules would
 * allow it (tcp_gro_receive; tools/testing/selftests/net/gro.c):
 * - IPv4 without options, not a fragment; IPv6 without extension headers;
 * - same addresses, ports, ACK number, TCP header length and option bytes, same ToS/traffic
 *   class, TTL/hop limit and (IPv4) DF bit;
 * - flags exactly ACK, or ACK|PSH (PSH ends the superpacket); at least one payload byte;
 * - its sequence number follows the pending packet's last byte, its payload is no larger than
 *   gso_size, and nothing follows a shorter segment; the result stays a valid IP packet (64 KiB)
 *   of at most MAX_COALESCED_SEGMENTS segments.
 *
 * A superpacket goes out with VIRTIO_NET_HDR_F_NEEDS_CSUM (CHECKSUM_PARTIAL in the skb): the TCP
 * checksum field holds only the pseudo-header sum over the whole TCP length, and the IPv4
 * header checksum is recomputed. Segment checksums are not verified first: every byte was
 * authenticated by WireGuard's AEAD, which is why the kernel's own WireGuard marks decrypted
 * packets CHECKSUM_UNNECESSARY. Packets that do not coalesce are written as they are, with an
 * all-zero header (the kernel checks their checksums as before).
 *
 * Packets are copied into slot buffers (each 10 + 64 KiB, made on first use), so the caller's
 * buffer can be reused at once; `flush` hands the frames out in arrival order of each slot's
 * first packet. As in wireguard-go, a packet that cannot coalesce (a pure ACK, a FIN) does not
 * stop later segments of its flow from joining an earlier superpacket.
 */
import { foldSum, pseudoHeaderAddressSum, IPPROTO_TCP, finishChecksum, sumWords } from './inet-checksum.js';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_BYTES,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  writeVirtioNetHdr,
  type VirtioNetHdr,
} from './virtio-net-hdr.js';

/** Pending packets (each possibly a superpacket) before the caller must flush. */
export const MAX_COALESCE_SLOTS = 64;
/** Segments joined into one superpacket at most: a bound on the work per packet (64 full segments fill 64 KiB anyway). */
export const MAX_COALESCED_SEGMENTS = 64;
/** The largest IP packet: IPv4 total length is 16-bit; an IPv6 packet may be 40 bytes more. */
const MAX_PACKET_BYTES = 65_535 + 40;
const MAX_SUPERPACKET_BYTES = 65_535;

const TCP_FLAG_PSH = 0x08;
const TCP_FLAG_ACK = 0x10;
const TCP_FLAGS_OFFSET = 13;
const TCP_SEQ_OFFSET = 4;
const TCP_ACK_OFFSET = 8;
const TCP_MIN_HEADER_BYTES = 20;
const IPV4_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;

interface Slot {
  readonly frame: Uint8Array;
  /** Bytes used in `frame`, header included. */
  len: number;
  /** 0: written as it is; 4 or 6: a TCP segment others may join. */
  version: 0 | 4 | 6;
  ipHeaderBytes: number;
  tcpHeaderBytes: number;
  gsoSize: number;
  nextSeq: number;
  segments: number;
  /** PSH seen, or a short segment appended: nothing more may follow. */
  closed: boolean;
}

const ZERO_HDR: VirtioNetHdr = Object.freeze({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });

/**
 * Collects packets for one batch of TUN writes.
 * @example
 * const gro = new TcpCoalescer();
 * if (!gro.push(packet)) { gro.flush(write); gro.push(packet); }
 * gro.flush(write); // at the end of the batch: frames with their virtio_net_hdr
 */
export class TcpCoalescer {
  readonly #slots: Slot[] = [];
  #used = 0;
  readonly #hdr: VirtioNetHdr = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
  /** Superpackets written, and the segments they carried. */
  superpackets = 0n;
  coalescedSegments = 0n;

  /** Packets waiting for `flush`. */
  get pending(): number {
    return this.#used;
  }

  /**
   * Takes a copy of one IP packet; false when every slot is taken (flush, then push again) or
   * the packet is longer than an IP packet can be.
   */
  push(packet: Uint8Array): boolean {
    if (packet.length > MAX_PACKET_BYTES) return false;
    const v = segmentVersion(packet);
    if (v !== 0 && this.#join(packet, v)) return true;
    if (this.#used === MAX_COALESCE_SLOTS) return false;
    let slot = this.#slots[this.#used];
    if (slot === undefined) {
      slot = { frame: new Uint8Array(VIRTIO_NET_HDR_BYTES + MAX_PACKET_BYTES), len: 0, version: 0, ipHeaderBytes: 0, tcpHeaderBytes: 0, gsoSize: 0, nextSeq: 0, segments: 0, closed: false };
      this.#slots.push(slot);
    }
    this.#used++;
    slot.frame.set(packet, VIRTIO_NET_HDR_BYTES);
    slot.len = VIRTIO_NET_HDR_BYTES + packet.length;
    slot.version = v;
    slot.segments = 1;
    if (v !== 0) {
      const ip = v === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
      const th = (packet[ip + 12]! >>> 4) * 4;
      slot.ipHeaderBytes = ip;
      slot.tcpHeaderBytes = th;
      slot.gsoSize = packet.length - ip - th;
      slot.nextSeq = (readU32be(packet, ip + TCP_SEQ_OFFSET) + slot.gsoSize) >>> 0;
      slot.closed = (packet[ip + TCP_FLAGS_OFFSET]! & TCP_FLAG_PSH) !== 0;
    }
    return true;
  }

  /**
   * Finishes every pending packet and hands it to `write` (frame = virtio_net_hdr + packet,
   * `packets` = how many segments it carries); then empties.
   */
  flush(write: (frame: Uint8Array, packets: number) => void): void {
    const n = this.#used;
    this.#used = 0;
    for (let i = 0; i < n; i++) {
      const slot = this.#slots[i]!;
      const frame = slot.frame.subarray(0, slot.len);
      if (slot.segments > 1) this.#finishSuperpacket(slot, frame);
      else writeVirtioNetHdr(ZERO_HDR, frame, 0);
      write(frame, slot.segments);
    }
  }

  /** Appends `packet` to the newest pending packet of its flow, if the GRO rules allow. */
  #join(packet: Uint8Array, v: 4 | 6): boolean {
    const ip = v === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
    const th = (packet[ip + 12]! >>> 4) * 4;
    const payload = packet.length - ip - th;
    const seq = readU32be(packet, ip + TCP_SEQ_OFFSET);
    for (let i = this.#used - 1; i >= 0; i--) {
      const s = this.#slots[i]!;
      if (s.version !== v || !sameFlow(packet, s.frame, v, ip, th)) continue;
      // The newest packet of the flow decides: joining an older one would reorder bytes.
      if (s.closed || s.tcpHeaderBytes !== th || seq !== s.nextSeq || payload > s.gsoSize) return false;
      if (s.segments >= MAX_COALESCED_SEGMENTS || s.len - VIRTIO_NET_HDR_BYTES + payload > MAX_SUPERPACKET_BYTES) return false;
      s.frame.set(packet.subarray(ip + th), s.len);
      s.len += payload;
      s.nextSeq = (s.nextSeq + payload) >>> 0;
      s.segments++;
      const psh = packet[ip + TCP_FLAGS_OFFSET]! & TCP_FLAG_PSH;
      if (psh) s.frame[VIRTIO_NET_HDR_BYTES + ip + TCP_FLAGS_OFFSET] = s.frame[VIRTIO_NET_HDR_BYTES + ip + TCP_FLAGS_OFFSET]! | TCP_FLAG_PSH;
      if (psh || payload < s.gsoSize) s.closed = true;
      return true;
    }
    return false;
  }

  #finishSuperpacket(s: Slot, frame: Uint8Array): void {
    const p = frame.subarray(VIRTIO_NET_HDR_BYTES);
    const ip = s.ipHeaderBytes;
    if (s.version === 4) {
      writeU16be(p, 2, p.length);
      writeU16be(p, 10, 0);
      writeU16be(p, 10, finishChecksum(sumWords(p, 0, ip, 0)));
    } else {
      writeU16be(p, 4, p.length - IPV6_HEADER_BYTES);
    }
    // CHECKSUM_PARTIAL: the field carries the folded (not complemented) pseudo-header sum.
    const psum = pseudoHeaderAddressSum(p, s.version === 4 ? 12 : 8, s.version === 4 ? 4 : 16) + (p.length - ip);
    writeU16be(p, ip + TCP_CSUM_OFFSET, foldSum(psum));
    const h = this.#hdr;
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gsoType = s.version === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    h.hdrLen = ip + s.tcpHeaderBytes;
    h.gsoSize = s.gsoSize;
    h.csumStart = ip;
    h.csumOffset = TCP_CSUM_OFFSET;
    writeVirtioNetHdr(h, frame, 0);
    this.superpackets++;
    this.coalescedSegments += BigInt(s.segments);
  }
}

/**
 * 4 or 6 when `packet` is a TCP segment that may coalesce (see the module comment), else 0.
 * Every field read is inside `packet`.
 */
export function segmentVersion(packet: Uint8Array): 0 | 4 | 6 {
  const len = packet.length;
  if (len < IPV4_HEADER_BYTES + TCP_MIN_HEADER_BYTES) return 0;
  const b0 = packet[0]!;
  let ip: number;
  let v: 4 | 6;
  if (b0 === 0x45) {
    // No options; total length exact; MF clear and fragment offset 0.
    if (packet[9] !== IPPROTO_TCP || ((packet[2]! << 8) | packet[3]!) !== len || (packet[6]! & 0x3f) !== 0 || packet[7] !== 0) return 0;
    ip = IPV4_HEADER_BYTES;
    v = 4;
  } else if (b0 >>> 4 === 6) {
    if (len < IPV6_HEADER_BYTES + TCP_MIN_HEADER_BYTES || packet[6] !== IPPROTO_TCP || ((packet[4]! << 8) | packet[5]!) + IPV6_HEADER_BYTES !== len) return 0;
    ip = IPV6_HEADER_BYTES;
    v = 6;
  } else {
    return 0;
  }
  const th = (packet[ip + 12]! >>> 4) * 4;
  if (th < TCP_MIN_HEADER_BYTES || ip + th >= len) return 0;
  const flags = packet[ip + TCP_FLAGS_OFFSET]!;
  if (flags !== TCP_FLAG_ACK && flags !== (TCP_FLAG_ACK | TCP_FLAG_PSH)) return 0;
  return v;
}

/** Same flow and same per-packet header fields that must match for GRO (module comment). */
function sameFlow(packet: Uint8Array, frame: Uint8Array, v: 4 | 6, ip: number, th: number): boolean {
  const o = VIRTIO_NET_HDR_BYTES;
  if (v === 4) {
    // ToS (1), DF and reserved bits (6, top 3 bits), TTL (8), addresses (12..20).
    if (packet[1] !== frame[o + 1] || packet[6]! >>> 5 !== frame[o + 6]! >>> 5 || packet[8] !== frame[o + 8]) return false;
    if (!equalRange(packet, frame, 12, 20)) return false;
  } else {
    // Version + traffic class (0, high nibble of 1), hop limit (7), addresses (8..40).
    if (packet[0] !== frame[o] || packet[1]! >>> 4 !== frame[o + 1]! >>> 4 || packet[7] !== frame[o + 7]) return false;
    if (!equalRange(packet, frame, 8, 40)) return false;
  }
  // Ports (0..4) and ACK number (8..12); then data offset and options must match byte for byte.
  return (
    equalRange(packet, frame, ip, ip + 4) &&
    equalRange(packet, frame, ip + TCP_ACK_OFFSET, ip + TCP_ACK_OFFSET + 4) &&
    packet[ip + 12]! >>> 4 === frame[o + ip + 12]! >>> 4 &&
    equalRange(packet, frame, ip + TCP_MIN_HEADER_BYTES, ip + th)
  );
}

/** packet[from, to) equals the slot packet's bytes at the same offsets (after the frame header). */
function equalRange(packet: Uint8Array, frame: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (packet[i] !== frame[VIRTIO_NET_HDR_BYTES + i]) return false;
  return true;
}

function readU32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU16be(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
