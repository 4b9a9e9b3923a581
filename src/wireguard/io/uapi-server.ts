/**
 * The UAPI control socket: a unix SOCK_STREAM server at /var/run/wireguard/IFNAME.sock, where
 * the stock `wg` and `wg-quick` find userspace implementations (wireguard.md §2.1).
 *
 * - The directory is created if needed; the socket is created under umask 077 (mode 0700).
 * - An existing socket path is probed: if a connect succeeds another daemon owns it ("in use");
 *   if it fails the path is stale and is replaced.
 * - A connection may carry several requests. Requests from all connections are handled one at a
 *   time, in arrival order, so a `set` (which may rebind sockets) is atomic with respect to `get`.
 * - Deleting or replacing the socket file is a request to exit (`onSocketGone`), as for
 *   wireguard-go.
 */
import net from 'node:net';
import { mkdirSync, statSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { TsplaneError } from '../../runtime/errors.js';
import { UAPI_ERRNO, UapiRequestFramer, parseUapiRequest, renderErrno, type UapiFrame } from '../uapi.js';
import type { DeviceConfigChange } from '../device-api.js';

export const DEFAULT_UAPI_DIR = '/var/run/wireguard';
/** Concurrent control connections; `wg` uses at most two at a time. */
const MAX_CONNECTIONS = 64;

export interface UapiHandler {
  /** The complete `get=1` reply (ends with `errno=0` and a blank line). */
  get(): string;
  /** Applies a validated change atomically; resolves to 0 or a negative errno. */
  set(change: DeviceConfigChange): Promise<number>;
  /** A request failed to parse (for logs). */
  onBadRequest?(errno: number, reason: string): void;
}

function probeInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class UapiServer {
  readonly path: string;
  readonly #server: net.Server;
  readonly #handler: UapiHandler;
  readonly #connections = new Set<net.Socket>();
  #chain: Promise<void> = Promise.resolve();
  #watcher: FSWatcher | undefined;
  #inode = 0;
  #closed = false;

  private constructor(path: string, handler: UapiHandler) {
    this.path = path;
    this.#handler = handler;
    this.#server = net.createServer((s) => this.#accept(s));
    this.#server.maxConnections = MAX_CONNECTIONS;
  }

  /** Opens `DIR/IFNAME.sock`. `onSocketGone` fires once if the file is later deleted or replaced. */
  static async open(ifname: string, handler: UapiHandler, opts: { dir?: string; onSocketGone?: () => void } = {}): Promise<UapiServer> {
    const dir = opts.dir ?? DEFAULT_UAPI_DIR;
    const path = join(dir, `${ifname}.sock`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (statSync(path, { throwIfNoEntry: false })) {
      if (await probeInUse(path)) throw new TsplaneError('WG_ERR_UAPI_IN_USE', `unix socket in use: ${path}`);
      unlinkSync(path);
    }
    const srv = new UapiServer(path, handler);
    const oldMask = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        srv.#server.once('error', reject);
        srv.#server.listen(path, () => {
          srv.#server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw new TsplaneError('WG_ERR_UAPI_LISTEN', `cannot listen on ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      process.umask(oldMask);
    }
    srv.#inode = statSync(path).ino;
    if (opts.onSocketGone) srv.#watch(dir, `${ifname}.sock`, opts.onSocketGone);
    return srv;
  }

  #watch(dir: string, file: string, onGone: () => void): void {
    let fired = false;
    const check = (): void => {
      if (fired || this.#closed) return;
      const st = statSync(this.path, { throwIfNoEntry: false });
      if (!st || st.ino !== this.#inode) {
        fired = true;
        onGone();
      }
    };
    try {
      this.#watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || name === file) check();
      });
      this.#watcher.on('error', () => check());
    } catch {
      // No inotify: the daemon still exits on SIGTERM and on TUN removal.
    }
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    const framer = new UapiRequestFramer();
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        // A handler that throws costs that connection, never the daemon (or the queue behind it).
        this.#chain = this.#chain
          .then(() => this.#serve(socket, frame))
          .catch((err: unknown) => {
            this.#handler.onBadRequest?.(UAPI_ERRNO.EIO, `handler failed: ${err instanceof Error ? err.message : String(err)}`);
            socket.destroy();
          });
      }
    });
  }

  async #serve(socket: net.Socket, frame: UapiFrame): Promise<void> {
    if (socket.destroyed || this.#closed) return;
    if (frame.type === 'overflow') {
      this.#handler.onBadRequest?.(UAPI_ERRNO.EPROTO, 'request over the size bounds');
      socket.end(renderErrno(UAPI_ERRNO.EPROTO));
      return;
    }
    const req = parseUapiRequest(frame.lines);
    let reply: string;
    switch (req.op) {
      case 'get':
        reply = this.#handler.get();
        break;
      case 'set':
        reply = renderErrno(await this.#handler.set(req.change));
        break;
      case 'error':
        this.#handler.onBadRequest?.(req.errno, req.reason);
        if (req.fatal) {
          socket.end(renderErrno(req.errno));
          return;
        }
        reply = renderErrno(req.errno);
        break;
    }
    if (socket.destroyed) return;
    if (!socket.write(reply)) {
      // A client that does not read its replies stops being read (bounded buffering).
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  }

  /** Stops listening, drops connections and removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    for (const c of this.#connections) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (st && st.ino === this.#inode) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
