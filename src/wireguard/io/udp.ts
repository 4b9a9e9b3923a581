/**
 * UDP edge ("bind" in wireguard-go's terms): one IPv4 and one IPv6-only socket on the same
 * port, unconnected (connected dgram sends cost about 3× more in Node 20, wireguard.md §6.3).
 *
 * The sockets are created with socket(2) through koffi and handed to dgram with
 * `bind({ fd })`: that way we own the fd for SO_MARK (dgram has no API for it, and its
 * handle's fd is not public), IPV6_V6ONLY and buffer sizes, with no guessing. Sends skip the
 * DNS lookup step (endpoints are numeric).
 *
 * Sends go straight to sendto(2) on the fd we own (MSG_DONTWAIT): the kernel copies the bytes
 * before the call returns, so the core's reused output buffers need no copy, and the call costs
 * one koffi crossing instead of dgram's send machinery (measured in bench/e2e/wireguard-ab).
 * Only when the kernel refuses (a full send queue, or any error) does the datagram go through
 * dgram, copied, which queues it or reports the error as before.
 *
 * `sendBatch` coalesces runs of equal-sized datagrams to one endpoint into one sendto with UDP
 * GSO (UDP_SEGMENT, Linux ≥ 4.18, as modern wireguard-go does): the kernel walks its UDP/IP
 * output path once per run and cuts the datagrams late. The receiver needs nothing: a socket
 * without UDP_GRO gets them as ordinary datagrams. Where the route cannot do it (no checksum
 * offload: EIO; an old kernel: ENOPROTOOPT) GSO is switched off for good and datagrams go one by one.
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
  SOL_UDP,
  UDP_SEGMENT,
  errnoName,
  ifNameToIndex,
  sysBind,
  sysClose,
  sysGetsockname,
  sysGetsockoptInt,
  sysSetsockoptInt,
  sysSendto,
  sysSocket,
} from './libc.js';
import { parseIpv4, parseIpv6 } from '../ip-text.js';
import { TsplaneError } from '../../runtime/errors.js';

/** Socket buffers as modern wireguard-go sizes them (commit f26efb6): bursts queue instead of dropping. */
const SOCKET_BUFFER_BYTES = 7 << 20;
/** Datagrams per segmented send (the kernel's UDP_MAX_SEGMENTS was 64 before Linux 6.2). */
const GSO_MAX_SEGMENTS = 64;
/** Payload bytes per segmented send: one UDP datagram's worth (65535 − 8 UDP − 40 IPv6 header). */
const GSO_MAX_BYTES = 65_487;
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

/**
 * The sockaddr_in / sockaddr_in6 for a numeric endpoint; an IPv6 `%zone` (interface name or
 * index) becomes sin6_scope_id. Undefined if the address does not parse or the interface is
 * unknown (dgram then reports the error).
 */
function endpointSockaddr(to: Endpoint): Uint8Array | undefined {
  const pct = to.family === 6 ? to.address.indexOf('%') : -1;
  const addr = to.family === 4 ? parseIpv4(to.address) : parseIpv6(pct < 0 ? to.address : to.address.slice(0, pct));
  if (!addr) return undefined;
  const sa = sockaddr(to.family, to.port);
  sa.set(addr, to.family === 4 ? 4 : 8); // sin_addr at 4; sin6_addr at 8 (after flowinfo)
  if (pct >= 0) {
    const zone = to.address.slice(pct + 1);
    const index = /^\d{1,10}$/.test(zone) ? Number(zone) : ifNameToIndex(zone);
    if (!(index > 0 && index <= 0xffffffff)) return undefined;
    new DataView(sa.buffer).setUint32(24, index, true); // sin6_scope_id at 24, host order (little-endian here)
  }
  return sa;
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

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a === b || (a.port === b.port && a.family === b.family && a.address === b.address);
}

class DgramBind implements UdpBind {
  readonly port: number;
  readonly #sockets: { family: 4 | 6; fd: number; sock: dgram.Socket }[];
  #v4: dgram.Socket | undefined;
  #v6: dgram.Socket | undefined;
  readonly #fd4: number;
  readonly #fd6: number;
  #closed = false;
  /** The last destination and its sockaddr: a tunnel sends to one endpoint for long runs. */
  #lastTo: Endpoint | undefined;
  #lastSa: Uint8Array | undefined;
  readonly #sockaddrs = new WeakMap<Endpoint, Uint8Array>();
  /** UDP_SEGMENT currently set on the IPv4 / IPv6 socket (0 = off). */
  #gso4 = 0;
  #gso6 = 0;
  #gsoBroken = false;
  #gsoScratch: Uint8Array | undefined;

