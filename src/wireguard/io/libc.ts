/**
 * The few Linux libc calls Node does not expose, bound through koffi with narrow typed wrappers
 * (nothing `any` leaves this file). Used by the TUN edge (ioctl, non-blocking read/write, poll
 * on a worker thread) and the UDP edge (socket options such as SO_MARK).
 *
 * Constants are the x86-64/aarch64 Linux values (asm-generic), each with the layout it acts on.
 */
import koffi, { type KoffiFunc } from 'koffi';

/** Linux errno values we branch on. */
export const ERRNO = {
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  EPERM: 1,
  ENOENT: 2,
  EBADFD: 77,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
} as const;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
/** sendto flag: never block, even if the fd were blocking. */
export const MSG_DONTWAIT = 0x40;
export const IPPROTO_IPV6 = 41;
export const SOL_UDP = 17;
/**
 * int (Linux ≥ 4.18): UDP GSO segment size. A send of more than this many bytes leaves as
 * consecutive datagrams of this size (the last may be shorter); 0 turns it off.
 */
export const UDP_SEGMENT = 103;
/** int: 1 = the AF_INET6 socket carries IPv6 only (no v4-mapped traffic). */
export const IPV6_V6ONLY = 26;
/** u32: the packet mark routing rules match on (needs CAP_NET_ADMIN to set non-zero). */
export const SO_MARK = 36;
/** int bytes: buffer sizes beyond net.core.{w,r}mem_max (needs CAP_NET_ADMIN). */
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;

/** struct pollfd { int fd; short events; short revents; }: 8 bytes. */
export const POLLFD_BYTES = 8;
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

const lib = koffi.load('libc.so.6');

type Buf = Uint8Array;
const cRead = lib.func('long read(int fd, void *buf, unsigned long count)') as KoffiFunc<(fd: number, buf: Buf, count: number) => number>;
const cWrite = lib.func('long write(int fd, void *buf, unsigned long count)') as KoffiFunc<(fd: number, buf: Buf, count: number) => number>;
const cClose = lib.func('int close(int fd)') as KoffiFunc<(fd: number) => number>;
const cIoctl = lib.func('int ioctl(int fd, unsigned long request, void *arg)') as KoffiFunc<(fd: number, req: number, arg: Buf) => number>;
/** The same ioctl for requests whose argument is a value, not a pointer (TUNSETOFFLOAD). */
const cIoctlValue = lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)') as KoffiFunc<(fd: number, req: number, arg: number) => number>;
const cPoll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)') as KoffiFunc<(fds: Buf, nfds: number, timeoutMs: number) => number>;
const cEventfd = lib.func('int eventfd(unsigned int initval, int flags)') as KoffiFunc<(init: number, flags: number) => number>;
const cSocket = lib.func('int socket(int domain, int type, int protocol)') as KoffiFunc<(d: number, t: number, p: number) => number>;
const cBind = lib.func('int bind(int fd, void *addr, uint32_t len)') as KoffiFunc<(fd: number, addr: Buf, len: number) => number>;
const cGetsockname = lib.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)') as KoffiFunc<(fd: number, addr: Buf, len: number[]) => number>;
const cSetsockopt = lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as KoffiFunc<
  (fd: number, level: number, name: number, val: Buf, len: number) => number
>;
const cGetsockopt = lib.func('int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)') as KoffiFunc<
  (fd: number, level: number, name: number, val: Buf, len: number[]) => number
>;
const cSendto = lib.func('long sendto(int fd, void *buf, unsigned long len, int flags, void *addr, uint32_t addrlen)') as KoffiFunc<
  (fd: number, buf: Buf, len: number, flags: number, addr: Buf, addrlen: number) => number
>;
const cIfNameToIndex = lib.func('unsigned int if_nametoindex(const char *name)') as KoffiFunc<(name: string) => number>;

/** The errno of the last failed call on this thread. */
export function lastErrno(): number {
  return koffi.errno() as number;
}

/** A syscall result: the non-negative return value, or the errno as a negative number. */
export type SysResult = number;

function sys(ret: number): SysResult {
  return ret < 0 ? -lastErrno() : ret;
}

export function sysRead(fd: number, buf: Uint8Array): SysResult {
  return sys(cRead(fd, buf, buf.length));
}
export function sysWrite(fd: number, buf: Uint8Array): SysResult {
  return sys(cWrite(fd, buf, buf.length));
}
export function sysClose(fd: number): SysResult {
  return sys(cClose(fd));
}
export function sysIoctl(fd: number, request: number, arg: Uint8Array): SysResult {
  return sys(cIoctl(fd, request, arg));
}
/** ioctl(2) whose third argument is passed by value (an unsigned long), e.g. TUNSETOFFLOAD flags. */
export function sysIoctlValue(fd: number, request: number, value: number): SysResult {
  return sys(cIoctlValue(fd, request, value));
}
export function sysEventfd(flags: number): SysResult {
  return sys(cEventfd(0, flags));
}
export function sysSocket(domain: number, type: number): SysResult {
  return sys(cSocket(domain, type, 0));
}
export function sysBind(fd: number, addr: Uint8Array): SysResult {
  return sys(cBind(fd, addr, addr.length));
}
/** Writes the bound address into `addr`; returns the address length or -errno. */
export function sysGetsockname(fd: number, addr: Uint8Array): SysResult {
  const len = [addr.length];
  const r = sys(cGetsockname(fd, addr, len));
  return r < 0 ? r : (len[0] ?? 0);
}
export function sysSetsockoptInt(fd: number, level: number, name: number, value: number): SysResult {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, value >>> 0, true);
  return sys(cSetsockopt(fd, level, name, v, 4));
}
/** Reads an int socket option; the value, or -errno. */
export function sysGetsockoptInt(fd: number, level: number, name: number): SysResult {
  const v = new Uint8Array(4);
  const r = sys(cGetsockopt(fd, level, name, v, [4]));
  return r < 0 ? r : new DataView(v.buffer).getUint32(0, true);
}
/**
 * sendto(2) of one datagram on a non-blocking socket: bytes sent, or -errno (EAGAIN when the
 * send queue is full). The kernel copies the bytes before returning, so `buf` may be reused at once.
 */
export function sysSendto(fd: number, buf: Uint8Array, addr: Uint8Array): SysResult {
  return sys(cSendto(fd, buf, buf.length, MSG_DONTWAIT, addr, addr.length));
}
/** 0 when no interface has this name in the caller's network namespace. */
export function ifNameToIndex(name: string): number {
  return cIfNameToIndex(name);
}

/**
 * poll(2) on a koffi worker thread, so the main thread never blocks. The callback gets the
 * number of ready fds or -errno; `fds` (struct pollfd[]) then holds the revents.
 */
export function pollAsync(fds: Uint8Array, nfds: number, timeoutMs: number, done: (result: SysResult) => void): void {
  cPoll.async(fds, nfds, timeoutMs, (err: unknown, ret: number) => {
    done(err ? -ERRNO.EIO : ret < 0 ? -ERRNO.EINTR : ret);
  });
}

/** strerror-like names for messages. */
export function errnoName(errno: number): string {
  const e = Math.abs(errno);
  for (const [k, v] of Object.entries(ERRNO)) if (v === e) return k;
  return `errno ${e}`;
}
