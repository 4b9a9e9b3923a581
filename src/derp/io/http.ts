/**
 * The DERP HTTP edge (derp.md §2): one node http(s).Server serving
 *   /derp                 `Upgrade: DERP` hijack (exact 101, or nothing under `Derp-Fast-Start: 1`)
 *                         and WebSocket with subprotocol `derp` (ws noServer + handleUpgrade),
 *                         both adapted to the core's `FrameConn` byte stream;
 *   /derp/probe, /derp/latency-check   200, empty, CORS `*`;
 *   /generate_204         204 with the `X-Tailscale-Challenge` echo;
 *   /metrics              Prometheus text of the process registry;
 *   /bootstrap-dns        resolved addresses of configured names, JSON (derper's bootstrap DNS);
 *   /debug/{,varz,vars}   derper-named metrics for loopback/Tailscale callers (debug-varz.ts);
 *   /robots.txt, /        a disallow-all file and a small status page.
 * Also: an accept rate limit, HTTP header timeouts, and socket write back-pressure fed to the
 * core (which head-drops its bounded queues), so slow or silent clients cannot grow memory.
 */
import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../runtime/log.js';
import type { Registry } from '../../runtime/metrics.js';
import type { Clock } from '../../runtime/clock.js';
import { MAX_FORWARD_PACKET_FRAME_BYTES, FRAME_HEADER_BYTES, PROTOCOL_VERSION } from '../frame.js';
import { keyHex, type Endpoint } from '../protocol.js';
import type { BootstrapDns } from '../bootstrap-dns.js';
import { allowDebugAccess, formatVars, formatVarz, type VarzInput } from '../debug-varz.js';
import type { CloseReason, DerpServer, FrameConn, ServerConnHandle } from '../server.js';

/** Largest WebSocket message the server writes: derper's reader limit is 32768 (derp.md §2.2). */
export const WS_MAX_WRITE_MESSAGE_BYTES = 32 * 1024;
/** Largest WebSocket message accepted: generous, at least a whole 64 KiB packet frame (derp.md §2.2). */
export const WS_MAX_READ_MESSAGE_BYTES = 2 * (MAX_FORWARD_PACKET_FRAME_BYTES + FRAME_HEADER_BYTES);
/** HTTP request headers must arrive within this (derper's 30 s read timeout covers TLS + request). */
export const HTTP_HEADERS_TIMEOUT_MS = 30_000;
/** A politely closed connection that does not finish closing is destroyed after this. */
export const CLOSE_LINGER_MS = 5_000;
/** TCP keep-alive probe delay on DERP connections (derper `-tcp-keepalive-time` is 10 min). */
export const TCP_KEEPALIVE_MS = 10 * 60_000;

const CHALLENGE_RE = /^[A-Za-z0-9._:-]{1,64}$/;

export interface DerpHttpOptions {
  server: DerpServer;
  logger: Logger;
  clock: Clock;
  /** Called after every input, so the scheduler re-reads the core's deadline. */
  kick: () => void;
  /** Registry served at /metrics; none means 404. */
  registry?: Registry;
  /** Accepted connections per second; extra ones are closed at once. Default: unlimited. */
  acceptRatePerSec?: number;
  acceptBurst?: number;
  /** Shown on the status page. */
  hostname?: string;
  /** Served at /bootstrap-dns; without it the answer is `{}` (derper with no names answers empty). */
  bootstrapDns?: BootstrapDns;
  /** derper's /debug/ pages (varz, vars) read this at request time; none means 404. */
  varz?: () => VarzInput;
}

/** Counters of the edge itself (the core counts everything after accept). */
export interface DerpHttpStats {
  upgradeAccepts: bigint;
  websocketAccepts: bigint;
  fastStarts: bigint;
  rejectedConnections: bigint;
  upgradeRefused: bigint;
}

/** What `attachDerpHttp` returns: its counters and a way to drop every socket. */
export interface DerpHttpHandle {
  readonly stats: DerpHttpStats;
  /** Destroys every socket still open (after the core said goodbye). */
  destroyAll(): void;
  /** Resolves when every socket has closed, or after `timeoutMs`. */
  waitForSockets(timeoutMs: number): Promise<void>;
}

