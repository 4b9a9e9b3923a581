/**
 * Batched UDP syscalls: recvmmsg(2) and sendmmsg(2) through koffi on a non-blocking datagram
 * fd the caller owns (Linux ≥ 3.0). One crossing moves up to `maxMessages` datagrams, where
 * dgram pays a libuv read, a Buffer, an rinfo object and an event emit per datagram.
 *
 * Everything the kernel reads or writes lives in one native block from `koffi.alloc`, laid out
 * by hand once: the mmsghdr array, one iovec and one sockaddr slot per message, and the payload
 * slots. JS sees that block through one ArrayBuffer (`koffi.view`), so receiving hands out
 * `subarray` views (no copy, no allocation beyond the view) and sending copies each datagram in
 * with `set`. Views are borrowed: they are overwritten by the next `receive`, and invalid after
 * `free`.
 *
 * Layouts (Linux LP64: x86_64 and aarch64 alike, pointers and size_t 8 bytes, natural alignment):
 *
 *   struct iovec   { void *iov_base @0 (8); size_t iov_len @8 (8); }                     16 bytes
 *   struct msghdr  { void *msg_name @0; u32 msg_namelen @8; (4 pad) struct iovec *msg_iov @16;
 *                    size_t msg_iovlen @24; void *msg_control @32; size_t msg_controllen @40;
 *                    int msg_flags @48; (4 pad) }                                        56 bytes
 *   struct mmsghdr { struct msghdr msg_hdr @0; u32 msg_len @56; (4 pad) }                 64 bytes
 *   sockaddr_in    { u16 family (host order) @0; u16 port (BE) @2; 4-byte addr @4; 8 zero } 16 bytes
 *   sockaddr_in6   { u16 family @0; u16 port (BE) @2; u32 flowinfo @4; 16-byte addr @8;
 *                    u32 scope_id @24 }                                                  28 bytes
 *
 * Endianness: the block is written with little-endian DataView calls; both targets are LE.
 */
import koffi, { type KoffiFunc } from 'koffi';
import { endianness } from 'node:os';

/**
 * True where the layouts above hold: Linux on a 64-bit little-endian CPU. Elsewhere callers keep
 * their one-datagram-per-event path.
 */
export const MMSG_SUPPORTED = process.platform === 'linux' && endianness() === 'LE' && ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64'].includes(process.arch);

/** sizeof(struct mmsghdr) on LP64 Linux (see the layout above). */
export const MMSGHDR_BYTES = 64;
/** sizeof(struct iovec) on LP64 Linux. */
export const IOVEC_BYTES = 16;
/** Room for a sockaddr_in6 (28 bytes) rounded up to 8-byte alignment. */
export const SOCKADDR_SLOT_BYTES = 32;
/** sizeof(struct sockaddr_in6): what the kernel may write into msg_name. */
const SOCKADDR_IN6_BYTES = 28;

const OFF_NAME = 0;
const OFF_NAMELEN = 8;
const OFF_IOV = 16;
const OFF_IOVLEN = 24;
const OFF_FLAGS = 48;
const OFF_MSG_LEN = 56;

/** recvmmsg/sendmmsg flag: do not block (the fd is non-blocking anyway). */
const MSG_DONTWAIT = 0x40;
/** msg_flags bit: the datagram was longer than its slot and was cut (the tail is lost). */
export const MSG_TRUNC = 0x20;
const AF_INET = 2;
const AF_INET6 = 10;
/** Linux errno values this file branches on. */
const EAGAIN = 11;
const EINTR = 4;

const lib = koffi.load('libc.so.6');
type Ptr = unknown;
const cRecvmmsg = lib.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)') as KoffiFunc<
  (fd: number, msgvec: Ptr, vlen: number, flags: number, timeout: null) => number
>;
const cSendmmsg = lib.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)') as KoffiFunc<
  (fd: number, msgvec: Ptr, vlen: number, flags: number) => number
>;

/** One native block holding `count` mmsghdr + iovec + sockaddr slots and `count` payload slots. */
class MmsgBlock {
  readonly count: number;
  readonly slotBytes: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly iovOff: number;
  readonly nameOff: number;
  readonly dataOff: number;
  #ptr: Ptr;

