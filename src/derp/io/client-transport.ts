/**
 * Client transports for DERP: one byte-stream interface over either
 *  - HTTP/1.1 `Upgrade: DERP` on a raw TCP (`http:`) or TLS (`https:`) socket (derp.md §2.1), or
 *  - WebSocket with subprotocol `derp` (`ws:`/`wss:`, or `http(s):` with `transport: 'websocket'`),
 *    where message boundaries mean nothing and every message we send is at most 32 KiB,
 *    because derper's websocket library closes with 1009 above 32768 bytes (derp.md §2.2).
 * The DERP protocol itself (client.ts) sees only bytes, as Tailscale's `wsconn` makes both
 * transports look the same.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { TsplaneError } from '../../runtime/errors.js';

/** derper's read limit per WebSocket message; we never send a larger message. */
export const WS_MAX_MESSAGE_BYTES = 32 * 1024;
/** Cap on the HTTP response head we buffer before the 101 (status line + headers). */
export const MAX_HTTP_HEAD_BYTES = 16 * 1024;
/** Cap on an error body we read for the message when the server refuses the upgrade. */
const MAX_ERROR_BODY_BYTES = 1024;
/** derp.md §2.4: the whole connect (TCP, TLS, HTTP) gets 10 s. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

export type DerpTransportKind = 'upgrade' | 'websocket';

/** TLS settings for `https:`/`wss:`. */
export interface DerpTlsOptions {
  /** Extra trusted CA certificates (PEM), e.g. a self-signed test certificate. */
  readonly ca?: string | Buffer | (string | Buffer)[];
  /** Skip certificate verification (tests and `derp check --insecure` only). */
  readonly insecureSkipVerify?: boolean;
  /** SNI and name to verify; default the URL's hostname (not including the port, as HEAD Tailscale does). */
  readonly serverName?: string;
}

export interface DialOptions {
  /** Force a transport; default from the scheme: ws/wss → websocket, http/https → upgrade. */
  readonly transport?: DerpTransportKind;
  readonly tls?: DerpTlsOptions;
  readonly timeoutMs?: number;
}

/** A connected DERP byte stream. Callbacks are set once by the owner; data views are only valid during the call. */
export interface DerpStream {
  readonly kind: DerpTransportKind;
  /** Queues bytes; returns false when the stream is closed. */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued but not yet handed to the kernel (for back-pressure and drop decisions). */
  readonly bufferedBytes: number;
  onData(cb: (bytes: Uint8Array) => void): void;
  /** Called exactly once, when the stream ends for any reason. */
  onClose(cb: (error?: Error) => void): void;
  close(): void;
}

