/**
 * Linux TUN edge: a layer-3 device (IFF_TUN | IFF_NO_PI, so every read or write is exactly one
 * IP packet) driven without pinning Node's threadpool (wireguard.md §6.3).
 *
 * libuv treats the TUN character device as a file: no socket-style readiness. A blocking
 * `fs.read` pins a threadpool thread per read and hangs process exit. Instead the fd is
 * non-blocking and a koffi `poll()` runs on a worker thread with a bounded timeout; when it
 * reports readability the main thread drains up to a batch of packets with non-blocking
 * `read()`. An eventfd in the same poll set wakes the worker on close, so closing never waits
 * for the timeout and never races the fd number.
 *
 * Deletion (`ip link del`, as `wg-quick down` does) shows up as POLLERR and EBADFD/ENODEV/EIO
 * from read: the device reports `gone` once and stops.
 *
 * Offloads (on by default; `offload: 'off'` or TSPLANE_TUN_OFFLOAD=off turns them off): the fd
 * is opened with IFF_VNET_HDR, so every read and write carries a 10-byte virtio_net_hdr, and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) lets the kernel hand up TCP superpackets
 * of up to 64 KiB with one read (cut into MTU-sized packets by gso-split.ts) and take them back
 * with one write (joined by tcp-coalesce.ts, 'tso+gro' mode): far fewer syscalls and far fewer
 * trips through the kernel's TCP/IP stack per byte, as in wireguard-go since 2023. Where the
 * kernel refuses (no IFF_VNET_HDR or TUNSETOFFLOAD), the device is reopened without them and
 * works as before.
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import {
  AF_INET,
  ERRNO,
  POLLERR,
  POLLFD_BYTES,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  errnoName,
  ifNameToIndex,
  pollAsync,
  sysClose,
  sysEventfd,
  sysIoctl,
  sysRead,
  sysSocket,
  sysWrite,
} from './libc.js';
import { TsplaneError } from '../../runtime/errors.js';
import { GsoSplitter, type GsoDropReason } from '../gso-split.js';
import { IFF_VNET_HDR, enableTunOffload, type TunOffload, type TunOffloadStats } from './tun-offload.js';
import { TcpCoalescer } from '../tcp-coalesce.js';
import { VIRTIO_NET_HDR_BYTES } from '../virtio-net-hdr.js';

/** _IOW('T', 202, int): attach this fd to a TUN interface described by a struct ifreq. */
const TUNSETIFF = 0x400454ca;
/** struct ifreq, 40 bytes: char ifr_name[16] at 0, then a union (short ifr_flags / int ifr_mtu) at 16. */
const IFREQ_BYTES = 40;
const IFREQ_NAME_BYTES = 16;
const IFREQ_UNION_OFFSET = 16;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const SIOCGIFMTU = 0x8921;
const SIOCSIFMTU = 0x8922;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;

/** Linux IFNAMSIZ minus the NUL. */
export const MAX_IFNAME_CHARS = 15;
/** WireGuard's default MTU (1500 minus 80 bytes of IPv6+UDP+WireGuard overhead), as wireguard-go sets it. */
export const DEFAULT_MTU = 1420;
/** The largest IP packet (and the largest TUN MTU); the read buffer is this big so nothing truncates. */
const MAX_PACKET_BYTES = 65535;
/** A read with offloads: the virtio_net_hdr, a 64 KiB superpacket (an IPv6 one is 40 bytes more) and slack. */
const MAX_FRAME_BYTES = VIRTIO_NET_HDR_BYTES + MAX_PACKET_BYTES + 4096;
/**
 * Packets drained per readiness wake-up (or per setImmediate continuation) before yielding to
 * other events (UDP, DNS, DERP, UAPI). Each costs ~10 µs through the WireGuard send path, so 32
 * keeps one chunk near 0.3-0.5 ms; 128 made chunks of 1.3-1.7 ms that DNS queries waited
 * behind (issue 6, bench/e2e/shared-loop with its callback probe). GSO batches stay ≥ 32.
 */
export const TUN_READ_BATCH = 32;
/** Upper bound on one worker-side poll: the worker thread is released at least this often. */
const POLL_TIMEOUT_MS = 1000;
/** Consecutive poll() failures tolerated before the device is declared gone. */
const MAX_POLL_ERRORS = 100;