/** Adds the DERP routes, upgrade handling and accept limit to an http or https server. */
export function attachDerpHttp(http: HttpServer, opts: DerpHttpOptions): DerpHttpHandle {
  const stats: DerpHttpStats = { upgradeAccepts: 0n, websocketAccepts: 0n, fastStarts: 0n, rejectedConnections: 0n, upgradeRefused: 0n };
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false, // WireGuard payloads do not compress
    clientTracking: false,
    maxPayload: WS_MAX_READ_MESSAGE_BYTES,
    handleProtocols: (protocols) => (protocols.has('derp') ? 'derp' : false),
  });
  const rate = opts.acceptRatePerSec ?? Infinity;
  const burst = opts.acceptBurst ?? (Number.isFinite(rate) ? Math.max(1, rate) : Infinity);
  let tokens = burst;
  let refilledAt = opts.clock.monotonicMs();

  http.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
  http.requestTimeout = HTTP_HEADERS_TIMEOUT_MS;
  // 'connection' is the raw TCP socket for http and https alike: limit before any TLS work.
  http.on('connection', (socket: Socket) => {
    if (Number.isFinite(rate)) {
      const now = opts.clock.monotonicMs();
      tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * rate);
      refilledAt = now;
      if (tokens < 1) {
        stats.rejectedConnections++;
        socket.destroy();
        return;
      }
      tokens -= 1;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  http.on('request', (req: IncomingMessage, res: ServerResponse) => serveRequest(req, res, opts));

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/derp') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (upgrade === 'websocket' && protocols.includes('derp')) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        stats.websocketAccepts++;
        acceptWebSocket(ws, socket, req, opts);
      });
      return;
    }
    if (upgrade !== 'derp' && upgrade !== 'websocket') {
      stats.upgradeRefused++;
      const body = 'DERP requires connection upgrade';
      socket.end(`HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    stats.upgradeAccepts++;
    const fastStart = req.headers['derp-fast-start'] === '1';
    if (fastStart) stats.fastStarts++;
    else {
      // Byte for byte what derper writes (derp.md §2.1): no Date, no Content-Length.
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: DERP\r\n' +
          'Connection: Upgrade\r\n' +
          `Derp-Version: ${PROTOCOL_VERSION}\r\n` +
          `Derp-Public-Key: ${keyHex(opts.server.publicKey)}\r\n\r\n`,
      );
    }
    acceptRawSocket(socket, head, req, opts);
  });

  return {
    stats,
    destroyAll: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    waitForSockets: (timeoutMs) => new Promise<void>((resolve) => {
      if (sockets.size === 0) return resolve();
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      let left = sockets.size;
      for (const s of sockets) {
        s.once('close', () => {
          if (--left === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
    }),
  };
}

function remoteOf(socket: Socket): Endpoint | undefined {
  const ip = socket.remoteAddress;
  const port = socket.remotePort;
  return ip && port !== undefined ? { ip, port } : undefined;
}

/** A plain Uint8Array view of a Buffer, so `slice()` in the core copies (Buffer's does not). */
function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function acceptInfo(req: IncomingMessage, socket: Socket): { remote?: Endpoint; notIdeal: boolean } {
  const remote = remoteOf(socket);
  return { ...(remote ? { remote } : {}), notIdeal: req.headers['ideal-node'] !== undefined };
}

function hardClose(reason: CloseReason): boolean {
  return reason === 'write-timeout' || reason === 'frame-too-large' || reason === 'protocol-error' || reason === 'handshake-timeout';
}

/** `Upgrade: DERP`: the hijacked socket is the DERP byte stream. */
function acceptRawSocket(socket: Socket, head: Buffer, req: IncomingMessage, opts: DerpHttpOptions): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  socket.setTimeout(0);
  const conn: FrameConn = {
    write(chunks) {
      if (socket.destroyed) return;
      if (chunks.length === 1) {
        socket.write(chunks[0]!);
        return;
      }
      socket.cork();
      for (const c of chunks) socket.write(c);
      socket.uncork();
    },
    backlogBytes: () => socket.writableLength,
    close(reason) {
      if (hardClose(reason)) socket.destroy();
      else {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
      }
    },
  };
  const handle: ServerConnHandle = opts.server.accept(conn, acceptInfo(req, socket));
  socket.on('data', (b: Buffer) => {
    handle.receive(view(b));
    opts.kick();
  });
  socket.on('drain', () => handle.writable());
  // http.Server sockets allow half-open connections: without this, a client's FIN would go
  // unnoticed until the next keep-alive write fails (~60 s), delaying PeerGone for its peers.
  socket.on('end', () => socket.destroy());
  socket.on('error', () => {}); // 'close' follows; resets and timeouts are routine
  socket.on('close', () => {
    handle.closed();
    opts.kick();
  });
  if (head.length > 0) handle.receive(view(head)); // fast start: ClientInfo may ride with the request
  opts.kick();
}

/** WebSocket `derp`: binary messages carry the DERP byte stream; boundaries mean nothing. */
function acceptWebSocket(ws: WebSocket, socket: Socket, req: IncomingMessage, opts: DerpHttpOptions): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  const conn: FrameConn = {
    write(chunks) {
      if (ws.readyState !== ws.OPEN) return;
      let total = 0;
      for (const c of chunks) total += c.length;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      // Keep each message within derper's 32 KiB read limit; peers may be just as strict.
      for (let off = 0; off < all.length; off += WS_MAX_WRITE_MESSAGE_BYTES) {
        ws.send(all.subarray(off, Math.min(all.length, off + WS_MAX_WRITE_MESSAGE_BYTES)), { binary: true });
      }
    },
    backlogBytes: () => ws.bufferedAmount,
    close(reason) {
      if (hardClose(reason)) ws.terminate();
      else {
        ws.close(1000);
        setTimeout(() => ws.terminate(), CLOSE_LINGER_MS).unref();
      }
    },
  };
  const handle = opts.server.accept(conn, acceptInfo(req, socket));
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (!isBinary) {
      ws.close(1003, 'text messages are not DERP');
      return;
    }
    const bufs = Array.isArray(data) ? data : [Buffer.isBuffer(data) ? data : Buffer.from(data)];
    for (const b of bufs) handle.receive(view(b));
    opts.kick();
  });
  socket.on('drain', () => handle.writable());
  ws.on('error', () => {});
  ws.on('close', () => {
    handle.closed();
    opts.kick();
  });
  opts.kick();
}

function serveRequest(req: IncomingMessage, res: ServerResponse, opts: DerpHttpOptions): void {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  switch (path) {
    case '/derp': {
      const body = 'DERP requires connection upgrade';
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    case '/derp/probe':
    case '/derp/latency-check':
      if (method !== 'GET' && method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('bogus probe method');
        return;
      }
      res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Length': 0 });
      res.end();
      return;
    case '/generate_204':
      serveNoContent(req, res);
      return;
    case '/metrics':
      if (!opts.registry) break;
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': opts.registry!.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    case '/bootstrap-dns': {
      const body = opts.bootstrapDns?.answer(queryParam(req.url, 'q')) ?? '{}';
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    case '/debug':
    case '/debug/':
    case '/debug/varz':
    case '/debug/vars':
      if (opts.varz) return serveDebug(path, req, res, opts.varz);
      break;
    case '/robots.txt':
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('User-agent: *\nDisallow: /\n');
      return;
    case '/': {
      const g = opts.server.gauges();
      const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>tsplane DERP</title></head><body>\n` +
        `<h1>tsplane DERP relay</h1>\n<p>This is a Tailscale-compatible DERP server.</p>\n<ul>\n` +
        `<li>Hostname: ${escapeHtml(opts.hostname ?? '')}</li>\n` +
        `<li>Public key: nodekey:${keyHex(opts.server.publicKey)}</li>\n` +
        `<li>Connections: ${g.currentConnections}</li>\n<li>Mesh key: ${opts.server.hasMeshKey}</li>\n</ul>\n` +
        `<p><a href="/metrics">metrics</a></p>\n</body></html>\n`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : html);
      return;
    }
  }
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
}

