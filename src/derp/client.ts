/**
 * DERP client, sans-IO: the protocol state of one connection to one DERP server.
 *
 * Bytes from the transport go into `receive(bytes, now)`, which returns a closed union of
 * messages (Tailscale's `derp.Client.Recv` sum type: ReceivedPacket, PeerGone, PeerPresent,
 * Ping, Pong, Health, ServerRestarting, ServerInfo, KeepAlive) plus a fatal `closed` result.
 * Bytes to send collect in an outbox the edge drains with `takeOutgoing()`. Time comes in as
 * `now`; the read and handshake timeouts are exposed as `nextDeadline()`/`poll(now)`.
 *
 * Flow (derp.md §3.3): ServerKey → we send ClientInfo (our node key ‖ nonce ‖ box(JSON)) →
 * ServerInfo (box(JSON)) → connected. After that (derp.md §3.2, §9 item 9):
 *  - Ping is answered with a Pong carrying its first 8 bytes, then reported;
 *  - PeerGone accepts the bare 32-byte form (reason 0); PeerPresent accepts 32, 50 or 51+ bytes;
 *  - a late ServerKey (fast start), ServerInfo and every unknown type are skipped by length;
 *  - frames too short for their type are dropped (counted), not fatal;
 *  - a frame longer than 1 MiB is fatal, as in the Go client;
 *  - 120 s without any frame is fatal (the server sends KeepAlive every 60–65 s).
 */
import type { Rng } from '../runtime/rng.js';
import {
  FRAME_HEADER_BYTES, FrameDecoder, FrameType, KEY_BYTES, MAX_CLIENT_RECV_FRAME_BYTES, MAX_PACKET_BYTES,
  MAX_SERVER_INFO_FRAME_BYTES, MAX_SERVER_KEY_FRAME_BYTES, NONCE_BYTES, PING_DATA_BYTES, PROTOCOL_VERSION,
  encodeFrame, writeFrameHeader,
} from './frame.js';
import {
  decodeHealth, decodePeerGone, decodePeerPresent, decodePong, decodeRecvPacket, decodeRestarting,
  decodeServerKey, openServerInfo, publicKeyOf, sealClientInfo,
  type Endpoint, type NodePrivateKey, type NodePublicKey, type ServerInfo,
} from './protocol.js';
import { constantTimeEqual, toHex } from '../runtime/bytes.js';

/** derp.md §3.1: a `Recv` gives up after 120 s without a frame. */
export const CLIENT_READ_TIMEOUT_MS = 120_000;
/** derp.md §2.4: the whole connect gets 10 s; the core times the DERP part of it. */
export const CLIENT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** PeerGone reason as a name; unknown reason bytes are kept as numbers. */
export type PeerGoneReasonName = 'disconnected' | 'notHere' | number;

/** Everything `receive` can report. Views (`source`, `data`) alias the pushed bytes: copy to keep. */
export type ClientMessage =
  | { readonly type: 'serverInfo'; readonly serverKey: NodePublicKey; readonly info: ServerInfo }
  | { readonly type: 'receivedPacket'; readonly source: NodePublicKey; readonly data: Uint8Array }
  | { readonly type: 'peerGone'; readonly peer: NodePublicKey; readonly reason: PeerGoneReasonName }
  | { readonly type: 'peerPresent'; readonly peer: NodePublicKey; readonly endpoint?: Endpoint; readonly flags: number }
  | { readonly type: 'ping'; readonly data: Uint8Array }
  | { readonly type: 'pong'; readonly data: Uint8Array }
  | { readonly type: 'health'; readonly problem: string }
  | { readonly type: 'restarting'; readonly reconnectInMs: number; readonly tryForMs: number }
  | { readonly type: 'keepAlive' }
  | { readonly type: 'closed'; readonly reason: ClientCloseReason; readonly message: string };

/** Why the connection is dead (all fatal; the edge closes the transport). */
export type ClientCloseReason =
  | 'frameTooLarge'
  | 'badServerKey'
  | 'serverKeyMismatch'
  | 'unexpectedFrame'
  | 'serverInfoRejected'
  | 'handshakeTimeout'
  | 'readTimeout'
  | 'closedByUser';

/** Non-fatal drops, counted. */
export type ClientDropReason = 'shortFrame' | 'notConnected' | 'packetTooLarge' | 'badKey' | 'rateLimited';

export type SendResult = { readonly type: 'queued' } | { readonly type: 'drop'; readonly reason: ClientDropReason };

