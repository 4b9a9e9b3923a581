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
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamSpec } from '../upstream-spec.js';
import { TcpFrameDecoder, frameMessage } from '../tcp-frame.js';

export interface UpstreamEvents {
  reply(token: number, source: { address: string; port: number } | undefined, bytes: Uint8Array): void;
  error(token: number): void;
  /** A datagram whose ID matches nothing in flight on its socket (late, duplicate or spoofed). */
  unexpected(): void;
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
}

/** Largest DoH response body accepted (a DNS message is at most 65535 bytes). */
const MAX_DOH_BODY_BYTES = 65_535;

interface UdpSlot {
  readonly sock: dgram.Socket;
  readonly inflight: Map<number, number[]>;
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
  #closed = false;

  constructor(events: UpstreamEvents, opts: UpstreamTransportOptions = {}) {
    this.#events = events;
    this.#opts = opts;
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
    const sock = dgram.createSocket({ type: up.family === 6 ? 'udp6' : 'udp4' });
    const slot: UdpSlot = { sock, inflight: new Map(), uses: 0, ready: false, closed: false, retired: false, queue: [] };
    sock.on('message', (msg, rinfo) => {
      const tokens = msg.length < 2 ? undefined : slot.inflight.get((msg[0]! << 8) | msg[1]!);
      if (!tokens) return this.#events.unexpected();
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      for (const t of [...tokens]) this.#events.reply(t, { address: rinfo.address, port: rinfo.port }, bytes);
    });
    sock.on('error', () => {
      // ICMP unreachable (ECONNREFUSED) or a send failure: everything in flight on this socket,
      // all to the same upstream, has failed.
      const tokens = [...slot.inflight.values()].flat();
      this.#retire(slot);
      this.#closeSlot(slot);
      for (const t of tokens) this.#fail(t);
    });
    sock.connect(up.port, up.host, () => {
      slot.ready = true;
      for (const b of slot.queue.splice(0)) if (!slot.closed) sock.send(b);
    });
    return slot;
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