/** derper's debug pages: loopback/Tailscale callers only, never through a proxy (derp.md §7). */
function serveDebug(path: string, req: IncomingMessage, res: ServerResponse, varz: () => VarzInput): void {
  const forwarded = req.headers['x-forwarded-for'];
  if (!allowDebugAccess(req.socket.remoteAddress, Array.isArray(forwarded) ? forwarded.join(',') : forwarded)) {
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('debug access denied\n');
    return;
  }
  if (path === '/debug') {
    res.writeHead(302, { Location: '/debug/' });
    res.end();
    return;
  }
  const [type, body] = path === '/debug/varz'
    ? ['text/plain; version=0.0.4; charset=utf-8', formatVarz(varz())]
    : path === '/debug/vars'
      ? ['application/json', formatVars(varz())]
      : ['text/html; charset=utf-8', '<!DOCTYPE html>\n<html><body><h1>tsplane DERP debug</h1>\n<ul><li><a href="/debug/varz">/debug/varz</a> (Prometheus, derper names)</li>\n<li><a href="/debug/vars">/debug/vars</a> (JSON)</li></ul>\n' +
        `<p>Uptime: ${Math.floor(varz().uptimeSeconds)} s</p></body></html>\n`];
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** One query-string parameter of a request target, or undefined (also for a malformed target). */
function queryParam(target: string | undefined, name: string): string | undefined {
  const q = (target ?? '').indexOf('?');
  if (q < 0) return undefined;
  try {
    return new URLSearchParams(target!.slice(q + 1)).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/** `/generate_204`: captive-portal check with the challenge echo (derp.md §2.3). */
function serveNoContent(req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string> = { 'Cache-Control': 'no-cache, no-store, must-revalidate, no-transform, max-age=0' };
  const challenge = req.headers['x-tailscale-challenge'];
  if (typeof challenge === 'string' && CHALLENGE_RE.test(challenge)) headers['X-Tailscale-Response'] = `response ${challenge}`;
  res.writeHead(204, headers);
  res.end();
}

/**
 * The plain-HTTP side listener of a TLS relay (derper `-http-port`, usually 80): serves only
 * `/generate_204`, which clients probe on nodes marked `CanPort80`.
 */
export function attachCaptivePortalHttp(http: HttpServer): void {
  http.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
  http.requestTimeout = HTTP_HEADERS_TIMEOUT_MS;
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if ((req.url ?? '').split('?')[0] === '/generate_204') return serveNoContent(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