/** Normalises a user URL: default path `/derp`; keeps scheme, host and port. */
export function derpUrl(input: string | URL): URL {
  const url = new URL(input.toString());
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new TsplaneError('DERP_ERR_URL', `unsupported DERP URL scheme ${url.protocol} (use http, https, ws or wss)`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/derp';
  return url;
}

function isSecure(url: URL): boolean {
  return url.protocol === 'https:' || url.protocol === 'wss:';
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : isSecure(url) ? 443 : 80;
}

/** URL hostname without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function tlsOptions(url: URL, tls: DerpTlsOptions | undefined): ConnectionOptions {
  const host = bareHost(url);
  const servername = tls?.serverName ?? (/^[0-9.]+$|:/.test(host) ? undefined : host);
  return {
    ...(servername ? { servername } : {}),
    ...(tls?.ca ? { ca: tls.ca } : {}),
    rejectUnauthorized: !(tls?.insecureSkipVerify ?? false),
    ALPNProtocols: ['http/1.1'],
  };
}

/** Opens a DERP byte stream to `url` (see module comment for the scheme rules). */
export async function dialDerp(input: string | URL, opts: DialOptions = {}): Promise<DerpStream> {
  const url = derpUrl(input);
  const kind: DerpTransportKind = opts.transport ?? (url.protocol === 'ws:' || url.protocol === 'wss:' ? 'websocket' : 'upgrade');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  return kind === 'websocket' ? dialWebSocket(url, opts.tls, timeoutMs) : dialUpgrade(url, opts.tls, timeoutMs);
}

/**
 * A plain Uint8Array view of a Buffer's bytes (no copy). The cores call `slice()` to keep
 * bytes, and `Buffer.prototype.slice` returns a view, not a copy; handing them a plain
 * Uint8Array makes `slice()` copy as they expect.
 */
function plainView(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The receiving half both transports share: chunks that arrive before a reader attaches wait in
 * order (copied, since the socket may reuse its buffers), and the end is reported once, with
 * the first error seen.
 */
abstract class InboundBytes {
  #onData: ((b: Uint8Array) => void) | undefined;
  #onClose: ((e?: Error) => void) | undefined;
  #pending: Uint8Array[] = [];
  #closed = false;
  #error: Error | undefined;

  constructor(leftover?: Uint8Array) {
    if (leftover !== undefined && leftover.length > 0) this.#pending.push(leftover);
  }
  protected get closed(): boolean {
    return this.#closed;
  }
  protected deliver(b: Buffer): void {
    if (this.#onData) this.#onData(plainView(b));
    else this.#pending.push(new Uint8Array(b));
  }
  protected noteError(e: Error): void {
    this.#error ??= e;
  }
  protected finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose?.(this.#error);
  }
  onData(cb: (b: Uint8Array) => void): void {
    this.#onData = cb;
    const pending = this.#pending;
    this.#pending = [];
    for (const b of pending) cb(b);
  }
  onClose(cb: (e?: Error) => void): void {
    this.#onClose = cb;
    if (this.#closed) cb(this.#error);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP Upgrade: DERP

class SocketStream extends InboundBytes implements DerpStream {
  readonly kind = 'upgrade' as const;
  readonly #socket: Socket;
  #corked = false;

  constructor(socket: Socket, leftover: Uint8Array) {
    super(leftover);
    this.#socket = socket;
    socket.on('data', (b: Buffer) => this.deliver(b));
    socket.on('error', (e) => this.noteError(e));
    socket.on('close', () => this.finish());
    socket.setNoDelay(true);
  }
  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }
  write(bytes: Uint8Array): boolean {
    if (this.closed || this.#socket.destroyed) return false;
    // Frames written in one tick leave in one writev (cork until the next tick), as Go's
    // client flushes its bufio writer once per burst.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(bytes);
    return true;
  }
  close(): void {
    this.#socket.destroy();
  }
}

function dialUpgrade(url: URL, tls: DerpTlsOptions | undefined, timeoutMs: number): Promise<DerpStream> {
  return new Promise<DerpStream>((resolve, reject) => {
    const host = bareHost(url);
    const port = defaultPort(url);
    const secure = isSecure(url);
    const socket: Socket = secure ? tlsConnect({ host, port, ...tlsOptions(url, tls) }) : netConnect({ host, port });
    let head = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => fail(new TsplaneError('DERP_ERR_DIAL_TIMEOUT', `DERP dial to ${url.host} timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HTTP_HEAD_BYTES) fail(new TsplaneError('DERP_ERR_HTTP', 'DERP upgrade: response head too large'));
        return;
      }
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!status || status[1] !== '101') {
        const body = head.subarray(end + 4, end + 4 + MAX_ERROR_BODY_BYTES).toString('utf8').trim();
        fail(new TsplaneError('DERP_ERR_HTTP', `DERP upgrade refused: ${lines[0] ?? '(no status)'}${body ? `: ${body}` : ''}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onEarlyClose);
      resolve(new SocketStream(socket, new Uint8Array(head.subarray(end + 4))));
    };
    const onEarlyClose = (): void => fail(new TsplaneError('DERP_ERR_HTTP', `DERP upgrade: connection to ${url.host} closed before 101`));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onEarlyClose);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      const hostHeader = url.port ? `${url.hostname}:${url.port}` : url.hostname;
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: tsplane\r\n` +
          'Upgrade: DERP\r\nConnection: Upgrade\r\n\r\n',
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------
// WebSocket, subprotocol "derp"

class WebSocketStream extends InboundBytes implements DerpStream {
  readonly kind = 'websocket' as const;
  readonly #ws: WebSocket;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #flushQueued = false;

  constructor(ws: WebSocket) {
    super();
    this.#ws = ws;
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) {
        // derp.md §2.2: a text message is a protocol violation (1003 unsupported data).
        this.noteError(new TsplaneError('DERP_ERR_WS', 'DERP over WebSocket: text message received'));
        ws.close(1003);
        return;
      }
      const chunks = Array.isArray(data) ? data : [data instanceof ArrayBuffer ? Buffer.from(data) : data];
      for (const c of chunks) this.deliver(c);
    });
    ws.on('error', (e) => this.noteError(e));
    ws.on('close', (code: number) => {
      // 1000 and 1001 read as EOF; any other code is an error.
      if (code !== 1000 && code !== 1001 && code !== 1005) this.noteError(new TsplaneError('DERP_ERR_WS', `DERP over WebSocket closed with ${code}`));
      this.finish();
    });
  }
  get bufferedBytes(): number {
    return this.#ws.bufferedAmount + this.#outBytes;
  }
  write(bytes: Uint8Array): boolean {
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN) return false;
    // Frames written in one tick are coalesced into as few messages as the 32 KiB cap allows
    // (message boundaries mean nothing in DERP over WebSocket).
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
    return true;
  }
  #flush(): void {
    this.#flushQueued = false;
    const parts = this.#out;
    const total = this.#outBytes;
    this.#out = [];
    this.#outBytes = 0;
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN || total === 0) return;
    let all: Uint8Array;
    if (parts.length === 1) all = parts[0]!;
    else {
      all = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
    }
    for (let off = 0; off < all.length; off += WS_MAX_MESSAGE_BYTES) {
      this.#ws.send(all.subarray(off, Math.min(all.length, off + WS_MAX_MESSAGE_BYTES)), { binary: true });
    }
  }
  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    else this.#ws.terminate();
    // Do not wait for the closing handshake to report the end.
    this.finish();
    this.#ws.terminate();
  }
}

function dialWebSocket(url: URL, tls: DerpTlsOptions | undefined, timeoutMs: number): Promise<DerpStream> {
  const wsUrl = new URL(url.toString());
  if (wsUrl.protocol === 'http:') wsUrl.protocol = 'ws:';
  if (wsUrl.protocol === 'https:') wsUrl.protocol = 'wss:';
  return new Promise<DerpStream>((resolve, reject) => {
    const ws = new WebSocket(wsUrl, ['derp'], {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      maxPayload: 1024 * 1024 + 5,
      ...(wsUrl.protocol === 'wss:' ? tlsOptions(wsUrl, tls) : {}),
    });
    ws.binaryType = 'nodebuffer';
    // Construct the stream before 'open' so no early message is lost.
    const stream = new WebSocketStream(ws);
    const onError = (e: Error): void => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(new TsplaneError('DERP_ERR_WS', `DERP WebSocket to ${wsUrl.host}: ${e.message}`, { cause: e }));
    };
    const onOpen = (): void => {
      ws.off('error', onError);
      if (ws.protocol !== 'derp') {
        stream.close();
        reject(new TsplaneError('DERP_ERR_WS', `DERP WebSocket to ${wsUrl.host}: server did not agree to subprotocol "derp"`));
        return;
      }
      resolve(stream);
    };
    ws.once('error', onError);
    ws.once('open', onOpen);
  });
}
