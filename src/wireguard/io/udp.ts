/**
 * UDP edge ("bind" in wireguard-go's terms): one IPv4 and one IPv6-only socket on the same
 * port, unconnected (connected dgram sends cost about 3× more in Node 20, wireguard.md §6.3).
 *
 * The sockets are created with socket(2) through koffi and handed to dgram with
 * `bind({ fd })`: that way we own the fd for SO_MARK (dgram has no API for it, and its
 * handle's fd is not public), IPV6_V6ONLY and buffer sizes, with no guessing. Sends skip the
 * DNS lookup step (endpoints are numeric), so a send completes synchronously when the kernel
 * queue has room.
 */
import dgram from 'node:dgram';
import type { Endpoint } from '../device-api.js';
import {
  AF_INET,
  AF_INET6,
  ERRNO,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SO_MARK,
  SO_RCVBUFFORCE,
  SO_SNDBUFFORCE,
  errnoName,
  sysBind,
  sysClose,
  sysGetsockname,
  sysGetsockoptInt,
  sysSetsockoptInt,
  sysSocket,
} from './libc.js';
import { TsplaneError } from '../../runtime/errors.js';

/** Socket buffers as modern wireguard-go sizes them (commit f26efb6): bursts queue instead of dropping. */
const SOCKET_BUFFER_BYTES = 7 << 20;
/** Attempts to find a random port that is free in both families. */
const RANDOM_PORT_ATTEMPTS = 20;
/** sockaddr_in: u16 family, u16 port (big-endian), 4-byte address, 8 bytes zero = 16 bytes. */
const SOCKADDR_IN_BYTES = 16;
/** sockaddr_in6: u16 family, u16 port (BE), u32 flowinfo, 16-byte address, u32 scope id = 28 bytes. */
const SOCKADDR_IN6_BYTES = 28;

export interface UdpCallbacks {
  /** A datagram arrived; `datagram` is owned by the callee. */
  onDatagram(datagram: Uint8Array, from: Endpoint): void;
  onError?(err: Error): void;
}

/** What the runtime needs from a UDP backend; a faster one (sendmmsg addon) can implement it too. */
export interface UdpBind {
  /** The bound port. */
  readonly port: number;
  /** Sends one datagram. `owned`: the caller will not reuse the bytes, so no copy is made. */
  send(datagram: Uint8Array, to: Endpoint, owned: boolean): boolean;
  sendBatch(items: readonly { readonly datagram: Uint8Array; readonly endpoint: Endpoint }[], owned: boolean): number;
  /** Sets SO_MARK on every socket; returns 0 or -errno. */
  setFwmark(mark: number): number;
  /** SO_MARK as the kernel reports it for each socket (family → mark or -errno); for tests and diagnostics. */
  fwmarks(): Map<4 | 6, number>;
  close(): Promise<void>;
}

function sockaddr(family: 4 | 6, port: number): Uint8Array {
  const sa = new Uint8Array(family === 4 ? SOCKADDR_IN_BYTES : SOCKADDR_IN6_BYTES);
  const v = new DataView(sa.buffer);
  v.setUint16(0, family === 4 ? AF_INET : AF_INET6, true);
  v.setUint16(2, port, false);
  return sa;
}

/** Creates, configures and binds one raw socket; returns the fd and port, or -errno. */
function openRawSocket(family: 4 | 6, port: number, fwmark: number): { fd: number; port: number } | number {
  const fd = sysSocket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return fd;
  const fail = (r: number): number => {
    sysClose(fd);
    return r;
  };
  if (family === 6) {
    const r = sysSetsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (r < 0) return fail(r);
  }
  if (fwmark !== 0) {
    const r = sysSetsockoptInt(fd, SOL_SOCKET, SO_MARK, fwmark);
    if (r < 0) return fail(r);
  }
  // Best effort: without CAP_NET_ADMIN the FORCE variants fail and the defaults stay.
  sysSetsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES);
  sysSetsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES);
  const r = sysBind(fd, sockaddr(family, port));
  if (r < 0) return fail(r);
  const sa = new Uint8Array(SOCKADDR_IN6_BYTES);
  const len = sysGetsockname(fd, sa);
  if (len < 0) return fail(len);
  return { fd, port: new DataView(sa.buffer).getUint16(2, false) };
}

/** Endpoints are numeric: answer dgram's lookup synchronously instead of going through dns.lookup. */
function numericLookup(family: 4 | 6) {
  return (address: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, address, family);
}

