/**
 * One DERP connection as the relay core sees it: the transport interface the edge implements
 * (`FrameConn`), the handle the edge feeds (`ServerConnHandle`), and the per-connection state
 * (`Client`): decoder, send queues, pending control frames, timers as timestamps.
 */
import type { MonotonicMs } from '../runtime/clock.js';
import { FrameDecoder, FrameType, KEY_BYTES, MAX_CLIENT_INFO_FRAME_BYTES, encodeFrame } from './frame.js';
import { PeerPresentFlags, type Endpoint, type NodePublicKey } from './protocol.js';
import { SendQueue } from './send-queue.js';
import type { RegisteredClient } from './client-registry.js';

/** ClientInfo must arrive within this long of accepting the connection. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** PeerGone(NotHere) replies to disco for unknown keys: 1 per second, burst 3, per client. */
export const NOT_HERE_RATE_PER_SEC = 1;
export const NOT_HERE_BURST = 3;
/** Pending control frames (PeerGone, Health, KeepAlive) per client; the oldest is dropped beyond. */
export const MAX_PENDING_CONTROL_FRAMES = 64;
/** Frame header (5) + source key (32) in front of every queued packet. */
export const RECV_PACKET_OVERHEAD_BYTES = 5 + KEY_BYTES;

// Connection timing and write back-pressure (derp.md §3.1, §3.4)
/** KeepAlive period; each client adds its own 0–5 s jitter. */
export const KEEP_ALIVE_INTERVAL_MS = 60_000;
export const KEEP_ALIVE_JITTER_MS = 5_000;
/** A client whose transport stays backed up this long is closed (derper `-tcp-write-timeout`). */
export const WRITE_TIMEOUT_MS = 2_000;
/** The same for mesh-key clients. */
export const MESH_WRITE_TIMEOUT_MS = 30_000;
/** Stop handing bytes to the transport while this many are still unsent; queues absorb the rest. */
export const WRITE_BACKLOG_HIGH_WATER_BYTES = 256 * 1024;

/** What one flush wrote, for the server's counters. */
export interface FlushResult {
  packets: number;
  packetBytes: number;
  pongs: number;
}

/** The edge's view of one client transport (a hijacked socket or a WebSocket). */
export interface FrameConn {
  /** Sends these bytes in order; the edge may coalesce them into one write or message. */
  write(chunks: readonly Uint8Array[]): void;
  /** Bytes given to `write` that the transport has not sent yet. */
  backlogBytes(): number;
  /** Closes the transport. Called at most once; the core has already dropped the connection. */
  close(reason: CloseReason): void;
}

/** Why the core closed (or forgot) a connection. */
export type CloseReason =
  | 'handshake-timeout'
  | 'handshake-failed'
  | 'rejected'
  | 'protocol-error'
  | 'frame-too-large'
  | 'insufficient-permissions'
  | 'closed-by-peer'
  | 'write-timeout'
  | 'server-shutdown'
  | 'transport-closed';

/** What a Client calls back into (the server core). */
export interface ConnOwner {
  _receive(c: Client, bytes: Uint8Array): void;
  /** `drained`: the transport emptied its backlog, which restarts the write deadline. */
  _flush(c: Client, drained?: boolean): void;
  _close(c: Client, reason: CloseReason, detail: string | undefined, closeTransport: boolean): void;
}

/** Connection facts the edge knows from the transport. */
export interface AcceptInfo {
  remote?: Endpoint;
  /** The client sent `Ideal-Node` (it is not on its region's first node). */
  notIdeal?: boolean;
}

/** The edge's handle on one accepted connection. */
export interface ServerConnHandle {
  readonly id: number;
  /** Feeds bytes read from the transport. */
  receive(bytes: Uint8Array): void;
  /** The transport drained its backlog; queued frames may be written. */
  writable(): void;
  /** The transport is gone (EOF, error). Idempotent. */
  closed(): void;
}

export const enum Phase {
  /** Waiting for ClientInfo. */
  Handshake,
  /** ClientInfo opened; an asynchronous admission check (verify-client URL) is running. */
  Verifying,
  Active,
  Closed,
}

/** Frames a client may send while its admission check runs; more closes the connection. */
export const MAX_FRAMES_WHILE_VERIFYING = 64;
export const MAX_BYTES_WHILE_VERIFYING = 256 * 1024;

