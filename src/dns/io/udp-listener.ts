/**
 * The UDP listener socket of the forwarder. IPv4 listeners are created with socket(2)+bind(2)
 * through koffi and handed to dgram (`bind({ fd })`); answers go out on that fd we own with
 * sendto(2) (MSG_DONTWAIT), skipping dgram's per-send lookup, request object and next-tick hop
 * (the same edge as src/wireguard/io/udp.ts). Should the kernel refuse (EAGAIN: send queue full,
 * or any error) the answer goes through dgram, which queues it.
 *
 * Batching (IPv4, on by default): dgram stays the readiness source — its 'message' event still
 * delivers the first datagram of a wake-up — and the handler then drains the rest of the
 * socket's queue with recvmmsg(2) into a reused native block (runtime/io/udp-mmsg.ts), at most
 * MAX_RECV_CALLS_PER_WAKEUP × RECV_BATCH datagrams per wake-up so the loop stays fair; libuv's
 * next read just sees EAGAIN. Answers produced during that drain are collected and leave with
 * one sendmmsg(2) at its end. Answers produced later (upstream replies) use sendto as before.
 * Client objects are cached per source (IPv4 address × port, read from the sockaddr bytes), so
 * the hit path builds no strings and no objects per datagram.
 *
 * IPv6 listeners are plain dgram sockets (no batching, dgram sends).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { parseIpv4 } from '../../runtime/ip-address.js';
import { MMSG_SUPPORTED, RecvBatch, SendBatch } from '../../runtime/io/udp-mmsg.js';
import { SOCKADDR_IN_BYTES, sockaddrIn4 } from './upstream-udp-fd.js';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, sysBind, sysClose, sysGetsockname, sysSendto, sysSocket } from '../../wireguard/io/libc.js';

/** Client objects kept for reuse; the map is emptied when it reaches this many (bounded memory). */
const MAX_CACHED_CLIENTS = 4096;
/** Datagrams per recvmmsg / sendmmsg call. */
const RECV_BATCH = 64;
const SEND_BATCH = 64;
/** recvmmsg calls per wake-up at most (so ≤ 256 queries before the loop runs anything else). */
const MAX_RECV_CALLS_PER_WAKEUP = 4;
/**
 * Receive slot: a DNS query over UDP is a header, one question (≤ 260 bytes) and an OPT; 4 KiB
 * leaves room for EDNS options. A longer datagram arrives cut (MSG_TRUNC) and is dropped.
 */
const RECV_SLOT_BYTES = 4096;
/** Send slot: UDP answers are cut to the client's EDNS size (≤ 1232 bytes here); bigger ones use sendto. */
const SEND_SLOT_BYTES = 2048;

/** One UDP client (source address and port) of a listener; cached, so treat it as immutable. */
export interface UdpClient {
  readonly kind: 'udp';
  readonly sock: UdpListener;
  readonly address: string;
  readonly port: number;
  /** sockaddr_in for sendto/sendmmsg on our fd; undefined on dgram-only listeners. */
  readonly sockaddr: Uint8Array | undefined;
}

/** Counters of the batched path (64-bit). */
export interface UdpListenerStats {
  /** Datagrams received with recvmmsg (beyond the first of each wake-up, which dgram delivers). */
  recvmmsgDatagrams: bigint;
  recvmmsgCalls: bigint;
  /** Answers sent with sendmmsg. */
  sendmmsgDatagrams: bigint;
  sendmmsgCalls: bigint;
  /** Datagrams longer than a receive slot, dropped. */
  truncated: bigint;
  /** recvmmsg errors other than EAGAIN/EINTR. */
  recvErrors: bigint;
}

export interface UdpHandlers {
  /** Called once per wake-up, before its datagrams (read the clock here, once). */
  wake(): void;
  /** One datagram; `bytes` is borrowed until the handler returns. Must not throw. */
  datagram(bytes: Uint8Array, client: UdpClient): void;
}