  constructor(port: number, sockets: { family: 4 | 6; fd: number; sock: dgram.Socket }[]) {
    this.port = port;
    this.#sockets = sockets;
    this.#v4 = sockets.find((s) => s.family === 4)?.sock;
    this.#v6 = sockets.find((s) => s.family === 6)?.sock;
    this.#fd4 = sockets.find((s) => s.family === 4)?.fd ?? -1;
    this.#fd6 = sockets.find((s) => s.family === 6)?.fd ?? -1;
  }

  #sockaddrFor(to: Endpoint): Uint8Array | undefined {
    const last = this.#lastTo;
    if (to === last) return this.#lastSa;
    // Received datagrams bring a fresh endpoint object each (dgram's rinfo), and roaming
    // updates the peer's endpoint with it: compare by value before parsing again.
    if (last !== undefined && to.port === last.port && to.family === last.family && to.address === last.address) {
      this.#lastTo = to;
      return this.#lastSa;
    }
    let sa = this.#sockaddrs.get(to);
    if (sa === undefined) {
      sa = endpointSockaddr(to);
      if (sa === undefined) return undefined;
      this.#sockaddrs.set(to, sa);
    }
    this.#lastTo = to;
    this.#lastSa = sa;
    return sa;
  }

  send(datagram: Uint8Array, to: Endpoint, owned: boolean): boolean {
    const sock = to.family === 4 ? this.#v4 : this.#v6;
    if (!sock || this.#closed) return false;
    const sa = this.#sockaddrFor(to);
    if (sa !== undefined) {
      // A larger datagram than the segment size set for the last batch would be cut up.
      const gso = to.family === 4 ? this.#gso4 : this.#gso6;
      if (gso !== 0 && datagram.length > gso) this.#setGso(to.family, 0);
      const fd = to.family === 4 ? this.#fd4 : this.#fd6;
      if (sysSendto(fd, datagram, sa) >= 0) return true;
      // The segment size may be what the route refuses: dgram's retry must go out without it.
      if (gso !== 0) this.#setGso(to.family, 0);
    }
    // dgram holds on to the bytes when the kernel queue is full, so a reused buffer must be copied.
    const bytes = owned ? Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength) : Buffer.from(datagram);
    sock.send(bytes, to.port, to.address);
    return true;
  }

  sendBatch(items: readonly { readonly datagram: Uint8Array; readonly endpoint: Endpoint }[], owned: boolean): number {
    let n = 0;
    let i = 0;
    while (i < items.length) {
      const first = items[i]!;
      const to = first.endpoint;
      const size = first.datagram.length;
      // A run: datagrams of `size` to the same endpoint, optionally ended by one shorter datagram.
      let end = i + 1;
      let total = size;
      if (!this.#gsoBroken) {
        while (end < items.length && end - i < GSO_MAX_SEGMENTS) {
          const it = items[end]!;
          const len = it.datagram.length;
          if (len > size || total + len > GSO_MAX_BYTES || !sameEndpoint(it.endpoint, to)) break;
          total += len;
          end++;
          if (len < size) break;
        }
      }
      if (end - i >= 2 && this.#sendSegmented(items, i, end, total, size, to)) {
        n += end - i;
      } else {
        for (let k = i; k < end; k++) if (this.send(items[k]!.datagram, to, owned)) n++;
      }
      i = end;
    }
    return n;
  }

  /** One sendto of items[from, to) with UDP_SEGMENT = `size`; false when the caller must send them one by one. */
  #sendSegmented(items: readonly { readonly datagram: Uint8Array }[], from: number, to: number, total: number, size: number, ep: Endpoint): boolean {
    if (this.#closed || (ep.family === 4 ? this.#v4 : this.#v6) === undefined) return false;
    const sa = this.#sockaddrFor(ep);
    if (sa === undefined) return false;
    const buf = (this.#gsoScratch ??= new Uint8Array(GSO_MAX_BYTES));
    let off = 0;
    for (let k = from; k < to; k++) {
      const d = items[k]!.datagram;
      buf.set(d, off);
      off += d.length;
    }
    if ((ep.family === 4 ? this.#gso4 : this.#gso6) !== size && !this.#setGso(ep.family, size)) {
      this.#gsoBroken = true;
      return false;
    }
    const r = sysSendto(ep.family === 4 ? this.#fd4 : this.#fd6, buf.subarray(0, total), sa);
    if (r >= 0) return true;
    if (r !== -ERRNO.EAGAIN && r !== -ERRNO.EINTR) {
      // EIO (no checksum offload on the route), EINVAL/EMSGSIZE (segment larger than the path MTU).
      this.#gsoBroken = true;
      this.#setGso(ep.family, 0);
    }
    return false;
  }

  #setGso(family: 4 | 6, size: number): boolean {
    const r = sysSetsockoptInt(family === 4 ? this.#fd4 : this.#fd6, SOL_UDP, UDP_SEGMENT, size);
    if (r < 0) return false;
    if (family === 4) this.#gso4 = size;
    else this.#gso6 = size;
    return true;
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
