/**
 * struct virtio_net_hdr (Linux include/uapi/linux/virtio_net.h; virtio spec 1.x §5.1.6): the
 * 10-byte header a TUN device opened with IFF_VNET_HDR puts before every packet it hands up
 * and expects before every packet written to it. It carries segmentation and checksum offload
 * state, so one read or write can move a TCP "superpacket" of up to 64 KiB.
 *
 *   byte 0     u8  flags        VIRTIO_NET_HDR_F_NEEDS_CSUM (1): checksum from csum_start is partial
 *   byte 1     u8  gso_type     NONE 0 | TCPV4 1 | UDP 3 | TCPV6 4 | UDP_L4 5, ECN bit 0x80
 *   bytes 2-3  u16 hdr_len      bytes of IP + transport headers (a hint: not trusted on read)
 *   bytes 4-5  u16 gso_size     payload bytes per segment
 *   bytes 6-7  u16 csum_start   where checksumming starts (the transport header)
 *   bytes 8-9  u16 csum_offset  where, from csum_start, the checksum field is (16 for TCP)
 *
 * The u16 fields are in the device's byte order, little-endian on the x86-64 and aarch64 hosts
 * tsplane runs on (the kernel's default for TUN unless TUNSETVNETBE is used, which we never do).
 */

export const VIRTIO_NET_HDR_BYTES = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 0x01;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;
/** The TCP checksum field's offset in the TCP header (RFC 9293 §3.1), i.e. csum_offset for TCP. */
export const TCP_CSUM_OFFSET = 16;

/** A decoded header. Mutable so a reader can reuse one object per packet. */
export interface VirtioNetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** A header with every field zero: "a plain packet, checksum complete". */
export function emptyVirtioNetHdr(): VirtioNetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Decodes the header at the start of `frame` into `into`; false when `frame` is shorter than 10 bytes. */
export function readVirtioNetHdr(frame: Uint8Array, into: VirtioNetHdr): boolean {
  if (frame.length < VIRTIO_NET_HDR_BYTES) return false;
  into.flags = frame[0]!;
  into.gsoType = frame[1]!;
  into.hdrLen = frame[2]! | (frame[3]! << 8);
  into.gsoSize = frame[4]! | (frame[5]! << 8);
  into.csumStart = frame[6]! | (frame[7]! << 8);
  into.csumOffset = frame[8]! | (frame[9]! << 8);
  return true;
}

/** Encodes `hdr` into bytes [at, at + 10) of `out` (the caller checks the room). */
export function writeVirtioNetHdr(hdr: VirtioNetHdr, out: Uint8Array, at = 0): void {
  out[at] = hdr.flags;
  out[at + 1] = hdr.gsoType;
  writeU16le(out, at + 2, hdr.hdrLen);
  writeU16le(out, at + 4, hdr.gsoSize);
  writeU16le(out, at + 6, hdr.csumStart);
  writeU16le(out, at + 8, hdr.csumOffset);
}

function writeU16le(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
}