  constructor(count: number, slotBytes: number) {
    if (!Number.isInteger(count) || count < 1 || count > 1024) throw new RangeError(`mmsg: count must be 1..1024, got ${count}`);
    if (!Number.isInteger(slotBytes) || slotBytes < 1 || slotBytes > 65_536) throw new RangeError(`mmsg: slotBytes must be 1..65536, got ${slotBytes}`);
    this.count = count;
    this.slotBytes = slotBytes;
    this.iovOff = count * MMSGHDR_BYTES;
    this.nameOff = this.iovOff + count * IOVEC_BYTES;
    this.dataOff = this.nameOff + count * SOCKADDR_SLOT_BYTES;
    const total = this.dataOff + count * slotBytes;
    this.#ptr = koffi.alloc('uint8_t', total) as Ptr;
    const buf = koffi.view(this.#ptr, total);
    this.bytes = new Uint8Array(buf);
    // Zero the headers, iovecs and sockaddrs (msg_control, msg_flags… must be 0); payload slots
    // are left untouched, so pages of large slots are only committed once the kernel writes them.
    this.bytes.fill(0, 0, this.dataOff);
    this.view = new DataView(buf);
    const base = BigInt(koffi.address(this.#ptr));
    for (let i = 0; i < count; i++) {
      const h = i * MMSGHDR_BYTES;
      const iov = this.iovOff + i * IOVEC_BYTES;
      this.view.setBigUint64(h + OFF_NAME, base + BigInt(this.nameOff + i * SOCKADDR_SLOT_BYTES), true);
      this.view.setBigUint64(h + OFF_IOV, base + BigInt(iov), true);
      this.view.setBigUint64(h + OFF_IOVLEN, 1n, true);
      this.view.setBigUint64(iov, base + BigInt(this.dataOff + i * slotBytes), true);
      this.view.setBigUint64(iov + 8, BigInt(slotBytes), true);
    }
  }

  get ptr(): Ptr {
    return this.#ptr;
  }

  get freed(): boolean {
    return this.#ptr === undefined;
  }

  free(): void {
    if (this.#ptr === undefined) return;
    koffi.free(this.#ptr);
    this.#ptr = undefined;
  }
}

/**
 * A reusable recvmmsg(2) batch. `receive(fd)` fills up to `maxMessages` slots; then `data(i)`,
 * `sourceKeyV4(i)` etc. describe datagram i until the next `receive`.
 *
 * @example
 *   const rx = new RecvBatch(64, 4096);
 *   for (let n = rx.receive(fd); n > 0 && ...; ) for (let i = 0; i < n; i++) handle(rx.data(i), rx.sockaddr(i));
 */
export class RecvBatch {
  readonly maxMessages: number;
  readonly slotBytes: number;
  readonly #b: MmsgBlock;
  /** Slots the kernel wrote in the last call (msg_namelen/msg_flags to reset); all at first. */
  #dirty: number;

  constructor(maxMessages: number, slotBytes: number) {
    this.#b = new MmsgBlock(maxMessages, slotBytes);
    this.maxMessages = maxMessages;
    this.slotBytes = slotBytes;
    this.#dirty = maxMessages;
  }

  /**
   * recvmmsg(fd, …, MSG_DONTWAIT): the number of datagrams received (0 when the queue is empty,
   * i.e. EAGAIN/EINTR), or -errno on any other error. Never blocks.
   */
  receive(fd: number): number {
    const b = this.#b;
    if (b.freed) return 0;
    const v = b.view;
    // The kernel rewrites msg_namelen/msg_flags of the messages it fills: reset those.
    for (let i = 0; i < this.#dirty; i++) {
      const h = i * MMSGHDR_BYTES;
      v.setUint32(h + OFF_NAMELEN, SOCKADDR_IN6_BYTES, true);
      v.setInt32(h + OFF_FLAGS, 0, true);
    }
    const n = cRecvmmsg(fd, b.ptr, b.count, MSG_DONTWAIT, null);
    this.#dirty = n > 0 ? n : 0;
    if (n >= 0) return n;
    const errno = koffi.errno() as number;
    return errno === EAGAIN || errno === EINTR ? 0 : -errno;
  }

  /** Bytes of datagram i (borrowed view into the native block). */
  data(i: number): Uint8Array {
    const b = this.#b;
    const len = Math.min(b.view.getUint32(i * MMSGHDR_BYTES + OFF_MSG_LEN, true), b.slotBytes);
    const off = b.dataOff + i * b.slotBytes;
    return b.bytes.subarray(off, off + len);
  }

  /** True when datagram i was longer than a slot (its tail was cut off by the kernel). */
  truncated(i: number): boolean {
    return (this.#b.view.getInt32(i * MMSGHDR_BYTES + OFF_FLAGS, true) & MSG_TRUNC) !== 0;
  }

  /** Address family of datagram i's source (AF_INET = 2, AF_INET6 = 10, 0 when unknown). */
  family(i: number): number {
    const b = this.#b;
    return b.view.getUint16(b.nameOff + i * SOCKADDR_SLOT_BYTES, true);
  }

  /**
   * For an AF_INET source: address (u32, network order read as a big-endian number) × 65 536 +
   * port — a unique, allocation-free key below 2^48 (a safe integer). -1 for other families.
   */
  sourceKeyV4(i: number): number {
    const b = this.#b;
    const off = b.nameOff + i * SOCKADDR_SLOT_BYTES;
    if (b.view.getUint16(off, true) !== AF_INET) return -1;
    return b.view.getUint32(off + 4, false) * 65_536 + b.view.getUint16(off + 2, false);
  }

  /** The source sockaddr of datagram i (borrowed view; copy it to keep it). */
  sockaddr(i: number): Uint8Array {
    const b = this.#b;
    const off = b.nameOff + i * SOCKADDR_SLOT_BYTES;
    const fam = b.view.getUint16(off, true);
    return b.bytes.subarray(off, off + (fam === AF_INET ? 16 : fam === AF_INET6 ? SOCKADDR_IN6_BYTES : 0));
  }

  /** Releases the native block; later `receive` calls return 0. */
  free(): void {
    this.#b.free();
  }
}

/**
 * A reusable sendmmsg(2) batch: `add` copies a datagram and its destination sockaddr into the
 * next slot; `flush(fd)` sends them all with one call and hands every datagram the kernel did
 * not take (partial send, EAGAIN, any error) to `unsent` with the tag given to `add`, in order.
 */
export class SendBatch<T> {
  readonly maxMessages: number;
  readonly slotBytes: number;
  readonly #b: MmsgBlock;
  readonly #tags: (T | undefined)[];
  readonly #datagrams: (Uint8Array | undefined)[];
  #count = 0;

  constructor(maxMessages: number, slotBytes: number) {
    this.#b = new MmsgBlock(maxMessages, slotBytes);
    this.maxMessages = maxMessages;
    this.slotBytes = slotBytes;
    this.#tags = new Array<T | undefined>(maxMessages).fill(undefined);
    this.#datagrams = new Array<Uint8Array | undefined>(maxMessages).fill(undefined);
  }

  /** Datagrams waiting for `flush`. */
  get length(): number {
    return this.#count;
  }

  /** True when `add` would refuse: the batch is full (flush first). */
  get full(): boolean {
    return this.#count >= this.maxMessages;
  }

  /**
   * Queues one datagram to `sockaddr` (sockaddr_in or sockaddr_in6 bytes). False — nothing
   * queued — when the batch is full, the datagram is bigger than a slot or the sockaddr is
   * longer than 28 bytes: send that one another way.
   */
  add(bytes: Uint8Array, sockaddr: Uint8Array, tag: T): boolean {
    const b = this.#b;
    const i = this.#count;
    if (i >= b.count || bytes.length > b.slotBytes || sockaddr.length > SOCKADDR_IN6_BYTES || b.freed) return false;
    const h = i * MMSGHDR_BYTES;
    b.bytes.set(bytes, b.dataOff + i * b.slotBytes);
    // iov_len (size_t, LE): two u32 writes, no BigInt per datagram.
    b.view.setUint32(b.iovOff + i * IOVEC_BYTES + 8, bytes.length, true);
    b.view.setUint32(b.iovOff + i * IOVEC_BYTES + 12, 0, true);
    b.bytes.set(sockaddr, b.nameOff + i * SOCKADDR_SLOT_BYTES);
    b.view.setUint32(h + OFF_NAMELEN, sockaddr.length, true);
    this.#tags[i] = tag;
    this.#datagrams[i] = bytes;
    this.#count = i + 1;
    return true;
  }

  /**
   * Sends the queued datagrams with sendmmsg(fd, …, MSG_DONTWAIT), retrying once after a partial
   * send; the rest go to `unsent(bytes, tag)`. Returns how many the kernel took. Empties the batch.
   */
  flush(fd: number, unsent: (bytes: Uint8Array, tag: T) => void): number {
    const b = this.#b;
    const count = this.#count;
    if (count === 0) return 0;
    let done = 0;
    if (!b.freed) {
      for (let tries = 0; tries < 2 && done < count; tries++) {
        const n = cSendmmsg(fd, sendmmsgPtr(b, done), count - done, MSG_DONTWAIT);
        if (n <= 0) break;
        done += n;
      }
    }
    for (let i = 0; i < count; i++) {
      if (i >= done) unsent(this.#datagrams[i]!, this.#tags[i]!);
      this.#tags[i] = undefined;
      this.#datagrams[i] = undefined;
    }
    this.#count = 0;
    return done;
  }

  /** Releases the native block; later `add` calls return false. */
  free(): void {
    this.#b.free();
    this.#count = 0;
  }
}

/** The address of mmsghdr `first` in the block (a partial send resumes there). */
function sendmmsgPtr(b: MmsgBlock, first: number): Ptr {
  if (first === 0) return b.ptr;
  return BigInt(koffi.address(b.ptr)) + BigInt(first * MMSGHDR_BYTES);
}
