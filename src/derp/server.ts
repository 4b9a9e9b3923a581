/**
 * The DERP relay core, sans-IO (derp.md §3–§6). The edge (io/http.ts) hands each hijacked or
 * WebSocket byte stream to `accept()` as a `FrameConn` and feeds bytes to the returned handle;
 * the core decodes frames, runs the handshake, routes packets into bounded per-client queues and
 * writes frames back through `FrameConn.write`. Time comes from the injected Clock (deadlines via
 * `nextDeadline()`/`poll(now)`), randomness from the injected Rng. No sockets, no timers.
 *
 * Behaviour follows tailscale/tailscale `derp/derpserver/derpserver.go` as described in derp.md:
 * handshake under a 10 s deadline, duplicate keys (newest / last writer active, §3.8), PeerGone on
 * the 1→0 transition to earlier recipients, watchers and mesh forwarding (§3.5, §6), head-drop
 * queues and a write deadline (§3.4), KeepAlive every 60 s plus 0–5 s jitter.
 */
import { wipe } from '../runtime/bytes.js';
import type { Clock, MonotonicMs } from '../runtime/clock.js';
import { randomInt, type Rng } from '../runtime/rng.js';
import { FrameType, KEY_BYTES, MAX_FORWARD_PACKET_FRAME_BYTES, NONCE_BYTES, encodeFrame } from './frame.js';
import {
  acceptClientInfo, encodeHealth, encodeRestarting, encodeServerKey, keyHex, publicKeyOf, sealServerInfoWithBoxKey,
  type Endpoint, type NodePrivateKey, type NodePublicKey,
} from './protocol.js';
import { DerpServerStats, DropReason, type DerpServerGauges } from './server-stats.js';
import type { PacketForwarder } from './mesh-routes.js';
import { PacketRouter } from './router.js';
import { handleClientFrame, protocolError, type ClientFrameHost } from './server-frames.js';
import { isMeshKey, isPromiseLike, type VerifyClient, type VerifyResult } from './admission.js';
import {
  Client, HANDSHAKE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_JITTER_MS, MAX_PENDING_CONTROL_FRAMES, MESH_WRITE_TIMEOUT_MS,
  NOT_HERE_BURST, NOT_HERE_RATE_PER_SEC, Phase, WRITE_BACKLOG_HIGH_WATER_BYTES, WRITE_TIMEOUT_MS,
  type AcceptInfo, type CloseReason, type ConnOwner, type FrameConn, type ServerConnHandle,
} from './server-conn.js';

export {
  HANDSHAKE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_JITTER_MS, MAX_PENDING_CONTROL_FRAMES, MESH_WRITE_TIMEOUT_MS,
  NOT_HERE_BURST, NOT_HERE_RATE_PER_SEC, WRITE_BACKLOG_HIGH_WATER_BYTES, WRITE_TIMEOUT_MS,
};
export type { AcceptInfo, CloseReason, FrameConn, PacketForwarder, ServerConnHandle, VerifyClient, VerifyResult };

/** Events the edge may log; nothing here carries secrets. */
export type DerpServerEvent =
  | { type: 'client-connected'; id: number; key: NodePublicKey; remote?: Endpoint; mesh: boolean }
  | { type: 'client-closed'; id: number; key?: NodePublicKey; reason: CloseReason; detail?: string }
  | { type: 'client-rejected'; id: number; key: NodePublicKey; reason: string }
  | { type: 'close-peer'; id: number; target: NodePublicKey };

export interface DerpServerOptions {
  privateKey: NodePrivateKey;
  clock: Clock;
  rng: Rng;
  /** Mesh pre-shared key (32 bytes); clients presenting it may watch, forward and close peers. */
  meshKey?: Uint8Array;
  /** Admission check for non-mesh clients (`--verify-clients`); absent means everyone. */
  verifyClient?: VerifyClient;
  onEvent?: (event: DerpServerEvent) => void;
  writeBacklogHighWaterBytes?: number;
  /** ClientInfo deadline; default HANDSHAKE_TIMEOUT_MS (10 s, as derper). */
  handshakeTimeoutMs?: number;
}

/** The relay: every connected client by key, their queues, watchers and mesh forwarders. */
export class DerpServer implements ConnOwner {
  readonly publicKey: NodePublicKey;
  readonly stats = new DerpServerStats();
  readonly #privateKey: NodePrivateKey;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #meshKey: Uint8Array | undefined;
  #verifyClient: VerifyClient | undefined;
  readonly #onEvent: (e: DerpServerEvent) => void;
  readonly #highWater: number;
  readonly #handshakeTimeoutMs: number;
  readonly #conns = new Map<number, Client>();
  readonly #dirty = new Set<Client>();
  readonly #router: PacketRouter;
  readonly #frames: ClientFrameHost;
  #nextId = 1;
  #nextDeadline: MonotonicMs | undefined;
  #shuttingDown = false;

