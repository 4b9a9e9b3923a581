/**
 * Upstream transports for the forwarder's `send` / `cancel` actions:
 * - UDP: per upstream a small pool of *connected* sockets, each on its own kernel-chosen random
 *   ephemeral port and retired after `udpMaxUsesPerSocket` queries (RFC 5452 §9.2 source-port
 *   entropy; `1` = a fresh socket per query). Connected sockets let the kernel drop datagrams
 *   from other addresses and report ICMP port-unreachable, so a dead upstream fails over at once.
 * - TCP (RFC 7766) and DoT (RFC 7858): one reused connection per upstream, queries pipelined
 *   with 2-byte length framing and matched by ID, closed after 10 s idle.
 * - DoH (RFC 8484 §4.1): POST application/dns-message through a keep-alive https.Agent.
 * Every reply goes to the forwarder, which checks source, ID and question itself.
 *
 * IPv4 UDP upstreams (Linux, on by default, `udpOwnFd`): the pool's sockets are created and
 * connected by us (upstream-udp-fd.ts) and handed to dgram only as the readiness source. A
 * query leaves with one sendto(2) on our fd (no dgram send request, callback or next-tick hop;
 * EAGAIN falls back to dgram, which queues); after dgram's first 'message' of a wake-up the rest
 * of that socket's queue is drained with recvmmsg(2) into one reused native block, and the
 * edge is told (`burst`) so the client answers of the burst leave in one sendmmsg. The random
 * port per socket, the rotation and the reply checks are unchanged.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamSpec } from '../upstream-spec.js';
import { TcpFrameDecoder, frameMessage } from '../tcp-frame.js';
import { parseIpv4 } from '../../runtime/ip-address.js';
import { MMSG_SUPPORTED, RecvBatch } from '../../runtime/io/udp-mmsg.js';
import { ERRNO, sysSendto } from '../../wireguard/io/libc.js';
import { openConnectedUdp4, sockaddrIn4 } from './upstream-udp-fd.js';

export interface UpstreamEvents {
  reply(token: number, source: { address: string; port: number } | undefined, bytes: Uint8Array): void;
  error(token: number): void;
  /** A datagram whose ID matches nothing in flight on its socket (late, duplicate or spoofed). */
  unexpected(): void;
  /**
   * `true` before a burst of UDP replies read in one wake-up, `false` after it (always paired):
   * answers produced in between may be held and sent together at the end.
   */
  burst?(active: boolean): void;
}

export interface UpstreamTransportOptions {
  /** Connected UDP sockets kept per upstream (default 4). */
  readonly udpSocketsPerUpstream?: number;
  /** Queries sent on one UDP socket before it is replaced (default 32; 1 = socket per query). */
  readonly udpMaxUsesPerSocket?: number;
  /** Extra CA certificates (PEM) for DoT/DoH upstreams, e.g. a private resolver's CA. */
  readonly tlsCa?: string | Buffer | undefined;
  /** Skip certificate verification for DoT/DoH (tests only). */
  readonly tlsInsecure?: boolean;
  /**
   * IPv4 UDP upstreams on our own fds: sendto + recvmmsg drain (default true where supported and
   * sockets carry more than one query); false: dgram only.
   */
  readonly udpOwnFd?: boolean;
}

/** Largest DoH response body accepted (a DNS message is at most 65535 bytes). */
const MAX_DOH_BODY_BYTES = 65_535;

/** Datagrams per recvmmsg call when draining an upstream socket, and calls per wake-up at most. */
const UPSTREAM_RECV_BATCH = 32;
const MAX_UPSTREAM_RECV_CALLS = 4;
/** A receive slot holds any UDP datagram (65 507 bytes of payload at most), so none is ever cut. */
const UPSTREAM_RECV_SLOT_BYTES = 65_536;

