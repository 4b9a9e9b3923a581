/**
 * Connected IPv4 UDP sockets whose fd the upstream transport owns (socket(2) + connect(2)
 * through koffi, then handed to dgram for readiness), so a query leaves with one sendto(2) and
 * a burst of replies is drained with recvmmsg(2) — the same edge as udp-listener.ts.
 *
 * Source port (RFC 5452 §9.2): connect(2) on an unbound UDP socket makes the kernel bind it to an
 * ephemeral port chosen at random (Linux inet autobind, `ip_local_port_range`), exactly what
 * dgram's `bind(0)` + `connect` did. The socket is connected, so the kernel delivers datagrams
 * from the upstream's address and port only, and reports ICMP port unreachable as ECONNREFUSED.
 */
import koffi, { type KoffiFunc } from 'koffi';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, lastErrno, sysClose, sysSocket } from '../../wireguard/io/libc.js';

const lib = koffi.load('libc.so.6');
const cConnect = lib.func('int connect(int fd, void *addr, uint32_t len)') as KoffiFunc<(fd: number, addr: Uint8Array, len: number) => number>;

/** sockaddr_in: u16 family (host order) @0, u16 port (BE) @2, 4-byte address @4, 8 bytes zero = 16 bytes. */
export const SOCKADDR_IN_BYTES = 16;

/** sockaddr_in bytes for `addr`:`port`. */
export function sockaddrIn4(addr: Uint8Array, port: number): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_IN_BYTES);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  sa.set(addr, 4);
  return sa;
}

/**
 * A non-blocking IPv4 UDP socket connected to `peer` (a sockaddr_in): its fd, or -errno. The
 * caller owns the fd (close it, or hand it to dgram which then closes it).
 */
export function openConnectedUdp4(peer: Uint8Array): number {
  const fd = sysSocket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return fd;
  if (cConnect(fd, peer, peer.length) < 0) {
    const errno = lastErrno();
    sysClose(fd);
    return -errno;
  }
  return fd;
}