/** One connection's state inside the core. */
export class Client implements RegisteredClient, ServerConnHandle {
  readonly id: number;
  readonly conn: FrameConn;
  readonly accept: AcceptInfo;
  readonly decoder = new FrameDecoder({ maxFrameBytes: MAX_CLIENT_INFO_FRAME_BYTES });
  readonly packets = new SendQueue();
  readonly discoPackets = new SendQueue();
  readonly control: Uint8Array[] = [];
  /** Coalesced watcher updates: latest PeerPresent/PeerGone frame per key. */
  readonly watchUpdates = new Map<string, Uint8Array>();
  phase = Phase.Handshake;
  key: NodePublicKey | undefined;
  keyHex = '';
  canMesh = false;
  isProber = false;
  preferred = false;
  watching = false;
  pendingPong: Uint8Array | undefined;
  /** Box key kept between ClientInfo and the end of an asynchronous admission check. */
  pendingBoxKey: Uint8Array | undefined;
  /** Frames received while verifying, replayed once admitted. */
  framesWhileVerifying: { type: number; payload: Uint8Array }[] = [];
  bytesWhileVerifying = 0;
  handshakeDeadline: MonotonicMs;
  nextKeepAlive: MonotonicMs = Infinity;
  stalledSince: MonotonicMs | undefined;
  notHereTokens = NOT_HERE_BURST;
  notHereRefilledAt: MonotonicMs;
  readonly #owner: ConnOwner;

  constructor(owner: ConnOwner, id: number, conn: FrameConn, accept: AcceptInfo, now: MonotonicMs) {
    this.#owner = owner;
    this.id = id;
    this.conn = conn;
    this.accept = accept;
    this.handshakeDeadline = now + HANDSHAKE_TIMEOUT_MS;
    this.notHereRefilledAt = now;
  }
  receive(bytes: Uint8Array): void {
    this.#owner._receive(this, bytes);
  }
  writable(): void {
    this.#owner._flush(this, true);
  }
  closed(): void {
    this.#owner._close(this, 'transport-closed', undefined, false);
  }
  isOpen(): boolean {
    return this.phase !== Phase.Closed;
  }
  presentFlags(): number {
    let f = 0;
    if (this.canMesh) f |= PeerPresentFlags.IsMeshPeer;
    if (this.isProber) f |= PeerPresentFlags.IsProber;
    if (this.accept.notIdeal) f |= PeerPresentFlags.NotIdeal;
    return f === 0 ? PeerPresentFlags.IsRegular : f;
  }
  queuedPackets(): number {
    return this.packets.length + this.discoPackets.length;
  }

  /** Queues a control frame (bounded; oldest dropped). Returns false when not active. */
  queueControl(frame: Uint8Array): boolean {
    if (this.phase !== Phase.Active) return false;
    if (this.control.length >= MAX_PENDING_CONTROL_FRAMES) this.control.shift();
    this.control.push(frame);
    return true;
  }

  /** Records the latest PeerPresent/PeerGone for `hex`, replacing an unsent older one. */
  queueWatchUpdate(hex: string, frame: Uint8Array): void {
    this.watchUpdates.delete(hex); // re-insert so the map's order is the order of events
    this.watchUpdates.set(hex, frame);
  }

  /** Holds a frame that arrived during an asynchronous admission check; false past the bound. */
  holdWhileVerifying(type: number, payload: Uint8Array): boolean {
    this.bytesWhileVerifying += payload.length;
    if (this.framesWhileVerifying.length >= MAX_FRAMES_WHILE_VERIFYING || this.bytesWhileVerifying > MAX_BYTES_WHILE_VERIFYING) return false;
    this.framesWhileVerifying.push({ type, payload: payload.slice() });
    return true;
  }

  /** Token bucket for PeerGone(NotHere) replies. */
  takeNotHereToken(now: MonotonicMs): boolean {
    const refill = ((now - this.notHereRefilledAt) / 1000) * NOT_HERE_RATE_PER_SEC;
    this.notHereTokens = Math.min(NOT_HERE_BURST, this.notHereTokens + refill);
    this.notHereRefilledAt = now;
    if (this.notHereTokens < 1) return false;
    this.notHereTokens -= 1;
    return true;
  }

  /**
   * Writes control frames, then queued packets (disco first: small, and it is what lets peers
   * find a direct path) while the transport's backlog stays under `highWater` bytes.
   */
  flush(highWater: number): FlushResult {
    const result: FlushResult = { packets: 0, packetBytes: 0, pongs: 0 };
    if (this.phase !== Phase.Active) return result;
    const chunks: Uint8Array[] = [];
    if (this.pendingPong) {
      chunks.push(encodeFrame(FrameType.Pong, this.pendingPong));
      this.pendingPong = undefined;
      result.pongs++;
    }
    for (const f of this.control.splice(0)) chunks.push(f);
    for (const f of this.watchUpdates.values()) chunks.push(f);
    this.watchUpdates.clear();
    let budget = highWater - this.conn.backlogBytes();
    for (const f of chunks) budget -= f.length;
    for (const q of [this.discoPackets, this.packets]) {
      while (budget > 0 && q.length > 0) {
        const f = q.shift()!;
        chunks.push(f);
        budget -= f.length;
        result.packets++;
        result.packetBytes += f.length - RECV_PACKET_OVERHEAD_BYTES;
      }
    }
    if (chunks.length > 0) this.conn.write(chunks);
    return result;
  }
}