export interface UdpListener {
  readonly sock: dgram.Socket;
  readonly port: number;
  /** True when recvmmsg/sendmmsg batching is in use. */
  readonly batching: boolean;
  readonly stats: UdpListenerStats;
  /** Starts delivering datagrams to `handlers` (call once). */
  receive(handlers: UdpHandlers): void;
  /** Sends one answer to a client of this listener; never throws. */
  send(bytes: Uint8Array, client: UdpClient): void;
  /**
   * Holds answers `send` gets from now on and sends them with one sendmmsg at `uncork` (a burst
   * of upstream replies). Calls pair up; no-op without batching or inside a receive drain.
   */
  cork(): void;
  uncork(): void;
  close(): void;
}

export interface UdpListenerOptions {
  /** recvmmsg/sendmmsg batching on IPv4 listeners (default true); false: one dgram event per datagram. */
  readonly batch?: boolean;
}

/**
 * Answers go to the numeric address a query came from: hand it back synchronously. dgram's
 * default lookup (dns.lookup) defers every send to the next tick even for an IP literal.
 */
function numericLookup(address: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, net.isIPv6(address) ? 6 : 4);
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

function newStats(): UdpListenerStats {
  return { recvmmsgDatagrams: 0n, recvmmsgCalls: 0n, sendmmsgDatagrams: 0n, sendmmsgCalls: 0n, truncated: 0n, recvErrors: 0n };
}

/** An IPv6 (or any non-IPv4) listener: dgram receives and sends. */
async function bindDgramListener(host: string, port: number): Promise<UdpListener> {
  const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false, lookup: numericLookup });
  try {
    await bindDgram(sock, { port, address: host });
  } catch (err) {
    sock.close();
    throw err;
  }
  let closed = false;
  const listener: UdpListener = {
    sock, port: sock.address().port, batching: false, stats: newStats(),
    receive: (h) => {
      sock.on('message', (msg, rinfo) => {
        h.wake();
        h.datagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { kind: 'udp', sock: listener, address: rinfo.address, port: rinfo.port, sockaddr: undefined });
      });
    },
    send: (bytes, c) => {
      if (!closed) sock.send(bytes, c.port, c.address);
    },
    cork: () => undefined,
    uncork: () => undefined,
    close: () => {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
  return listener;
}

/** Binds one UDP listener on host:port (0 = ephemeral); rejects when the address is unusable. */
export async function bindUdpListener(host: string, port: number, opts: UdpListenerOptions = {}): Promise<UdpListener> {
  const v4 = parseIpv4(host);
  if (v4 === undefined) return bindDgramListener(host, port);
  const fd = sysSocket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) throw errnoError('socket', fd, host, port);
  const r = sysBind(fd, sockaddrIn4(v4, port));
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
  // dgram owns (and closes) the fd from here on; `closed` is set before it does.
  return new Ipv4Listener(sock, fd, new DataView(name.buffer).getUint16(2, false), (opts.batch ?? true) && MMSG_SUPPORTED);
}

class Ipv4Listener implements UdpListener {
  readonly sock: dgram.Socket;
  readonly port: number;
  readonly batching: boolean;
  readonly stats = newStats();
  readonly #fd: number;
  /** Clients by IPv4 address (u32) × 65 536 + port. */
  readonly #clients = new Map<number, UdpClient>();
  /** IPv4 address text → u32, for the datagram dgram delivers (rinfo carries text). */
  readonly #addressKeys = new Map<string, number>();
  readonly #rx: RecvBatch | undefined;
  readonly #tx: SendBatch<UdpClient> | undefined;
  #draining = false;
  /** Set by `cork` (false when `cork` found a drain already holding answers). */
  #corked = false;
  #closed = false;
  readonly #unsent = (bytes: Uint8Array, c: UdpClient): void => this.#sendOne(bytes, c);