export type ClientState = 'awaitServerKey' | 'awaitServerInfo' | 'connected' | 'closed';

export interface ClientCoreOptions {
  /** Our node private key; its public key is our DERP address. */
  readonly privateKey: NodePrivateKey;
  /** Mesh key (32 bytes) for trusted mesh/prober connections; sent as 64 lowercase hex. */
  readonly meshKey?: Uint8Array;
  /** Refuse a server whose ServerKey differs (pinning). */
  readonly expectedServerKey?: Uint8Array;
  readonly isProber?: boolean;
  readonly appName?: string;
  /** Nonce source for the ClientInfo box. */
  readonly rng: Rng;
  /** Monotonic ms at which the transport connected (starts the handshake timeout). */
  readonly now: number;
}

/** Counters (64-bit). */
export interface ClientCounters {
  framesReceived: bigint;
  packetsReceived: bigint;
  packetsSent: bigint;
  unknownFrames: bigint;
  pingsAnswered: bigint;
  readonly drops: Map<ClientDropReason, bigint>;
}

/** One DERP connection's protocol state. */
export class DerpClientCore {
  readonly publicKey: NodePublicKey;
  readonly counters: ClientCounters = {
    framesReceived: 0n,
    packetsReceived: 0n,
    packetsSent: 0n,
    unknownFrames: 0n,
    pingsAnswered: 0n,
    drops: new Map(),
  };
  readonly #opts: ClientCoreOptions;
  readonly #decoder = new FrameDecoder({ maxFrameBytes: MAX_SERVER_KEY_FRAME_BYTES, skipOversizedUnknown: false });
  #state: ClientState = 'awaitServerKey';
  #serverKey: NodePublicKey | undefined;
  #serverInfo: ServerInfo | undefined;
  #outbox: Uint8Array[] = [];
  #handshakeDeadline: number;
  #lastFrameAt: number;
  // Token bucket from ServerInfo (derp.md §3.3 item 6): sends over it are dropped silently.
  #bucketTokens = 0;
  #bucketAt = 0;

  constructor(opts: ClientCoreOptions) {
    this.#opts = opts;
    this.publicKey = publicKeyOf(opts.privateKey);
    this.#handshakeDeadline = opts.now + CLIENT_HANDSHAKE_TIMEOUT_MS;
    this.#lastFrameAt = opts.now;
    if (opts.meshKey && opts.meshKey.length !== KEY_BYTES) throw new RangeError('DerpClientCore: meshKey must be 32 bytes');
  }

  get state(): ClientState {
    return this.#state;
  }
  /** The server's public key, once its ServerKey frame arrived. */
  get serverKey(): NodePublicKey | undefined {
    return this.#serverKey;
  }
  get serverInfo(): ServerInfo | undefined {
    return this.#serverInfo;
  }

