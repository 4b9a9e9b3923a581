/**
 * Starts a real DERP relay on loopback for client tests: the relay core (src/derp/server.ts)
 * behind a small HTTP edge that accepts `Upgrade: DERP` and WebSocket `derp`, optionally over
 * TLS. Port 0 only. Also makes a self-signed certificate with openssl in a temp dir.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { SystemClock } from '../../../src/runtime/clock.js';
import { Scheduler } from '../../../src/runtime/loop.js';
import { SystemRng } from '../../../src/runtime/rng.js';
import { toHex } from '../../../src/runtime/bytes.js';
import { DerpServer, type FrameConn } from '../../../src/derp/server.js';
import { generateNodePrivateKey, type NodePrivateKey } from '../../../src/derp/protocol.js';

export interface TestRelay {
  readonly server: DerpServer;
  readonly privateKey: NodePrivateKey;
  readonly port: number;
  /** `http(s)://127.0.0.1:PORT/derp`. */
  readonly url: string;
  /** `ws(s)://127.0.0.1:PORT/derp`. */
  readonly wsUrl: string;
  close(): Promise<void>;
}

export interface SelfSignedCert {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed EC certificate for 127.0.0.1/localhost, made with openssl in a temp dir. */
export function makeSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'tsp-derpc-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startRelay(opts: { tls?: SelfSignedCert; meshKey?: Uint8Array; privateKey?: NodePrivateKey; port?: number } = {}): Promise<TestRelay> {
  const clock = new SystemClock();
  const rng = new SystemRng();
  const privateKey = opts.privateKey ?? generateNodePrivateKey(rng);
  const server = new DerpServer({ privateKey, clock, rng, ...(opts.meshKey ? { meshKey: opts.meshKey } : {}) });
  const scheduler = new Scheduler(clock);
  scheduler.add({ nextDeadline: () => server.nextDeadline(), onDeadline: (now) => server.poll(now) });
  const sockets = new Set<Duplex>();
  // derper's websocket reader closes messages over 32768 bytes (derp.md §2.2); mirror that so the
  // client's 32 KiB split is exercised.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 32 * 1024, handleProtocols: (p) => (p.has('derp') ? 'derp' : false) });

  const http: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }) : createHttpServer();
  http.on('request', (_req, res) => {
    res.writeHead(426).end('DERP requires connection upgrade');
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const conn: FrameConn = {
          write: (chunks) => {
            for (const c of chunks) ws.send(c, { binary: true });
          },
          backlogBytes: () => ws.bufferedAmount,
          close: () => ws.terminate(),
        };
        const h = server.accept(conn);
        ws.on('message', (d: Buffer) => {
          h.receive(d);
          scheduler.kick();
        });
        ws.on('close', () => h.closed());
        ws.on('error', () => h.closed());
        scheduler.kick();
      });
      return;
    }
    if (upgrade !== 'derp') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\n\r\nDERP requires connection upgrade');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\nDerp-Public-Key: ${toHex(server.publicKey)}\r\n\r\n`);
    const conn: FrameConn = {
      write: (chunks) => {
        for (const c of chunks) socket.write(c);
      },
      backlogBytes: () => (socket as unknown as { writableLength: number }).writableLength,
      close: () => socket.destroy(),
    };
    const h = server.accept(conn);
    if (head.length > 0) h.receive(head);
    socket.on('data', (d: Buffer) => {
      h.receive(d);
      scheduler.kick();
    });
    socket.on('drain', () => h.writable());
    // http.Server sockets allow half-open: the client's FIN only emits 'end'.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => h.closed());
    socket.on('error', () => h.closed());
    scheduler.kick();
  });
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const s = opts.tls ? 's' : '';
  return {
    server,
    privateKey,
    port,
    url: `http${s}://127.0.0.1:${port}/derp`,
    wsUrl: `ws${s}://127.0.0.1:${port}/derp`,
    async close(): Promise<void> {
      scheduler.stop();
      for (const sock of sockets) sock.destroy();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