interface UdpSlot {
  readonly sock: dgram.Socket;
  readonly inflight: Map<number, number[]>;
  /** Our connected fd (dgram reads it, we send and drain on it), or -1: dgram does everything. */
  readonly fd: number;
  /** sockaddr_in of the upstream, for sendto on `fd`. */
  readonly peer: Uint8Array | undefined;
  /** IPv4 address × 65 536 + port of the upstream (-1 without `fd`): recvmmsg sources compare to it. */
  readonly peerKey: number;
  /** The upstream as a reply source, shared by every reply from it (no object per datagram). */
  readonly source: { readonly address: string; readonly port: number };
  uses: number;
  ready: boolean;
  closed: boolean;
  retired: boolean;
  readonly queue: Uint8Array[];
}

/** A reused TCP/DoT connection to one upstream; queries are pipelined and matched by ID (RFC 7766 §6.2.1.1). */
interface StreamConn {
  readonly key: string;
  readonly sock: net.Socket;
  readonly inflight: Map<number, number[]>;
  closed: boolean;
}

/** An upstream connection with nothing in flight for this long is closed (RFC 7766 §6.2.3). */
const STREAM_IDLE_MS = 10_000;

type Flight =
  | { readonly kind: 'udp'; readonly slot: UdpSlot; readonly txid: number }
  | { readonly kind: 'stream'; readonly conn: StreamConn; readonly txid: number }
  | { readonly kind: 'https'; readonly req: ReturnType<typeof https.request> };

export class UpstreamTransports {
  readonly #events: UpstreamEvents;
  readonly #opts: UpstreamTransportOptions;
  readonly #pools = new Map<string, { slots: (UdpSlot | undefined)[]; next: number }>();
  readonly #flights = new Map<number, Flight>();
  readonly #streams = new Map<string, StreamConn>();
  /** One keep-alive agent per DoH upstream (each may have its own CA and server name). */
  readonly #agents = new Map<string, https.Agent>();
  readonly #caFiles = new Map<string, string>();
  readonly #ownFd: boolean;
  /** Shared by every owned socket: a drain runs to completion before the next one starts. */
  #rx: RecvBatch | undefined;
  #closed = false;

  constructor(events: UpstreamEvents, opts: UpstreamTransportOptions = {}) {
    this.#events = events;
    this.#opts = opts;
    // A socket per query (udpMaxUsesPerSocket 1) stays on dgram: adopting a fresh fd per query
    // cost more than sendto saved (measured 20k vs 28k q/s on misses), and there is no burst to drain.
    this.#ownFd = (opts.udpOwnFd ?? true) && MMSG_SUPPORTED && (opts.udpMaxUsesPerSocket ?? 32) > 1;
  }

  /** Sends `bytes` for attempt `token` over `transport` to `upstream`. Never throws. */
  send(token: number, upstream: UpstreamSpec, transport: 'udp' | 'tcp' | 'tls' | 'https', bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      if (transport === 'udp') this.#sendUdp(token, upstream, bytes);
      else if (transport === 'https') this.#sendHttps(token, upstream, bytes);
      else this.#sendStream(token, upstream, transport === 'tls', bytes);
    } catch {
      queueMicrotask(() => this.#fail(token));
    }
  }

  /** The attempt is over: release what it holds. */
  cancel(token: number): void {
    const f = this.#flights.get(token);
    if (!f) return;
    this.#flights.delete(token);
    if (f.kind === 'udp') {
      removeToken(f.slot.inflight, f.txid, token);
      if (f.slot.retired && f.slot.inflight.size === 0) this.#closeSlot(f.slot);
    } else if (f.kind === 'stream') {
      // The connection stays open for the next query; the idle timeout closes it.
      removeToken(f.conn.inflight, f.txid, token);
    } else {
      f.req.destroy();
    }
  }