  constructor(options: DerpServerOptions) {
    this.#privateKey = options.privateKey;
    this.publicKey = publicKeyOf(options.privateKey);
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#meshKey = options.meshKey && options.meshKey.length === KEY_BYTES ? options.meshKey : undefined;
    this.#verifyClient = options.verifyClient;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#highWater = options.writeBacklogHighWaterBytes ?? WRITE_BACKLOG_HIGH_WATER_BYTES;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.#router = new PacketRouter(this.stats, this.#dirty, () => this.#clock.monotonicMs());
    this.#frames = {
      stats: this.stats, router: this.#router, dirty: this.#dirty, serverKeyHex: keyHex(this.publicKey),
      close: (c, reason, detail) => this._close(c, reason, detail, true),
      onEvent: (e) => this.#onEvent(e),
    };
  }

  /** Replaces the admission check (e.g. after the allow-list file changed). */
  setVerifyClient(verify: VerifyClient | undefined): void {
    this.#verifyClient = verify;
  }

  /** True when a mesh key is configured. */
  get hasMeshKey(): boolean {
    return this.#meshKey !== undefined;
  }

  /**
   * Takes a new transport: writes ServerKey at once and waits for ClientInfo. The edge has
   * already written the HTTP 101 (or nothing, under fast start).
   */
  accept(conn: FrameConn, info: AcceptInfo = {}): ServerConnHandle {
    const now = this.#clock.monotonicMs();
    const c = new Client(this, this.#nextId++, conn, info, now);
    c.handshakeDeadline = now + this.#handshakeTimeoutMs;
    this.#conns.set(c.id, c);
    this.stats.accepts++;
    if (this.#shuttingDown) {
      this._close(c, 'server-shutdown', undefined, true);
      return c;
    }
    conn.write([encodeFrame(FrameType.ServerKey, encodeServerKey(this.publicKey))]);
    this.#noteDeadline(c.handshakeDeadline);
    return c;
  }

  // ---- Mesh forwarders (derp.md §6) ----

  /** Registers `fwd` as a route to `key` on a sibling; the first registered wins. */
  addPacketForwarder(key: NodePublicKey, fwd: PacketForwarder): void {
    this.#router.forwarders.add(key, fwd);
  }

  /** Removes `fwd` for `key`; if that was the last route and `key` is not local, it left the region. */
  removePacketForwarder(key: NodePublicKey, fwd: PacketForwarder): void {
    const gone = this.#router.forwarders.remove(key, fwd);
    if (!gone) return;
    const hex = keyHex(gone);
    if (!this.#router.registry.has(hex)) this.#router.peerGoneFromRegion(hex, gone);
    this.#flushDirty();
  }

  // ---- Health and shutdown ----

  /** Sends a Health frame to every client of `key` (an empty text clears the problem). */
  sendHealth(key: NodePublicKey, problem: string): void {
    const set = this.#router.registry.get(keyHex(key));
    if (!set) return;
    const frame = encodeFrame(FrameType.Health, encodeHealth(problem));
    for (const c of set.conns) this.#router.queueControl(c, frame);
    this.#flushDirty();
  }

  /**
   * Graceful shutdown: tells every client `Restarting(reconnectIn, tryFor)`, then closes all
   * connections and refuses new ones.
   */
  shutdown(reconnectInMs = 0, tryForMs = 0): void {
    this.#shuttingDown = true;
    const frame = encodeFrame(FrameType.Restarting, encodeRestarting(reconnectInMs, tryForMs));
    for (const c of [...this.#conns.values()]) {
      if (c.phase === Phase.Active) c.conn.write([frame]);
      this._close(c, 'server-shutdown', undefined, true);
    }
  }

  // ---- Deadlines (runtime/loop.ts DeadlineSource) ----

  /** The earliest time `poll` has work; may be early (then `poll` just recomputes). */
  nextDeadline(): MonotonicMs | undefined {
    return this.#nextDeadline;
  }

  /** Runs due work: handshake timeouts, keep-alives, write timeouts. */
  poll(now: MonotonicMs): void {
    let next = Infinity;
    for (const c of [...this.#conns.values()]) {
      if (c.phase === Phase.Handshake || c.phase === Phase.Verifying) {
        if (now >= c.handshakeDeadline) {
          this.stats.handshakeTimeouts++;
          this._close(c, 'handshake-timeout', undefined, true);
          continue;
        }
        next = Math.min(next, c.handshakeDeadline);
        continue;
      }
      if (c.phase !== Phase.Active) continue;
      if (c.stalledSince !== undefined) {
        const limit = c.stalledSince + (c.canMesh ? MESH_WRITE_TIMEOUT_MS : WRITE_TIMEOUT_MS);
        if (now >= limit && c.conn.backlogBytes() >= this.#highWater) {
          this.stats.writeTimeouts++;
          this._close(c, 'write-timeout', undefined, true);
          continue;
        }
        if (now >= limit) {
          c.stalledSince = undefined; // the transport caught up: write what is queued
          this.#dirty.add(c);
        } else next = Math.min(next, limit);
      }
      if (now >= c.nextKeepAlive) {
        this.#router.queueControl(c, KEEP_ALIVE_FRAME);
        c.nextKeepAlive = now + KEEP_ALIVE_INTERVAL_MS + randomInt(this.#rng, KEEP_ALIVE_JITTER_MS);
      }
      next = Math.min(next, c.nextKeepAlive);
    }
    this.#nextDeadline = next === Infinity ? undefined : next;
    this.#flushDirty();
  }

  // ---- Introspection ----

  /** Current gauge values (connections, duplicates, watchers, …). */
  gauges(): DerpServerGauges {
    let home = 0;
    let notIdeal = 0;
    let handshakes = 0;
    let queued = 0;
    for (const c of this.#conns.values()) {
      if (c.phase === Phase.Handshake || c.phase === Phase.Verifying) handshakes++;
      if (c.phase !== Phase.Active) continue;
      if (c.preferred) home++;
      if (c.accept.notIdeal) notIdeal++;
      queued += c.queuedPackets();
    }
    return {
      currentConnections: this.#conns.size - handshakes,
      currentHomeConnections: home,
      currentNotIdealConnections: notIdeal,
      handshakesInProgress: handshakes,
      queuedPackets: queued,
      ...this.#router.gauges(),
    };
  }

  /** True when `key` has a local connection. */
  isLocal(key: NodePublicKey): boolean {
    return this.#router.registry.has(keyHex(key));
  }

  // ---- Internals, called by Client ----

  /** @internal */
  _receive(c: Client, bytes: Uint8Array): void {
    if (c.phase === Phase.Closed) return;
    const r = c.decoder.push(bytes);
    this.stats.unknownFrames += BigInt(r.skipped);
    for (const f of r.frames) {
      if (!c.isOpen()) break;
      if (c.phase === Phase.Handshake) this.#handshake(c, f.type, f.payload);
      else if (c.phase === Phase.Verifying) {
        if (!c.holdWhileVerifying(f.type, f.payload)) protocolError(this.#frames, c, 'too many frames before ServerInfo');
      }
      else handleClientFrame(this.#frames, c, f.type, f.payload);
    }
    if (r.error && c.isOpen()) {
      this.stats.protocolErrors++;
      this._close(c, 'frame-too-large', `frame type 0x${r.error.frameType.toString(16)} of ${r.error.declaredLength} bytes`, true);
    }
    this.#flushDirty();
  }

  /** @internal Writes queued frames while the transport keeps up. */
  _flush(c: Client, drained = false): void {
    if (c.phase !== Phase.Active) return;
    // A drain is progress: the deadline measures time without any, like derper's per-write one.
    if (drained) c.stalledSince = undefined;
    const r = c.flush(this.#highWater);
    this.stats.sentPong += BigInt(r.pongs);
    this.stats.packetsSent += BigInt(r.packets);
    this.stats.bytesSent += BigInt(r.packetBytes);
    if (c.queuedPackets() > 0) {
      if (c.stalledSince === undefined) {
        c.stalledSince = this.#clock.monotonicMs();
        this.#noteDeadline(c.stalledSince + (c.canMesh ? MESH_WRITE_TIMEOUT_MS : WRITE_TIMEOUT_MS));
      }
    } else {
      c.stalledSince = undefined;
    }
  }

  /** @internal Forgets a connection; with `closeTransport`, also closes it. */
  _close(c: Client, reason: CloseReason, detail: string | undefined, closeTransport: boolean): void {
    if (c.phase === Phase.Closed) return;
    const wasActive = c.phase === Phase.Active;
    c.phase = Phase.Closed;
    wipe(c.pendingBoxKey);
    c.pendingBoxKey = undefined;
    c.framesWhileVerifying = [];
    this.#conns.delete(c.id);
    this.#dirty.delete(c);
    if (wasActive) this.#router.unregister(c, reason === 'write-timeout' ? DropReason.WriteError : DropReason.GoneDisconnected);
    this.#onEvent({ type: 'client-closed', id: c.id, ...(c.key ? { key: c.key } : {}), reason, ...(detail ? { detail } : {}) });
    if (closeTransport) c.conn.close(reason);
    this.#flushDirty();
  }

  // ---- Handshake (derp.md §3.3) ----

  #handshake(c: Client, type: number, payload: Uint8Array): void {
    if (type !== FrameType.ClientInfo) {
      this.stats.handshakeFailures++;
      this._close(c, 'handshake-failed', `first frame type 0x${type.toString(16)}, want ClientInfo`, true);
      return;
    }
    const opened = acceptClientInfo(this.#privateKey, payload);
    if (!opened.ok) {
      this.stats.handshakeFailures++;
      this._close(c, 'handshake-failed', `${opened.code}: ${opened.message}`, true);
      return;
    }
    const { clientKey, info, boxKey } = opened;
    c.key = clientKey;
    c.keyHex = keyHex(clientKey);
    c.isProber = info.isProber;
    c.canMesh = isMeshKey(this.#meshKey, info.meshKey);
    if (!c.canMesh && this.#verifyClient) {
      let v: VerifyResult | PromiseLike<VerifyResult>;
      try {
        v = this.#verifyClient(clientKey, info, c.accept.remote);
      } catch (err) {
        v = { allow: false, reason: `admission check threw: ${String(err)}` };
      }
      if (isPromiseLike(v)) {
        c.phase = Phase.Verifying;
        c.pendingBoxKey = boxKey;
        v.then(
          (result) => this.#verified(c, result),
          (err: unknown) => this.#verified(c, { allow: false, reason: `admission check failed: ${String(err)}` }),
        );
        return;
      }
      if (!v.allow) {
        wipe(boxKey);
        this.#reject(c, v.reason);
        return;
      }
    }
    this.#admit(c, boxKey);
  }

  #reject(c: Client, reason: string): void {
    this.stats.rejectedClients++;
    this.#onEvent({ type: 'client-rejected', id: c.id, key: c.key!, reason });
    this._close(c, 'rejected', reason, true);
  }

  /** The asynchronous admission check answered. */
  #verified(c: Client, result: VerifyResult): void {
    if (c.phase !== Phase.Verifying) return; // closed meanwhile (deadline, transport gone)
    const boxKey = c.pendingBoxKey!;
    c.pendingBoxKey = undefined;
    if (!result.allow) {
      wipe(boxKey);
      this.#reject(c, result.reason);
      this.#flushDirty();
      return;
    }
    this.#admit(c, boxKey);
    const held = c.framesWhileVerifying;
    c.framesWhileVerifying = [];
    for (const f of held) {
      if (!c.isOpen()) break;
      handleClientFrame(this.#frames, c, f.type, f.payload);
    }
    this.#flushDirty();
  }

  /** Sends ServerInfo and registers the client. */
  #admit(c: Client, boxKey: Uint8Array): void {
    const clientKey = c.key!;
    const nonce = this.#rng.fill(new Uint8Array(NONCE_BYTES));
    const serverInfo = sealServerInfoWithBoxKey(boxKey, nonce);
    wipe(boxKey);
    if (!serverInfo) {
      this.stats.handshakeFailures++;
      this._close(c, 'handshake-failed', 'cannot seal ServerInfo to the client key', true);
      return;
    }
    // ServerInfo is the first frame after ServerKey: written before anything can be queued.
    c.conn.write([encodeFrame(FrameType.ServerInfo, serverInfo)]);
    c.phase = Phase.Active;
    c.decoder.setMaxFrameBytes(MAX_FORWARD_PACKET_FRAME_BYTES);
    c.nextKeepAlive = this.#clock.monotonicMs() + KEEP_ALIVE_INTERVAL_MS + randomInt(this.#rng, KEEP_ALIVE_JITTER_MS);
    this.#noteDeadline(c.nextKeepAlive);
    this.#router.register(c);
    this.#onEvent({ type: 'client-connected', id: c.id, key: clientKey, ...(c.accept.remote ? { remote: c.accept.remote } : {}), mesh: c.canMesh });
  }

  // ---- Write batching and deadline bookkeeping ----

  #flushDirty(): void {
    if (this.#dirty.size === 0) return;
    const batch = [...this.#dirty];
    this.#dirty.clear();
    for (const c of batch) this._flush(c);
  }

  #noteDeadline(at: MonotonicMs): void {
    if (this.#nextDeadline === undefined || at < this.#nextDeadline) this.#nextDeadline = at;
  }
}

const KEEP_ALIVE_FRAME = encodeFrame(FrameType.KeepAlive);
