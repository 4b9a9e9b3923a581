/**
 * A minimal DERP client for loopback tests: raw `Upgrade: DERP` over net/tls sockets (reading
 * the 101 by hand) or WebSocket via the `ws` client with subprotocol `derp`. It uses the real
 * frame and protocol codecs, so a protocol bug on either side fails the tests.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { FrameDecoder, FrameType, MAX_CLIENT_RECV_FRAME_BYTES, encodeFrame, type Frame } from '../../../src/derp/frame.js';
import {
  decodeServerKey, generateNodePrivateKey, openServerInfo, publicKeyOf, sealClientInfo,
  type ClientInfo, type NodePrivateKey, type NodePublicKey,
} from '../../../src/derp/protocol.js';
import { SystemRng } from '../../../src/runtime/rng.js';

const rng = new SystemRng();

export interface ConnectOptions {
  priv?: NodePrivateKey;
  info?: Partial<ClientInfo>;
  fastStart?: boolean;
  /** Trust this CA/self-signed cert (PEM) for https URLs. */
  ca?: string | Buffer;
  transport?: 'upgrade' | 'websocket';
  extraHeaders?: Record<string, string>;
  /** Skip the DERP handshake (return right after the HTTP upgrade). */
  noHandshake?: boolean;
}

export class StreamDerpClient {
  readonly priv: NodePrivateKey;
  readonly pub: NodePublicKey;
  serverKey: NodePublicKey | undefined;
  /** The raw HTTP response head (up to and including the blank line), for upgrade connections. */
  responseHead = '';
  readonly #decoder = new FrameDecoder({ maxFrameBytes: MAX_CLIENT_RECV_FRAME_BYTES });
  readonly #frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  #closed = false;
  #write: (b: Uint8Array) => void = () => {};
  #pause: () => void = () => {};
  #close: () => void = () => {};

  private constructor(priv: NodePrivateKey) {
    this.priv = priv;
    this.pub = publicKeyOf(priv);
  }

  get closed(): boolean {
    return this.#closed;
  }

  static async connect(url: string, opts: ConnectOptions = {}): Promise<StreamDerpClient> {
    const c = new StreamDerpClient(opts.priv ?? generateNodePrivateKey(rng));
    if (opts.transport === 'websocket') await c.#openWebSocket(url, opts);
    else await c.#openUpgrade(url, opts);
    if (!opts.noHandshake) await c.handshake(opts.info);
    return c;
  }

  async handshake(info: Partial<ClientInfo> = {}): Promise<void> {
    const first = await this.next(5000);
    if (first.type !== FrameType.ServerKey) throw new Error(`want ServerKey, got type ${first.type}`);
    const sk = decodeServerKey(first.payload);
    if (!sk.ok) throw new Error(sk.message);
    this.serverKey = sk.serverKey;
    const full: ClientInfo = { version: 2, canAckPings: true, isProber: false, ...info };
    this.send(FrameType.ClientInfo, sealClientInfo(this.priv, sk.serverKey, rng.fill(new Uint8Array(24)), full)!);
    const si = await this.next(5000);
    if (si.type !== FrameType.ServerInfo) throw new Error(`want ServerInfo, got type ${si.type}`);
    const opened = openServerInfo(this.priv, sk.serverKey, si.payload);
    if (!opened.ok || opened.info.version !== 2) throw new Error('bad ServerInfo');
  }

  send(type: number, ...parts: Uint8Array[]): void {
    this.#write(encodeFrame(type, ...parts));
  }

  sendPacket(dst: Uint8Array, packet: Uint8Array): void {
    this.send(FrameType.SendPacket, dst, packet);
  }

  /** The next frame, waiting up to `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.#frames.shift();
      if (f) return f;
      if (this.#closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next frame of `type`, skipping others (KeepAlive etc.). */
  async nextOfType(type: number, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f.type === type) return f;
    }
  }

  /** Resolves when the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error('still open');
      this.#frames.length = 0;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#close();
  }

  /** Stops reading from the transport (a silent, stuck client). */
  pauseReading(): void {
    this.#pause();
  }

  #onBytes(b: Uint8Array): void {
    const r = this.#decoder.push(new Uint8Array(b));
    if (r.error) {
      this.close();
      return;
    }
    this.#frames.push(...r.frames);
    this.#wake();
  }

  #onClosed(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #openUpgrade(url: string, opts: ConnectOptions): Promise<void> {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const socket: Socket = u.protocol === 'https:'
      ? tlsConnect({ host: u.hostname, port, servername: 'localhost', ...(opts.ca ? { ca: opts.ca } : {}) })
      : netConnect({ host: u.hostname, port });
    await new Promise<void>((resolve, reject) => {
      socket.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    const headers = { ...(opts.fastStart ? { 'Derp-Fast-Start': '1' } : {}), ...opts.extraHeaders };
    let req = `GET /derp HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nUser-Agent: Go-http-client/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
    socket.write(`${req}\r\n`);
    this.#write = (b) => {
      if (!socket.destroyed) socket.write(b);
    };
    this.#close = () => socket.destroy();
    this.#pause = () => socket.pause();
    socket.on('error', () => {});
    socket.on('close', () => this.#onClosed());
    if (opts.fastStart) {
      socket.on('data', (b: Buffer) => this.#onBytes(b));
      return;
    }
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer): void => {
        head = Buffer.concat([head, b]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        this.responseHead = head.subarray(0, end + 4).toString('latin1');
        if (!this.responseHead.startsWith('HTTP/1.1 101 ')) {
          reject(new Error(`upgrade refused: ${this.responseHead.split('\r\n')[0]}`));
          return;
        }
        socket.on('data', (d: Buffer) => this.#onBytes(d));
        const rest = head.subarray(end + 4);
        if (rest.length > 0) this.#onBytes(rest);
        resolve();
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error('closed during upgrade')));
    });
  }

  async #openWebSocket(url: string, opts: ConnectOptions): Promise<void> {
    const wsUrl = url.replace(/^http/, 'ws') + '/derp';
    const ws = new WebSocket(wsUrl, ['derp'], { perMessageDeflate: false, ...(opts.ca ? { ca: opts.ca, servername: 'localhost' } : {}) });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => this.#onBytes(data));
    ws.on('close', () => this.#onClosed());
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (ws.protocol !== 'derp') throw new Error(`subprotocol ${ws.protocol}`);
    this.#write = (b) => {
      // Keep messages at or below 32 KiB, as derp.md §2.2 asks of clients.
      for (let off = 0; off < b.length; off += 32 * 1024) ws.send(b.subarray(off, off + 32 * 1024));
    };
    this.#close = () => ws.terminate();
    this.#pause = () => ws.pause();
  }
}