export interface TunCallbacks {
  /** The fd may have packets: call `readBatch`. */
  onReadable(): void;
  /** The interface went away (deleted, or the fd failed); the device is closed. */
  onGone(reason: string): void;
}

/** Valid Linux interface names, as `wg-quick` accepts them. */
export function isValidInterfaceName(name: string): boolean {
  return /^[a-zA-Z0-9_=+.-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

function ifreq(name: string): Uint8Array {
  const req = new Uint8Array(IFREQ_BYTES);
  const bytes = new TextEncoder().encode(name);
  req.set(bytes.subarray(0, IFREQ_NAME_BYTES - 1));
  return req;
}

/** Gets an interface's MTU (SIOCGIFMTU on a throwaway AF_INET socket); -errno on failure. */
export function getInterfaceMtu(name: string): number {
  const s = sysSocket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
  if (s < 0) return s;
  const req = ifreq(name);
  const r = sysIoctl(s, SIOCGIFMTU, req);
  sysClose(s);
  return r < 0 ? r : new DataView(req.buffer).getInt32(IFREQ_UNION_OFFSET, true);
}

/** Sets an interface's MTU (SIOCSIFMTU); 0 or -errno. */
export function setInterfaceMtu(name: string, mtu: number): number {
  const s = sysSocket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
  if (s < 0) return s;
  const req = ifreq(name);
  new DataView(req.buffer).setInt32(IFREQ_UNION_OFFSET, mtu, true);
  const r = sysIoctl(s, SIOCSIFMTU, req);
  sysClose(s);
  return r < 0 ? r : 0;
}

export class TunDevice {
  readonly name: string;
  readonly #fd: number;
  readonly #wakeFd: number;
  readonly #pollFds = new Uint8Array(2 * POLLFD_BYTES);
  readonly #readBuf: Uint8Array;
  readonly #callbacks: TunCallbacks;
  /** The offload mode in force; with anything but 'off' every frame carries a virtio_net_hdr. */
  readonly offload: TunOffload;
  readonly #splitter: GsoSplitter | undefined;
  readonly #coalescer: TcpCoalescer | undefined;
  /** Plain writes with offloads: an all-zero virtio_net_hdr, then the packet. */
  readonly #writeBuf: Uint8Array | undefined;
  readonly #offloadDrops = new Map<GsoDropReason, bigint>();
  #flushScheduled = false;
  readonly #flushNow = (): void => this.flushWrites();
  readonly #writeFrame = (frame: Uint8Array, packets: number): void => {
    this.#writeRaw(frame, packets);
  };
  #polling = false;
  #pollErrors = 0;
  #closing = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];
  /** Packets written that the kernel refused (full queue or oversize), for the runtime's counters. */
  writeErrors = 0n;
  /** Packets the kernel accepted (each segment of a superpacket counts). */
  packetsWritten = 0n;

  private constructor(name: string, fd: number, wakeFd: number, callbacks: TunCallbacks, offload: TunOffload) {
    this.name = name;
    this.#fd = fd;
    this.#wakeFd = wakeFd;
    this.#callbacks = callbacks;
    this.offload = offload;
    this.#readBuf = new Uint8Array(offload === 'off' ? MAX_PACKET_BYTES : MAX_FRAME_BYTES);
    if (offload !== 'off') {
      this.#splitter = new GsoSplitter();
      this.#writeBuf = new Uint8Array(VIRTIO_NET_HDR_BYTES + MAX_PACKET_BYTES + 40);
      if (offload === 'tso+gro') this.#coalescer = new TcpCoalescer();
    }
    const v = new DataView(this.#pollFds.buffer);
    v.setInt32(0, fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(POLLFD_BYTES, wakeFd, true);
    v.setInt16(POLLFD_BYTES + 4, POLLIN, true);
  }

  /**
   * Creates TUN interface `name` in the current network namespace. Throws a coded error with
   * a message a user can act on (not root, no /dev/net/tun, name taken).
   */
  static open(name: string, callbacks: TunCallbacks, opts: { mtu?: number; offload?: TunOffload } = {}): TunDevice {
    if (!isValidInterfaceName(name)) throw new TsplaneError('WG_ERR_IFNAME', `invalid interface name "${name}"`);
    if (ifNameToIndex(name) !== 0) throw new TsplaneError('WG_ERR_IF_EXISTS', `interface ${name} already exists`);
    let mode = opts.offload ?? 'tso+gro';
    let fd = TunDevice.#attach(name, mode !== 'off');
    if (mode !== 'off' && !enableTunOffload(fd)) {
      // An old kernel, or a TUN without offloads: closing deletes the new interface, so the
      // name is free for the plain device at once.
      closeSync(fd);
      mode = 'off';
      fd = TunDevice.#attach(name, false);
    }
    const wakeFd = sysEventfd(EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd < 0) {
      closeSync(fd);
      throw new TsplaneError('WG_ERR_TUN_OPEN', `eventfd: ${errnoName(wakeFd)}`);
    }
    const dev = new TunDevice(name, fd, wakeFd, callbacks, mode);
    if (opts.mtu !== undefined) dev.setMtu(opts.mtu);
    dev.#armPoll();
    return dev;
  }

  /** Opens /dev/net/tun and attaches the fd to a new interface `name`; throws a coded error. */
  static #attach(name: string, vnetHdr: boolean): number {
    let fd: number;
    try {
      fd = openSync('/dev/net/tun', fsConstants.O_RDWR | fsConstants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no /dev/net/tun (is the tun module loaded?)' : code === 'EACCES' ? 'permission denied on /dev/net/tun (run as root)' : String(code);
      throw new TsplaneError('WG_ERR_TUN_OPEN', `cannot create TUN ${name}: ${why}`, { cause: err });
    }
    const req = ifreq(name);
    new DataView(req.buffer).setUint16(IFREQ_UNION_OFFSET, IFF_TUN | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0), true);
    const r = sysIoctl(fd, TUNSETIFF, req);
    if (r < 0) {
      closeSync(fd);
      const why =
        -r === ERRNO.EPERM ? 'operation not permitted (need root or CAP_NET_ADMIN)' : -r === ERRNO.EBUSY || -r === ERRNO.EINVAL ? 'the name is taken' : errnoName(r);
      throw new TsplaneError('WG_ERR_TUN_OPEN', `cannot create TUN ${name}: ${why}`);
    }
    return fd;
  }

  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  mtu(): number {
    return getInterfaceMtu(this.name);
  }

  setMtu(mtu: number): void {
    const r = setInterfaceMtu(this.name, mtu);
    if (r < 0) throw new TsplaneError('WG_ERR_TUN_MTU', `cannot set MTU ${mtu} on ${this.name}: ${errnoName(r)}`);
  }

  /**
   * Reads without blocking, calling `onPacket` with a view valid only during that call, until
   * `max` packets were handed out (a superpacket is never cut short, so a batch can end up to
   * 2048 packets over), `max` frames were read, or the queue is empty. Returns how many packets
   * were handed out; re-arms readiness when the queue is empty. On a fatal error the device is
   * closed and `onGone` fires.
   */
  readBatch(max: number, onPacket: (packet: Uint8Array) => void): number {
    let n = 0;
    let reads = 0;
    const splitter = this.#splitter;
    // Reads are bounded too: frames that split into nothing (drops) must not spin here.
    while (n < max && reads < max && !this.closed) {
      const r = sysRead(this.#fd, this.#readBuf);
      if (r > 0) {
        reads++;
        if (splitter === undefined) {
          n++;
          onPacket(this.#readBuf.subarray(0, r));
          continue;
        }
        const res = splitter.split(this.#readBuf.subarray(0, r), onPacket);
        if (res.type === 'packets') n += res.count;
        else this.#offloadDrops.set(res.reason, (this.#offloadDrops.get(res.reason) ?? 0n) + 1n);
        continue;
      }
      if (r === -ERRNO.EAGAIN || r === -ERRNO.EINTR) {
        if (r === -ERRNO.EAGAIN) this.#armPoll();
        return n;
      }
      this.#fail(r === 0 ? 'end of file' : errnoName(r));
      return n;
    }
    return n;
  }

  /** Writes whole IP packets; returns how many the kernel accepted. */
  writeBatch(packets: readonly Uint8Array[]): number {
    let ok = 0;
    for (const p of packets) if (this.write(p)) ok++;
    return ok;
  }

  /** Writes one IP packet now; false (and counted) when the kernel refused it. */
  write(packet: Uint8Array): boolean {
    if (this.closed) return false;
    const buf = this.#writeBuf;
    if (buf === undefined) return this.#writeRaw(packet);
    if (packet.length > buf.length - VIRTIO_NET_HDR_BYTES) {
      this.writeErrors++;
      return false;
    }
    // buf[0, 10) stays zero: a plain packet with its checksum complete.
    buf.set(packet, VIRTIO_NET_HDR_BYTES);
    return this.#writeRaw(buf.subarray(0, VIRTIO_NET_HDR_BYTES + packet.length));
  }

  /**
   * Writes one IP packet soon: with 'tso+gro' it is copied and held until the end of this turn
   * of the event loop (setImmediate), so TCP segments of one flow decrypted meanwhile go to the
   * kernel as one superpacket; otherwise it is written at once. Refusals are counted in
   * `writeErrors` either way.
   */
  queue(packet: Uint8Array): void {
    const gro = this.#coalescer;
    if (gro === undefined || this.closed) {
      this.write(packet);
      return;
    }
    if (!gro.push(packet)) {
      this.flushWrites();
      if (!gro.push(packet)) {
        this.write(packet);
        return;
      }
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushNow);
    }
  }

  /** Writes everything `queue` holds. */
  flushWrites(): void {
    this.#flushScheduled = false;
    this.#coalescer?.flush(this.#writeFrame);
  }

  offloadStats(): TunOffloadStats {
    return {
      mode: this.offload,
      superpacketsRead: this.#splitter?.superpackets ?? 0n,
      segmentsSplit: this.#splitter?.segments ?? 0n,
      superpacketsWritten: this.#coalescer?.superpackets ?? 0n,
      segmentsCoalesced: this.#coalescer?.coalescedSegments ?? 0n,
      drops: new Map(this.#offloadDrops),
    };
  }

  /** One write(2) of a whole frame; counts the `packets` it carries as written or refused. */
  #writeRaw(frame: Uint8Array, packets = 1): boolean {
    if (this.closed) return false;
    const r = sysWrite(this.#fd, frame);
    if (r >= 0) {
      this.packetsWritten += packets === 1 ? 1n : BigInt(packets);
      return true;
    }
    this.writeErrors += packets === 1 ? 1n : BigInt(packets);
    // EIO is what a write into an interface that is administratively down gets: not fatal
    // (`ip link set down` then `up` must not kill the daemon). A detached fd is.
    if (r === -ERRNO.EBADFD) this.#fail(errnoName(r));
    return false;
  }

  /** Closes the fd (which deletes the interface). Resolves once the poll worker has let go. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (!this.#closing) this.flushWrites();
    const p = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    this.#closing = true;
    if (this.#polling) {
      const one = new Uint8Array(8);
      one[0] = 1;
      sysWrite(this.#wakeFd, one);
    } else {
      this.#finishClose();
    }
    return p;
  }

  #armPoll(): void {
    if (this.#polling || this.closed) return;
    this.#polling = true;
    pollAsync(this.#pollFds, 2, POLL_TIMEOUT_MS, (ready) => {
      this.#polling = false;
      if (this.#closing) {
        this.#finishClose();
        return;
      }
      if (ready <= 0) {
        // 0 is a timeout: look again. A failing poll() is retried a bounded number of times.
        if (ready < 0 && ++this.#pollErrors > MAX_POLL_ERRORS) this.#fail('poll keeps failing');
        else this.#armPoll();
        return;
      }
      const revents = new DataView(this.#pollFds.buffer).getInt16(6, true);
      if (revents & POLLNVAL) {
        this.#fail('fd no longer valid');
        return;
      }
      if (revents & (POLLIN | POLLERR | POLLHUP)) {
        this.#pollErrors = 0;
        this.#drain();
        return;
      }
      this.#armPoll();
    });
  }

  /**
   * Lets the consumer read a batch. `readBatch` re-arms the poll when it reaches EAGAIN; if the
   * consumer stopped before that (a full batch), the rest is read on the next turn of the event
   * loop, so UDP and UAPI events interleave with a long TUN burst. A read also tells a packet
   * from a dead device (EBADFD after `ip link del`).
   */
  #drain(): void {
    if (this.closed) return;
    this.#callbacks.onReadable();
    if (!this.closed && !this.#polling) setImmediate(() => this.#drain());
  }

  #fail(reason: string): void {
    if (this.closed) return;
    void this.close();
    this.#callbacks.onGone(reason);
  }

  #finishClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = false;
    closeSync(this.#fd);
    sysClose(this.#wakeFd);
    for (const w of this.#closeWaiters.splice(0)) w();
  }
}