function wrap(family: 4 | 6, fd: number, cb: UdpCallbacks): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: numericLookup(family) });
    sock.once('error', reject);
    sock.on('message', (msg, rinfo) => {
      cb.onDatagram(msg, { family, address: rinfo.address, port: rinfo.port });
    });
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      sock.on('error', (err) => cb.onError?.(err));
      resolve(sock);
    });
  });
}

class DgramBind implements UdpBind {
  readonly port: number;
  readonly #sockets: { family: 4 | 6; fd: number; sock: dgram.Socket }[];
  #v4: dgram.Socket | undefined;
  #v6: dgram.Socket | undefined;
  #closed = false;

  constructor(port: number, sockets: { family: 4 | 6; fd: number; sock: dgram.Socket }[]) {
    this.port = port;
    this.#sockets = sockets;
    this.#v4 = sockets.find((s) => s.family === 4)?.sock;
    this.#v6 = sockets.find((s) => s.family === 6)?.sock;
  }

  send(datagram: Uint8Array, to: Endpoint, owned: boolean): boolean {
    const sock = to.family === 4 ? this.#v4 : this.#v6;
    if (!sock || this.#closed) return false;
    // dgram holds on to the bytes when the kernel queue is full, so a reused buffer must be copied.
    const bytes = owned ? Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength) : Buffer.from(datagram);
    sock.send(bytes, to.port, to.address);
    return true;
  }

  sendBatch(items: readonly { readonly datagram: Uint8Array; readonly endpoint: Endpoint }[], owned: boolean): number {
    let n = 0;
    for (const it of items) if (this.send(it.datagram, it.endpoint, owned)) n++;
    return n;
  }

  setFwmark(mark: number): number {
    for (const s of this.#sockets) {
      const r = sysSetsockoptInt(s.fd, SOL_SOCKET, SO_MARK, mark);
      if (r < 0) return r;
    }
    return 0;
  }

  fwmarks(): Map<4 | 6, number> {
    return new Map(this.#sockets.map((s) => [s.family, sysGetsockoptInt(s.fd, SOL_SOCKET, SO_MARK)]));
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return Promise.all(this.#sockets.map((s) => new Promise<void>((res) => s.sock.close(() => res())))).then(() => undefined);
  }
}

/**
 * Binds IPv4 and IPv6 on `port` (0 = a random port free in both families). IPv6 is optional:
 * where the stack has none (EAFNOSUPPORT) the bind is IPv4 only. Throws a coded error whose
 * `errno` is negative (EADDRINUSE when the port is taken or the mark cannot be set).
 */
export async function openUdpBind(port: number, fwmark: number, callbacks: UdpCallbacks): Promise<UdpBind> {
  const attempts = port === 0 ? RANDOM_PORT_ATTEMPTS : 1;
  let lastErr = 0;
  for (let i = 0; i < attempts; i++) {
    const v4 = openRawSocket(4, port, fwmark);
    if (typeof v4 === 'number') {
      lastErr = v4;
      if (v4 === -ERRNO.EADDRINUSE && port === 0) continue;
      break;
    }
    const v6 = openRawSocket(6, v4.port, fwmark);
    if (typeof v6 === 'number') {
      if (v6 === -ERRNO.EAFNOSUPPORT) {
        return new DgramBind(v4.port, [{ family: 4, fd: v4.fd, sock: await wrap(4, v4.fd, callbacks) }]);
      }
      sysClose(v4.fd);
      lastErr = v6;
      if (v6 === -ERRNO.EADDRINUSE && port === 0) continue;
      break;
    }
    let s4: dgram.Socket | undefined;
    let s6: dgram.Socket;
    try {
      s4 = await wrap(4, v4.fd, callbacks);
      s6 = await wrap(6, v6.fd, callbacks);
    } catch (err) {
      // dgram owns an fd once wrapped; the rest are still ours to close.
      if (s4) s4.close();
      else sysClose(v4.fd);
      sysClose(v6.fd);
      throw err;
    }
    return new DgramBind(v4.port, [
      { family: 4, fd: v4.fd, sock: s4 },
      { family: 6, fd: v6.fd, sock: s6 },
    ]);
  }
  throw Object.assign(new TsplaneError('WG_ERR_UDP_BIND', `cannot bind UDP port ${port}: ${errnoName(lastErr)}`), { errno: lastErr });
}
