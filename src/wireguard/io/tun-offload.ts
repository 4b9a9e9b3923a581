/**
 * TUN offload settings (tun.ts): the ioctls that turn them on, the modes a user can choose
 * (TSPLANE_TUN_OFFLOAD) and the counters the device keeps. Linux include/uapi/linux/if_tun.h.
 */
import { sysIoctl, sysIoctlValue } from './libc.js';
import type { GsoDropReason } from '../gso-split.js';
import { VIRTIO_NET_HDR_BYTES } from '../virtio-net-hdr.js';

/** TUNSETIFF flag: every read and write starts with a struct virtio_net_hdr (virtio-net-hdr.ts). */
export const IFF_VNET_HDR = 0x4000;
/** _IOW('T', 216, int): the virtio_net_hdr size, through a pointer to an int (10 here). */
const TUNSETVNETHDRSZ = 0x400454d8;
/** _IOW('T', 208, unsigned int): offload flags, passed by value. */
const TUNSETOFFLOAD = 0x400454d0;
/** TUNSETOFFLOAD flags: we complete checksums (CSUM) and segment TCP over IPv4/IPv6 (TSO4/6). */
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;

/**
 * 'tso+gro': superpackets both ways (the default). 'tso': superpackets read and split, packets
 * written one by one. 'off': the plain IFF_TUN path, one packet per read and write.
 */
export type TunOffload = 'off' | 'tso' | 'tso+gro';

/** Parses TSPLANE_TUN_OFFLOAD (`off`/`0`, `tso`, `on`/`1`/unset = tso+gro); undefined for other text. */
export function parseTunOffload(text: string | undefined): TunOffload | undefined {
  switch ((text ?? '').trim().toLowerCase()) {
    case '':
    case 'on':
    case '1':
    case 'tso+gro':
      return 'tso+gro';
    case 'tso':
      return 'tso';
    case 'off':
    case '0':
      return 'off';
    default:
      return undefined;
  }
}

/** Offload counters (bigint: they only grow). */
export interface TunOffloadStats {
  /** What the device runs with (after any fallback). */
  readonly mode: TunOffload;
  /** Superpackets read and split, and the packets cut from them. */
  readonly superpacketsRead: bigint;
  readonly segmentsSplit: bigint;
  /** Superpackets written, and the packets joined into them. */
  readonly superpacketsWritten: bigint;
  readonly segmentsCoalesced: bigint;
  /** Frames read that could not be split, by reason. */
  readonly drops: ReadonlyMap<GsoDropReason, bigint>;
}

/**
 * TUNSETVNETHDRSZ(10) and TUNSETOFFLOAD(CSUM | TSO4 | TSO6) on a TUN fd attached with
 * IFF_VNET_HDR; false when the kernel refuses either.
 */
export function enableTunOffload(fd: number): boolean {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setInt32(0, VIRTIO_NET_HDR_BYTES, true);
  if (sysIoctl(fd, TUNSETVNETHDRSZ, size) < 0) return false;
  return sysIoctlValue(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) >= 0;
}
