/**
 * `DerpClient`: the DERP client for users — a WireGuard peer relaying over DERP, the mesh
 * watcher, `tsplane derp check` and the benchmarks. It owns one transport (client-transport.ts)
 * and one sans-IO `DerpClientCore` at a time and reconnects with exponential backoff and
 * jitter when the connection drops, honouring a server's Restarting frame (derp.md §3.2:
 * reconnect after `reconnectIn`, keep trying for `tryFor`).
 *
 *   const c = new DerpClient({ url: 'https://derp.example.com/derp', privateKey });
 *   c.onPacket((src, bytes) => …);
 *   await c.connect();
 *   c.sendPacket(peerKey, bytes);
 *
 * Timing: the core's handshake/read timeouts and ping timeouts run on the shared runtime
 * Scheduler (one ticker). The reconnect delay uses its own timer, because it is the only thing
 * that must keep the process alive while no socket is open.
 */
import { SystemClock, type Clock } from '../../runtime/clock.js';
import { Scheduler, type DeadlineSource } from '../../runtime/loop.js';
import { SystemRng, type Rng } from '../../runtime/rng.js';
import { RECONNECT_INITIAL_MS, RECONNECT_MAX_MS, reconnectDelayMs } from '../reconnect.js';
import { TsplaneError } from '../../runtime/errors.js';
import { DerpClientCore, type ClientMessage, type SendResult } from '../client.js';
import { publicKeyOf, type NodePrivateKey, type NodePublicKey, type ServerInfo } from '../protocol.js';
import { dialDerp, type DerpStream, type DerpTlsOptions, type DerpTransportKind } from './client-transport.js';

/** Default ceiling on bytes waiting in the socket before `sendPacket` drops (tail drop). */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** derphttp.Client.Ping waits at most 5 s for the Pong. */
export const DEFAULT_PING_TIMEOUT_MS = 5_000;

export interface BackoffOptions {
  /** First delay after a failure. Default 250 ms. */
  readonly initialMs?: number;
  /** Ceiling for the doubling delay. Default 10 s. */
  readonly maxMs?: number;
}

export interface DerpClientOptions {
  /**
   * `http(s)://host[:port][/derp]` for Upgrade: DERP, `ws(s)://…` for WebSocket. Several URLs
   * (the nodes of one meshed region) are tried in turn: each failed connect moves to the next.
   */
  readonly url: string | URL | readonly (string | URL)[];
  readonly privateKey: NodePrivateKey;
  /** Force a transport regardless of scheme (`derp check --ws`). */
  readonly transport?: DerpTransportKind;
  readonly tls?: DerpTlsOptions;
  /** 32-byte mesh key: a trusted mesh or prober client (WatchConns, ClosePeer, ForwardPacket). */
  readonly meshKey?: Uint8Array;
  readonly isProber?: boolean;
  /** Send NotePreferred(1) after each handshake ("this is my home server"). Default false. */
  readonly preferred?: boolean;
  /** Reconnect after a drop. Default true. `connect()` itself never retries. */
  readonly reconnect?: boolean;
  readonly backoff?: BackoffOptions;
  readonly maxBufferedBytes?: number;
  readonly dialTimeoutMs?: number;
  readonly clock?: Clock;
  readonly rng?: Rng;
  /** Shared runtime scheduler; one is made when absent. */
  readonly scheduler?: Scheduler;
}

type PacketHandler = (source: NodePublicKey, data: Uint8Array) => void;
type MessageHandler = (message: ClientMessage) => void;

interface PendingPing {
  readonly data: string;
  readonly sentAt: number;
  readonly deadline: number;
  readonly resolve: (rttMs: number) => void;
  readonly reject: (e: Error) => void;
}