  /** Bytes to write to the transport, in order. Call after every method that may queue. */
  takeOutgoing(): Uint8Array[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  /** Feeds transport bytes; returns the messages they complete. After `closed`, returns nothing. */
  receive(bytes: Uint8Array, now: number): ClientMessage[] {
    const out: ClientMessage[] = [];
    if (this.#state === 'closed') return out;
    const r = this.#decoder.push(bytes);
    for (const f of r.frames) {
      this.#lastFrameAt = now;
      this.counters.framesReceived++;
      this.#handleFrame(f.type, f.payload, now, out);
      if ((this.#state as ClientState) === 'closed') return out;
    }
    if (r.error) {
      out.push(this.#close('frameTooLarge', `frame type ${r.error.frameType} of ${r.error.declaredLength} bytes exceeds ${r.error.limit}`));
    }
    return out;
  }

  /** Queues SendPacket(dst, packet). Best effort, like the relay itself. */
  sendPacket(dst: Uint8Array, packet: Uint8Array, now: number): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    if (dst.length !== KEY_BYTES) return this.#drop('badKey');
    if (packet.length > MAX_PACKET_BYTES) return this.#drop('packetTooLarge');
    if (!this.#takeTokens(FRAME_HEADER_BYTES + KEY_BYTES + packet.length, now)) return this.#drop('rateLimited');
    const frame = new Uint8Array(FRAME_HEADER_BYTES + KEY_BYTES + packet.length);
    writeFrameHeader(frame, 0, FrameType.SendPacket, KEY_BYTES + packet.length);
    frame.set(dst, FRAME_HEADER_BYTES);
    frame.set(packet, FRAME_HEADER_BYTES + KEY_BYTES);
    this.#outbox.push(frame);
    this.counters.packetsSent++;
    return { type: 'queued' };
  }

  /** Queues ForwardPacket(src, dst, packet): a mesh server relaying for one of its clients. */
  forwardPacket(src: Uint8Array, dst: Uint8Array, packet: Uint8Array): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    if (src.length !== KEY_BYTES || dst.length !== KEY_BYTES) return this.#drop('badKey');
    if (packet.length > MAX_PACKET_BYTES) return this.#drop('packetTooLarge');
    this.#outbox.push(encodeFrame(FrameType.ForwardPacket, src, dst, packet));
    this.counters.packetsSent++;
    return { type: 'queued' };
  }

  /** Queues Ping with 8 bytes of caller data (the Pong echoes them). */
  sendPing(data: Uint8Array): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    if (data.length !== PING_DATA_BYTES) throw new RangeError('sendPing: data must be 8 bytes');
    this.#outbox.push(encodeFrame(FrameType.Ping, data));
    return { type: 'queued' };
  }

  /** Queues NotePreferred: whether this server is our home (statistics only on the server). */
  notePreferred(preferred: boolean): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    this.#outbox.push(encodeFrame(FrameType.NotePreferred, Uint8Array.of(preferred ? 1 : 0)));
    return { type: 'queued' };
  }

  /** Queues WatchConns (needs the mesh key, or the server closes us). */
  watchConns(): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    this.#outbox.push(encodeFrame(FrameType.WatchConns));
    return { type: 'queued' };
  }

  /** Queues ClosePeer(key) (needs the mesh key). */
  closePeer(peer: Uint8Array): SendResult {
    if (this.#state !== 'connected') return this.#drop('notConnected');
    if (peer.length !== KEY_BYTES) return this.#drop('badKey');
    this.#outbox.push(encodeFrame(FrameType.ClosePeer, peer));
    return { type: 'queued' };
  }

  /** The next time `poll` has work: the handshake or the read timeout. */
  nextDeadline(): number | undefined {
    if (this.#state === 'closed') return undefined;
    if (this.#state !== 'connected') return this.#handshakeDeadline;
    return this.#lastFrameAt + CLIENT_READ_TIMEOUT_MS;
  }

  /** Checks the timeouts; returns `closed` when one expired. */
  poll(now: number): ClientMessage[] {
    const d = this.nextDeadline();
    if (d === undefined || now < d) return [];
    if (this.#state === 'connected') return [this.#close('readTimeout', `no frame for ${CLIENT_READ_TIMEOUT_MS} ms`)];
    return [this.#close('handshakeTimeout', `DERP handshake not done within ${CLIENT_HANDSHAKE_TIMEOUT_MS} ms`)];
  }

  /** Marks the connection closed by us; returns the final message. */
  close(): ClientMessage {
    return this.#close('closedByUser', 'closed');
  }

  #close(reason: ClientCloseReason, message: string): ClientMessage {
    this.#state = 'closed';
    this.#outbox = [];
    return { type: 'closed', reason, message };
  }

  #drop(reason: ClientDropReason): SendResult {
    this.counters.drops.set(reason, (this.counters.drops.get(reason) ?? 0n) + 1n);
    return { type: 'drop', reason };
  }

  #takeTokens(n: number, now: number): boolean {
    const info = this.#serverInfo;
    if (!info || info.tokenBucketBytesPerSecond <= 0) return true;
    const burst = Math.max(info.tokenBucketBytesBurst, n);
    this.#bucketTokens = Math.min(burst, this.#bucketTokens + ((now - this.#bucketAt) * info.tokenBucketBytesPerSecond) / 1000);
    this.#bucketAt = now;
    if (this.#bucketTokens < n) return false;
    this.#bucketTokens -= n;
    return true;
  }

  #handleFrame(type: number, payload: Uint8Array, now: number, out: ClientMessage[]): void {
    switch (this.#state) {
      case 'awaitServerKey':
        this.#onServerKey(type, payload, out);
        return;
      case 'awaitServerInfo':
        this.#onServerInfo(type, payload, now, out);
        return;
      case 'connected':
        this.#onFrame(type, payload, out);
        return;
      case 'closed':
        return;
    }
  }

  #onServerKey(type: number, payload: Uint8Array, out: ClientMessage[]): void {
    if (type !== FrameType.ServerKey) {
      out.push(this.#close('unexpectedFrame', `expected ServerKey, got frame type ${type}`));
      return;
    }
    const k = decodeServerKey(payload);
    if (!k.ok) {
      out.push(this.#close('badServerKey', k.message));
      return;
    }
    if (this.#opts.expectedServerKey && !constantTimeEqual(this.#opts.expectedServerKey, k.serverKey)) {
      out.push(this.#close('serverKeyMismatch', 'server key differs from the expected key'));
      return;
    }
    this.#serverKey = k.serverKey;
    const nonce = this.#opts.rng.fill(new Uint8Array(NONCE_BYTES));
    const sealed = sealClientInfo(this.#opts.privateKey, k.serverKey, nonce, {
      version: PROTOCOL_VERSION,
      ...(this.#opts.meshKey ? { meshKey: toHex(this.#opts.meshKey) } : {}),
      canAckPings: true,
      isProber: this.#opts.isProber ?? false,
      ...(this.#opts.appName ? { appName: this.#opts.appName } : {}),
    });
    if (!sealed) {
      out.push(this.#close('badServerKey', 'server key is a low-order point'));
      return;
    }
    this.#outbox.push(encodeFrame(FrameType.ClientInfo, sealed));
    this.#decoder.setMaxFrameBytes(MAX_SERVER_INFO_FRAME_BYTES);
    this.#state = 'awaitServerInfo';
  }

  #onServerInfo(type: number, payload: Uint8Array, now: number, out: ClientMessage[]): void {
    if (type !== FrameType.ServerInfo) {
      out.push(this.#close('unexpectedFrame', `expected ServerInfo, got frame type ${type}`));
      return;
    }
    const info = openServerInfo(this.#opts.privateKey, this.#serverKey!, payload);
    if (!info.ok) {
      out.push(this.#close('serverInfoRejected', info.message));
      return;
    }
    this.#serverInfo = info.info;
    this.#bucketTokens = info.info.tokenBucketBytesBurst;
    this.#bucketAt = now;
    this.#decoder.setMaxFrameBytes(MAX_CLIENT_RECV_FRAME_BYTES);
    this.#state = 'connected';
    out.push({ type: 'serverInfo', serverKey: this.#serverKey!, info: info.info });
  }

  #onFrame(type: number, payload: Uint8Array, out: ClientMessage[]): void {
    switch (type) {
      case FrameType.RecvPacket: {
        const p = decodeRecvPacket(payload);
        if (!p.ok) return void this.#drop('shortFrame');
        this.counters.packetsReceived++;
        out.push({ type: 'receivedPacket', source: p.src, data: p.packet });
        return;
      }
      case FrameType.KeepAlive:
        out.push({ type: 'keepAlive' });
        return;
      case FrameType.PeerGone: {
        const g = decodePeerGone(payload);
        if (!g.ok) return void this.#drop('shortFrame');
        out.push({ type: 'peerGone', peer: g.key, reason: g.reason === 0 ? 'disconnected' : g.reason === 1 ? 'notHere' : g.reason });
        return;
      }
      case FrameType.PeerPresent: {
        const p = decodePeerPresent(payload);
        if (!p.ok) return void this.#drop('shortFrame');
        out.push({ type: 'peerPresent', peer: p.key, ...(p.endpoint ? { endpoint: p.endpoint } : {}), flags: p.flags });
        return;
      }
      case FrameType.Ping: {
        if (payload.length < PING_DATA_BYTES) return void this.#drop('shortFrame');
        const data = payload.slice(0, PING_DATA_BYTES);
        this.#outbox.push(encodeFrame(FrameType.Pong, data));
        this.counters.pingsAnswered++;
        out.push({ type: 'ping', data });
        return;
      }
      case FrameType.Pong: {
        const p = decodePong(payload);
        if (!p.ok) return void this.#drop('shortFrame');
        out.push({ type: 'pong', data: p.data });
        return;
      }
      case FrameType.Health: {
        const h = decodeHealth(payload);
        if (h.ok) out.push({ type: 'health', problem: h.problem });
        return;
      }
      case FrameType.Restarting: {
        const r = decodeRestarting(payload);
        if (!r.ok) return void this.#drop('shortFrame');
        out.push({ type: 'restarting', reconnectInMs: r.reconnectInMs, tryForMs: r.tryForMs });
        return;
      }
      default:
        // ServerKey again (fast start), ServerInfo again, client-to-server types and types
        // from the future: skipped by length (the decoder has consumed them already).
        this.counters.unknownFrames++;
        return;
    }
  }
}