  constructor(sock: dgram.Socket, fd: number, port: number, batching: boolean) {
    this.sock = sock;
    this.#fd = fd;
    this.port = port;
    this.batching = batching;
    if (batching) {
      this.#rx = new RecvBatch(RECV_BATCH, RECV_SLOT_BYTES);
      this.#tx = new SendBatch<UdpClient>(SEND_BATCH, SEND_SLOT_BYTES);
    }
    sock.once('close', () => this.#markClosed());
  }

  receive(h: UdpHandlers): void {
    if (!this.batching) {
      // One dgram event per datagram (the path before batching; kept for A/B benchmarks).
      this.sock.on('message', (msg, rinfo) => {
        h.wake();
        h.datagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), this.#clientFor(rinfo.address, rinfo.port));
      });
      return;
    }
    this.sock.on('message', (msg, rinfo) => this.#wake(h, msg, rinfo.address, rinfo.port));
  }

  send(bytes: Uint8Array, c: UdpClient): void {
    if (this.#closed) return;
    const tx = this.#tx;
    if (this.#draining && tx !== undefined && c.sockaddr !== undefined && c.sock === this) {
      if (tx.full) this.#flush();
      if (tx.add(bytes, c.sockaddr, c)) return;
    }
    this.#sendOne(bytes, c);
  }

  cork(): void {
    if (!this.batching || this.#draining || this.#closed) return;
    this.#draining = true;
    this.#corked = true;
  }

  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#draining = false;
    this.#flush();
    if (this.#closed) this.#freeBlocks();
  }

  close(): void {
    if (this.#closed) return;
    this.#markClosed();
    this.sock.close();
  }

  #markClosed(): void {
    this.#closed = true;
    // Mid-drain the receive block is still being read: #wake frees it when the drain ends.
    if (!this.#draining) this.#freeBlocks();
  }

  #freeBlocks(): void {
    this.#rx?.free();
    this.#tx?.free();
  }

  #sendOne(bytes: Uint8Array, c: UdpClient): void {
    if (this.#closed) return;
    if (c.sockaddr !== undefined && sysSendto(this.#fd, bytes, c.sockaddr) >= 0) return;
    this.sock.send(bytes, c.port, c.address);
  }

  #flush(): void {
    const tx = this.#tx;
    if (tx === undefined || tx.length === 0) return;
    if (this.#closed) {
      tx.flush(-1, () => undefined);
      return;
    }
    const sent = tx.flush(this.#fd, this.#unsent);
    this.stats.sendmmsgCalls++;
    this.stats.sendmmsgDatagrams += BigInt(sent);
  }

  /** One readiness wake-up: the datagram dgram read, then the socket queue drained with recvmmsg. */
  #wake(h: UdpHandlers, first: Buffer, address: string, port: number): void {
    if (this.#closed) return;
    const rx = this.#rx!;
    this.#draining = true;
    try {
      h.wake();
      h.datagram(new Uint8Array(first.buffer, first.byteOffset, first.length), this.#clientFor(address, port));
      for (let call = 0; call < MAX_RECV_CALLS_PER_WAKEUP && !this.#closed; call++) {
        const n = rx.receive(this.#fd);
        if (n <= 0) {
          if (n < 0) this.stats.recvErrors++;
          break;
        }
        this.stats.recvmmsgCalls++;
        this.stats.recvmmsgDatagrams += BigInt(n);
        for (let i = 0; i < n && !this.#closed; i++) {
          if (rx.truncated(i)) {
            this.stats.truncated++;
            continue;
          }
          const key = rx.sourceKeyV4(i);
          if (key < 0) continue;
          h.datagram(rx.data(i), this.#clientForKey(key));
        }
        if (n < rx.maxMessages) break;
      }
    } finally {
      this.#draining = false;
      this.#flush();
      if (this.#closed) this.#freeBlocks();
    }
  }

  #clientFor(address: string, port: number): UdpClient {
    let a = this.#addressKeys.get(address);
    if (a === undefined) {
      const bytes = parseIpv4(address);
      if (bytes === undefined) return { kind: 'udp', sock: this, address, port, sockaddr: undefined };
      a = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
      if (this.#addressKeys.size >= MAX_CACHED_CLIENTS) this.#addressKeys.clear();
      this.#addressKeys.set(address, a);
    }
    return this.#clientForKey(a * 65_536 + port);
  }

  #clientForKey(key: number): UdpClient {
    let c = this.#clients.get(key);
    if (c === undefined) {
      const port = key % 65_536;
      const a = (key - port) / 65_536;
      const addr = new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);
      c = { kind: 'udp', sock: this, address: `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`, port, sockaddr: sockaddrIn4(addr, port) };
      if (this.#clients.size >= MAX_CACHED_CLIENTS) this.#clients.clear();
      this.#clients.set(key, c);
    }
    return c;
  }
}