/** A reconnecting DERP client. */
export class DerpClient implements DeadlineSource {
  readonly publicKey: NodePublicKey;
  readonly #opts: DerpClientOptions;
  readonly #urls: (string | URL)[];
  #urlIndex = 0;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #scheduler: Scheduler;
  readonly #ownScheduler: boolean;
  #stream: DerpStream | undefined;
  #core: DerpClientCore | undefined;
  #closed = false;
  #connecting: Promise<void> | undefined;
  #failures = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** From a Restarting frame: retry quickly from `restartAt` until `restartUntil`. */
  #restartAt = 0;
  #restartUntil = 0;
  #pings: PendingPing[] = [];
  #packetHandlers: PacketHandler[] = [];
  #messageHandlers: MessageHandler[] = [];
  #connectedHandlers: ((info: ServerInfo, serverKey: NodePublicKey) => void)[] = [];
  #disconnectedHandlers: ((reason: string) => void)[] = [];
  /** Reconnects completed after the first connect (for tests and metrics). */
  reconnects = 0n;
  /** Packets dropped because the socket was backed up. */
  dropsBackpressure = 0n;

  constructor(opts: DerpClientOptions) {
    this.#opts = opts;
    this.#urls = Array.isArray(opts.url) ? [...(opts.url as readonly (string | URL)[])] : [opts.url as string | URL];
    if (this.#urls.length === 0) throw new TsplaneError('DERP_ERR_URL', 'DerpClient: no URL given');
    this.publicKey = publicKeyOf(opts.privateKey);
    this.#clock = opts.clock ?? new SystemClock();
    this.#rng = opts.rng ?? new SystemRng();
    this.#ownScheduler = opts.scheduler === undefined;
    this.#scheduler = opts.scheduler ?? new Scheduler(this.#clock);
    this.#scheduler.add(this);
  }

  /** The URL in use (or tried next). */
  get url(): string | URL {
    return this.#urls[this.#urlIndex]!;
  }

  /** True after ServerInfo on the current connection. */
  get connected(): boolean {
    return this.#core?.state === 'connected';
  }
  get serverKey(): NodePublicKey | undefined {
    return this.#core?.serverKey;
  }
  /** Bytes waiting in the transport (for pacing). */
  get bufferedBytes(): number {
    return this.#stream?.bufferedBytes ?? 0;
  }

  /** Called for every RecvPacket. `data` aliases a transport buffer: copy it to keep it. Returns an unsubscribe function. */
  onPacket(cb: PacketHandler): () => void {
    this.#packetHandlers.push(cb);
    return () => {
      this.#packetHandlers = this.#packetHandlers.filter((h) => h !== cb);
    };
  }
  /** Called for every other message (peerGone, peerPresent, ping, pong, health, restarting, keepAlive, closed). */
  onMessage(cb: MessageHandler): () => void {
    this.#messageHandlers.push(cb);
    return () => {
      this.#messageHandlers = this.#messageHandlers.filter((h) => h !== cb);
    };
  }
  onConnected(cb: (info: ServerInfo, serverKey: NodePublicKey) => void): void {
    this.#connectedHandlers.push(cb);
  }
  onDisconnected(cb: (reason: string) => void): void {
    this.#disconnectedHandlers.push(cb);
  }

  /** Connects once (no retries); resolves after ServerInfo. Later drops reconnect in the background. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new TsplaneError('DERP_ERR_CLOSED', 'DerpClient is closed'));
    if (this.connected) return Promise.resolve();
    this.#connecting ??= this.#connectOnce().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /**
   * Connects in the background and keeps retrying with backoff until connected, then keeps
   * reconnecting after drops, until `close()`. For relays' mesh links and long-lived peers.
   */
  start(): void {
    if (this.#closed || this.connected || this.#connecting || this.#reconnectTimer) return;
    this.connect().catch(() => {
      this.#failures++;
      this.#scheduleReconnect();
    });
  }

  /** Sends a packet to `dst` through the relay; false when it was dropped. Best effort. */
  sendPacket(dst: Uint8Array, packet: Uint8Array): boolean {
    const core = this.#core;
    if (!core || !this.#stream) return false;
    if (this.#stream.bufferedBytes > (this.#opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)) {
      this.dropsBackpressure++;
      return false;
    }
    return this.#flushAfter(core.sendPacket(dst, packet, this.#clock.monotonicMs()));
  }

  /** Mesh only: relays a packet from `src` (a client of ours) to `dst` (a client of that server). */
  forwardPacket(src: Uint8Array, dst: Uint8Array, packet: Uint8Array): boolean {
    const core = this.#core;
    if (!core || !this.#stream) return false;
    return this.#flushAfter(core.forwardPacket(src, dst, packet));
  }

  /** Mesh only: subscribe to PeerPresent/PeerGone for every client of the server. */
  watchConns(): boolean {
    return this.#core ? this.#flushAfter(this.#core.watchConns()) : false;
  }

  /** Mesh only: ask the server to close every connection of `peer`. */
  closePeer(peer: Uint8Array): boolean {
    return this.#core ? this.#flushAfter(this.#core.closePeer(peer)) : false;
  }

  notePreferred(preferred: boolean): boolean {
    return this.#core ? this.#flushAfter(this.#core.notePreferred(preferred)) : false;
  }

  /** Sends a Ping and resolves with the round-trip time in ms when its Pong arrives. */
  ping(timeoutMs = DEFAULT_PING_TIMEOUT_MS): Promise<number> {
    const core = this.#core;
    if (!core || core.state !== 'connected') return Promise.reject(new TsplaneError('DERP_ERR_NOT_CONNECTED', 'ping: not connected'));
    const data = this.#rng.fill(new Uint8Array(8));
    const now = this.#clock.monotonicMs();
    return new Promise<number>((resolve, reject) => {
      this.#pings.push({ data: Buffer.from(data).toString('hex'), sentAt: now, deadline: now + timeoutMs, resolve, reject });
      this.#flushAfter(core.sendPing(data));
      this.#scheduler.kick();
    });
  }

  /** Closes for good: no reconnects; pending pings fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#core?.close();
    this.#stream?.close();
    this.#failPings(new TsplaneError('DERP_ERR_CLOSED', 'DerpClient closed'));
    this.#scheduler.remove(this);
    if (this.#ownScheduler) this.#scheduler.stop();
    await this.#connecting?.catch(() => undefined);
  }

  // ---- DeadlineSource ----

  nextDeadline(): number | undefined {
    let d = this.#core?.nextDeadline();
    for (const p of this.#pings) if (d === undefined || p.deadline < d) d = p.deadline;
    return d;
  }

  onDeadline(now: number): void {
    const keep: PendingPing[] = [];
    for (const p of this.#pings) {
      if (now >= p.deadline) p.reject(new TsplaneError('DERP_ERR_PING_TIMEOUT', 'ping: no pong in time'));
      else keep.push(p);
    }
    this.#pings = keep;
    if (this.#core) this.#dispatch(this.#core.poll(now));
  }

  // ---- internals ----

  #flushAfter(r: SendResult): boolean {
    const core = this.#core;
    const stream = this.#stream;
    if (core && stream) for (const b of core.takeOutgoing()) stream.write(b);
    return r.type === 'queued';
  }

  async #connectOnce(): Promise<void> {
    const url = this.url;
    let stream;
    try {
      stream = await dialDerp(url, {
      ...(this.#opts.transport ? { transport: this.#opts.transport } : {}),
      ...(this.#opts.tls ? { tls: this.#opts.tls } : {}),
      ...(this.#opts.dialTimeoutMs ? { timeoutMs: this.#opts.dialTimeoutMs } : {}),
      });
    } catch (err) {
      this.#nextUrl();
      throw err;
    }
    if (this.#closed) {
      stream.close();
      throw new TsplaneError('DERP_ERR_CLOSED', 'DerpClient closed while connecting');
    }
    const core = new DerpClientCore({
      privateKey: this.#opts.privateKey,
      rng: this.#rng,
      now: this.#clock.monotonicMs(),
      ...(this.#opts.meshKey ? { meshKey: this.#opts.meshKey } : {}),
      ...(this.#opts.isProber ? { isProber: true } : {}),
    });
    this.#stream = stream;
    this.#core = core;
    this.#scheduler.kick();
    await new Promise<void>((resolve, reject) => {
      this.#handshake = {
        resolve,
        reject: (why: string) => {
          this.#nextUrl();
          reject(new TsplaneError('DERP_ERR_HANDSHAKE', `DERP handshake with ${String(url)} failed: ${why}`));
        },
      };
      stream.onData((bytes) => {
        if (this.#core !== core) return;
        const ms = core.receive(bytes, this.#clock.monotonicMs());
        for (const b of core.takeOutgoing()) stream.write(b);
        if (ms.length > 0) {
          this.#dispatch(ms);
          this.#scheduler.kick();
        }
      });
      stream.onClose((err) => {
        if (this.#core !== core) return;
        this.#lost(err?.message ?? 'connection closed', core.serverInfo !== undefined);
      });
    });
  }

  /** The caller of the connect in progress, until ServerInfo or failure. */
  #handshake: { resolve: () => void; reject: (why: string) => void } | undefined;

  #dispatch(ms: ClientMessage[]): void {
    for (const m of ms) {
      switch (m.type) {
        case 'receivedPacket':
          for (const h of this.#packetHandlers) h(m.source, m.data);
          continue;
        case 'serverInfo':
          this.#failures = 0;
          this.#handshake?.resolve();
          this.#handshake = undefined;
          if (this.#opts.preferred) this.notePreferred(true);
          for (const h of this.#connectedHandlers) h(m.info, m.serverKey);
          break;
        case 'pong': {
          const hex = Buffer.from(m.data).toString('hex');
          const i = this.#pings.findIndex((p) => p.data === hex);
          if (i >= 0) {
            const [p] = this.#pings.splice(i, 1);
            p!.resolve(this.#clock.monotonicMs() - p!.sentAt);
          }
          break;
        }
        case 'restarting': {
          const now = this.#clock.monotonicMs();
          this.#restartAt = now + m.reconnectInMs;
          this.#restartUntil = this.#restartAt + m.tryForMs;
          break;
        }
        case 'closed': {
          // A fatal protocol error or timeout: drop the transport; its close event reconnects.
          this.#handshake?.reject(`${m.reason}: ${m.message}`);
          this.#handshake = undefined;
          this.#stream?.close();
          break;
        }
        default:
          break;
      }
      for (const h of this.#messageHandlers) h(m);
    }
  }

  /** The current connection is gone (after connecting or during the handshake). */
  #lost(reason: string, wasConnected: boolean): void {
    this.#core = undefined;
    this.#stream = undefined;
    this.#handshake?.reject(reason);
    this.#handshake = undefined;
    this.#failPings(new TsplaneError('DERP_ERR_DISCONNECTED', `ping: connection lost (${reason})`));
    if (wasConnected) for (const h of this.#disconnectedHandlers) h(reason);
    // Only a connection that once succeeded reconnects on its own; a failed connect() reports to its caller.
    if (wasConnected) this.#scheduleReconnect();
  }

  /** After a failed connect: the next URL of the list (if there are several). */
  #nextUrl(): void {
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
  }

  #failPings(e: Error): void {
    const pings = this.#pings;
    this.#pings = [];
    for (const p of pings) p.reject(e);
  }

  #reconnectDelayMs(): number {
    return reconnectDelayMs(
      { failures: this.#failures, restartAt: this.#restartAt, restartUntil: this.#restartUntil },
      this.#clock.monotonicMs(),
      this.#rng,
      this.#opts.backoff?.initialMs ?? RECONNECT_INITIAL_MS,
      this.#opts.backoff?.maxMs ?? RECONNECT_MAX_MS,
    );
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#opts.reconnect === false || this.#reconnectTimer) return;
    const delay = this.#reconnectDelayMs();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed) return;
      this.connect().then(
        () => {
          this.reconnects++;
        },
        () => {
          this.#failures++;
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }
}