  close(): void {
    this.#closed = true;
    for (const token of [...this.#flights.keys()]) this.cancel(token);
    for (const pool of this.#pools.values()) for (const s of pool.slots) if (s) this.#closeSlot(s);
    this.#pools.clear();
    for (const c of this.#streams.values()) c.sock.destroy();
    this.#streams.clear();
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
    this.#rx?.free();
    this.#rx = undefined;
  }

  /**
   * TLS options for `up`: SNI and verification name (its `serverName`, else its host when that
   * is a name), its own CA file when configured (instead of the system store), else the
   * transport-wide extra CA. Reading the CA file can throw; `send` turns that into an error.
   */
  #tlsOptions(up: UpstreamSpec): tls.ConnectionOptions {
    const name = up.serverName ?? (up.family === 0 ? up.host : undefined);
    let ca: string[] | undefined;
    if (up.caFile !== undefined) {
      let pem = this.#caFiles.get(up.caFile);
      if (pem === undefined) {
        pem = readFileSync(up.caFile, 'utf8');
        this.#caFiles.set(up.caFile, pem);
      }
      ca = [pem];
    } else if (this.#opts.tlsCa) {
      ca = [...tls.rootCertificates, this.#opts.tlsCa.toString()];
    }
    return {
      ...(name !== undefined && net.isIP(name) === 0 ? { servername: name } : {}),
      ...(name !== undefined ? { checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(name, cert) } : {}),
      ...(ca ? { ca } : {}),
      ...(this.#opts.tlsInsecure ? { rejectUnauthorized: false } : {}),
    };
  }

  #agentFor(up: UpstreamSpec): https.Agent {
    let a = this.#agents.get(up.id);
    if (!a) {
      a = new https.Agent({ keepAlive: true, maxSockets: 16, ...this.#tlsOptions(up) });
      this.#agents.set(up.id, a);
    }
    return a;
  }

  #fail(token: number): void {
    if (!this.#flights.has(token)) return;
    this.cancel(token);
    this.#events.error(token);
  }

  // ---- UDP ----

  #sendUdp(token: number, up: UpstreamSpec, bytes: Uint8Array): void {
    const slot = this.#pickSlot(up);
    const txid = (bytes[0]! << 8) | bytes[1]!;
    addToken(slot.inflight, txid, token);
    this.#flights.set(token, { kind: 'udp', slot, txid });
    slot.uses++;
    if (slot.fd >= 0) {
      const r = sysSendto(slot.fd, bytes, slot.peer!);
      if (r >= 0) return;
      // Send queue full: dgram queues the datagram. Any other error (a pending ICMP
      // unreachable, ECONNREFUSED) fails the socket, as dgram's 'error' does.
      if (r === -ERRNO.EAGAIN) slot.sock.send(bytes, up.port, up.host, (err) => err && this.#fail(token));
      else queueMicrotask(() => this.#slotFailed(slot));
      return;
    }
    if (slot.ready) slot.sock.send(bytes, (err) => err && this.#fail(token));
    else slot.queue.push(bytes);
  }

  #pickSlot(up: UpstreamSpec): UdpSlot {
    let pool = this.#pools.get(up.id);
    if (!pool) {
      pool = { slots: [], next: 0 };
      this.#pools.set(up.id, pool);
    }
    const size = Math.max(1, this.#opts.udpSocketsPerUpstream ?? 4);
    const maxUses = Math.max(1, this.#opts.udpMaxUsesPerSocket ?? 32);
    // Rotate through the slots; a slot that carried maxUses queries (or failed) is replaced by a
    // new socket on a new random port and closes once its last query is over.
    const i = pool.next;
    pool.next = (i + 1) % size;
    let slot = pool.slots[i];
    if (!slot || slot.uses >= maxUses || slot.closed) {
      if (slot) this.#retire(slot);
      slot = this.#openSlot(up);
      pool.slots[i] = slot;
    }
    return slot;
  }

  #openSlot(up: UpstreamSpec): UdpSlot {
    const v4 = this.#ownFd ? parseIpv4(up.host) : undefined;
    if (v4 !== undefined) return this.#openOwnedSlot(up, v4);
    const sock = dgram.createSocket({ type: up.family === 6 ? 'udp6' : 'udp4' });
    const slot: UdpSlot = {
      sock, inflight: new Map(), fd: -1, peer: undefined, peerKey: -1, source: { address: up.host, port: up.port },
      uses: 0, ready: false, closed: false, retired: false, queue: [],
    };
    sock.on('message', (msg, rinfo) => {
      const source = rinfo.port === slot.source.port && rinfo.address === slot.source.address ? slot.source : { address: rinfo.address, port: rinfo.port };
      this.#deliver(slot, new Uint8Array(msg.buffer, msg.byteOffset, msg.length), source);
    });
    sock.on('error', () => this.#slotFailed(slot));
    sock.connect(up.port, up.host, () => {
      slot.ready = true;
      for (const b of slot.queue.splice(0)) if (!slot.closed) sock.send(b);
    });
    return slot;
  }

  /** A socket we create and connect (synchronous for UDP: usable at once, no queue); throws when refused. */
  #openOwnedSlot(up: UpstreamSpec, v4: Uint8Array): UdpSlot {
    const peer = sockaddrIn4(v4, up.port);
    const fd = openConnectedUdp4(peer);
    if (fd < 0) throw new Error(`udp upstream ${up.host}:${up.port}: socket/connect failed (errno ${-fd})`);
    const sock = dgram.createSocket({ type: 'udp4' });
    const peerKey = (((v4[0]! << 24) | (v4[1]! << 16) | (v4[2]! << 8) | v4[3]!) >>> 0) * 65_536 + up.port;
    const slot: UdpSlot = {
      sock, inflight: new Map(), fd, peer, peerKey, source: { address: up.host, port: up.port },
      uses: 0, ready: true, closed: false, retired: false, queue: [],
    };
    sock.on('message', (msg, rinfo) => this.#drain(slot, msg, rinfo));
    sock.on('error', () => this.#slotFailed(slot));
    // dgram adopts the fd (and closes it with the socket); it only reads, to tell us of data.
    sock.bind({ fd });
    return slot;
  }

  /** One wake-up of an owned socket: the datagram dgram read, then the rest of its queue with recvmmsg. */
  #drain(slot: UdpSlot, first: Buffer, rinfo: dgram.RemoteInfo): void {
    this.#events.burst?.(true);
    try {
      const source = rinfo.port === slot.source.port && rinfo.address === slot.source.address ? slot.source : { address: rinfo.address, port: rinfo.port };
      this.#deliver(slot, new Uint8Array(first.buffer, first.byteOffset, first.length), source);
      const rx = (this.#rx ??= new RecvBatch(UPSTREAM_RECV_BATCH, UPSTREAM_RECV_SLOT_BYTES));
      // A reply may retire and close this socket (its fd number may then be reused): stop there.
      // Nothing left in flight on it (a socket per query, or the last reply): skip the drain,
      // whose recvmmsg would only find EAGAIN; a late duplicate still arrives through dgram.
      for (let call = 0; call < MAX_UPSTREAM_RECV_CALLS && !slot.closed && !this.#closed && slot.inflight.size > 0; call++) {
        const n = rx.receive(slot.fd);
        if (n < 0) {
          this.#slotFailed(slot);
          break;
        }
        for (let i = 0; i < n && !slot.closed; i++) {
          if (rx.truncated(i)) {
            this.#events.unexpected();
            continue;
          }
          const key = rx.sourceKeyV4(i);
          this.#deliver(slot, rx.data(i), key === slot.peerKey ? slot.source : sourceOfKey(key));
        }
        if (n < rx.maxMessages) break;
      }
    } finally {
      this.#events.burst?.(false);
    }
  }

  /**
   * One reply datagram to every attempt waiting on its ID on this socket. `bytes` may be a
   * borrowed view (recvmmsg block): the forwarder copies what it keeps.
   */
  #deliver(slot: UdpSlot, bytes: Uint8Array, source: { readonly address: string; readonly port: number }): void {
    const tokens = bytes.length < 2 ? undefined : slot.inflight.get((bytes[0]! << 8) | bytes[1]!);
    if (!tokens) return this.#events.unexpected();
    if (tokens.length === 1) return this.#events.reply(tokens[0]!, source, bytes);
    for (const t of [...tokens]) this.#events.reply(t, source, bytes);
  }

  /**
   * ICMP unreachable (ECONNREFUSED) or a send failure: everything in flight on this socket, all
   * to the same upstream, has failed.
   */
  #slotFailed(slot: UdpSlot): void {
    if (slot.closed) return;
    const tokens = [...slot.inflight.values()].flat();
    this.#retire(slot);
    this.#closeSlot(slot);
    for (const t of tokens) this.#fail(t);
  }

  #retire(slot: UdpSlot): void {
    slot.retired = true;
    if (slot.inflight.size === 0) this.#closeSlot(slot);
  }

  #closeSlot(slot: UdpSlot): void {
    if (slot.closed) return;
    slot.closed = true;
    try {
      slot.sock.close();
    } catch {
      // already closed
    }
  }

  // ---- TCP / DoT ----

  #sendStream(token: number, up: UpstreamSpec, useTls: boolean, bytes: Uint8Array): void {
    const key = `${useTls ? 'tls' : 'tcp'}|${up.id}`;
    let conn = this.#streams.get(key);
    if (!conn || conn.closed) conn = this.#openStream(key, up, useTls);
    const txid = (bytes[0]! << 8) | bytes[1]!;
    addToken(conn.inflight, txid, token);
    this.#flights.set(token, { kind: 'stream', conn, txid });
    // net.Socket buffers writes made before the connection (or TLS handshake) completes.
    conn.sock.write(frameMessage(bytes));
  }

  #openStream(key: string, up: UpstreamSpec, useTls: boolean): StreamConn {
    const sock = useTls
      ? tls.connect({ host: up.host, port: up.port, ALPNProtocols: ['dot'], ...this.#tlsOptions(up) })
      : net.connect({ host: up.host, port: up.port });
    const conn: StreamConn = { key, sock, inflight: new Map(), closed: false };
    this.#streams.set(key, conn);
    const decoder = new TcpFrameDecoder();
    sock.setNoDelay(true);
    sock.setTimeout(STREAM_IDLE_MS, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      const r = decoder.push(chunk);
      if (!r.ok) return void sock.destroy();
      for (const m of r.messages) {
        const tokens = conn.inflight.get((m[0]! << 8) | m[1]!);
        if (!tokens) this.#events.unexpected();
        // The forwarder ignores a message that does not match its question; others may follow.
        else for (const t of [...tokens]) this.#events.reply(t, undefined, m);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      conn.closed = true;
      if (this.#streams.get(key) === conn) this.#streams.delete(key);
      const tokens = [...conn.inflight.values()].flat();
      conn.inflight.clear();
      for (const t of tokens) this.#fail(t);
    });
    return conn;
  }

  // ---- DoH ----

  #sendHttps(token: number, up: UpstreamSpec, bytes: Uint8Array): void {
    const req = https.request({
      host: up.host, port: up.port, path: up.path, method: 'POST', agent: this.#agentFor(up),
      headers: {
        'content-type': 'application/dns-message', accept: 'application/dns-message', 'content-length': bytes.length,
        ...(up.serverName !== undefined ? { host: up.port === 443 ? up.serverName : `${up.serverName}:${up.port}` } : {}),
      },
    });
    this.#flights.set(token, { kind: 'https', req });
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length'] ?? 0);
      if (res.statusCode !== 200 || declared > MAX_DOH_BODY_BYTES) {
        res.resume();
        return this.#fail(token);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_DOH_BODY_BYTES) return this.#fail(token);
        chunks.push(c);
      });
      res.on('end', () => {
        if (!this.#flights.has(token)) return;
        const body = Buffer.concat(chunks);
        this.#events.reply(token, undefined, new Uint8Array(body.buffer, body.byteOffset, body.length));
      });
      res.on('error', () => this.#fail(token));
    });
    req.on('error', () => this.#fail(token));
    req.end(bytes);
  }
}

/** A reply source from a recvmmsg key (address × 65 536 + port); `unknown` for non-IPv4 (never on a v4 socket). */
function sourceOfKey(key: number): { address: string; port: number } {
  if (key < 0) return { address: 'unknown', port: 0 };
  const port = key % 65_536;
  const a = (key - port) / 65_536;
  return { address: `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`, port };
}

function addToken(map: Map<number, number[]>, txid: number, token: number): void {
  const list = map.get(txid);
  if (list) list.push(token);
  else map.set(txid, [token]);
}

function removeToken(map: Map<number, number[]>, txid: number, token: number): void {
  const list = map.get(txid);
  if (!list) return;
  const i = list.indexOf(token);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(txid);
}
