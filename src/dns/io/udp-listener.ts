/**
 * The UDP listener socket of the forwarder. IPv4 listeners are created with socket(2)+bind(2)
 * through koffi and handed to dgram (`bind({ fd })`), which still does all receiving; answers
 * then go out with one sendto(2) (MSG_DONTWAIT) on that fd we own, skipping dgram's per-send
 * lookup, request object and next-tick hop (the same edge as src/wireguard/io/udp.ts). Should
 * sendto fail (EAGAIN: kernel queue full, or anything else), the answer goes through dgram,
 * which queues it. IPv6 listeners are plain dgram sockets.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { parseIpv4 } from '../../runtime/ip-address.js';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, sysBind, sysClose, sysGetsockname, sysSendto, sysSocket } from '../../wireguard/io/libc.js';

/** sockaddr_in: u16 family (host order), u16 port (BE), 4-byte address, 8 bytes zero = 16 bytes. */
const SOCKADDR_IN_BYTES = 16;
/** Client sockaddrs kept for reuse; the map is emptied when it reaches this many (bounded memory). */
const MAX_CACHED_SOCKADDRS = 4096;

export interface UdpListener {
  readonly sock: dgram.Socket;
  readonly port: number;
  /** Sends one answer to a numeric client address; never throws. */
  send(bytes: Uint8Array, address: string, port: number): void;
}

/**
 * Answers go to the numeric address a query came from: hand it back synchronously. dgram's
 * default lookup (dns.lookup) defers every send to the next tick even for an IP literal.
 */
function numericLookup(address: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, net.isIPv6(address) ? 6 : 4);
}

function sockaddrIn(addr: Uint8Array, port: number): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_IN_BYTES);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  sa.set(addr, 4);
  return sa;
}

function errnoError(op: string, r: number, host: string, port: number): Error {
  const err = new Error(`${op} ${host}:${port} failed (errno ${-r})`) as Error & { errno: number; code: string };
  err.errno = -r;
  err.code = -r === 98 ? 'EADDRINUSE' : -r === 99 ? 'EADDRNOTAVAIL' : -r === 13 ? 'EACCES' : `E${-r}`;
  return err;
}

function bindDgram(sock: dgram.Socket, opts: dgram.BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

/** Binds one UDP listener on host:port (0 = ephemeral); rejects when the address is unusable. */
export async function bindUdpListener(host: string, port: number): Promise<UdpListener> {
  const v4 = parseIpv4(host);
  if (v4 === undefined) {
    const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false, lookup: numericLookup });
    try {
      await bindDgram(sock, { port, address: host });
    } catch (err) {
      sock.close();
      throw err;
    }
    return { sock, port: sock.address().port, send: (bytes, address, p) => sock.send(bytes, p, address) };
  }
  const fd = sysSocket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) throw errnoError('socket', fd, host, port);
  const r = sysBind(fd, sockaddrIn(v4, port));
  const name = new Uint8Array(SOCKADDR_IN_BYTES);
  const len = r < 0 ? r : sysGetsockname(fd, name);
  if (len < 0) {
    sysClose(fd);
    throw errnoError(r < 0 ? 'bind' : 'getsockname', len, host, port);
  }
  const sock = dgram.createSocket({ type: 'udp4', lookup: numericLookup });
  try {
    await bindDgram(sock, { fd });
  } catch (err) {
    sysClose(fd);
    throw err;
  }
  // dgram owns (and closes) the fd from here on.
  const sockaddrs = new Map<number, { address: string; sa: Uint8Array | undefined }>();
  let closed = false;
  sock.once('close', () => (closed = true));
  const send = (bytes: Uint8Array, address: string, p: number): void => {
    if (closed) return;
    let entry = sockaddrs.get(p);
    if (entry === undefined || entry.address !== address) {
      if (sockaddrs.size >= MAX_CACHED_SOCKADDRS) sockaddrs.clear();
      const a = parseIpv4(address);
      entry = { address, sa: a === undefined ? undefined : sockaddrIn(a, p) };
      sockaddrs.set(p, entry);
    }
    if (entry.sa !== undefined && sysSendto(fd, bytes, entry.sa) >= 0) return;
    sock.send(bytes, p, address);
  };
  return { sock, port: new DataView(name.buffer).getUint16(2, false), send };
}
