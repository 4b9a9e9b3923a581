/**
 * In-memory transport for the sans-IO server core, and a minimal DERP client speaking through
 * it with the real frame/protocol codecs (no mocks of the protocol itself).
 */
import { FrameDecoder, FrameType, MAX_CLIENT_RECV_FRAME_BYTES, encodeFrame, type Frame } from '../../../src/derp/frame.js';
import {
  decodeServerKey, generateNodePrivateKey, openServerInfo, publicKeyOf, sealClientInfo,
  type ClientInfo, type NodePrivateKey, type NodePublicKey,
} from '../../../src/derp/protocol.js';
import type { AcceptInfo, CloseReason, DerpServer, FrameConn, ServerConnHandle } from '../../../src/derp/server.js';
import type { Rng } from '../../../src/runtime/rng.js';

export class MemoryConn implements FrameConn {
  readonly decoder = new FrameDecoder({ maxFrameBytes: MAX_CLIENT_RECV_FRAME_BYTES });
  readonly frames: Frame[] = [];
  closedWith: CloseReason | undefined;
  /** Simulated unsent bytes in the transport (a slow reader). */
  backlog = 0;
  /** When true, written bytes count as backlog instead of being delivered. */
  stalled = false;
  writes = 0;

  write(chunks: readonly Uint8Array[]): void {
    this.writes++;
    for (const c of chunks) {
      if (this.stalled) this.backlog += c.length;
      const r = this.decoder.push(c.slice());
      if (r.error) throw new Error(`server wrote an oversized frame: ${JSON.stringify(r.error)}`);
      this.frames.push(...r.frames);
    }
  }
  backlogBytes(): number {
    return this.backlog;
  }
  close(reason: CloseReason): void {
    this.closedWith = reason;
  }
  /** Frames of one type received so far. */
  ofType(type: number): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }
  take(): Frame[] {
    return this.frames.splice(0);
  }
}

export interface TestClient {
  readonly priv: NodePrivateKey;
  readonly pub: NodePublicKey;
  readonly conn: MemoryConn;
  readonly handle: ServerConnHandle;
  send(type: number, ...parts: Uint8Array[]): void;
}

/** Connects, and (unless `handshake: false`) completes the handshake and checks ServerInfo. */
export function connectClient(server: DerpServer, rng: Rng, opts: { priv?: NodePrivateKey; info?: Partial<ClientInfo>; accept?: AcceptInfo; handshake?: boolean } = {}): TestClient {
  const priv = opts.priv ?? generateNodePrivateKey(rng);
  const pub = publicKeyOf(priv);
  const conn = new MemoryConn();
  const handle = server.accept(conn, opts.accept ?? { remote: { ip: '127.0.0.1', port: 40000 } });
  const client: TestClient = {
    priv, pub, conn, handle,
    send: (type, ...parts) => handle.receive(encodeFrame(type, ...parts)),
  };
  if (opts.handshake === false) return client;
  const first = conn.frames.shift();
  if (first?.type !== FrameType.ServerKey) throw new Error('no ServerKey frame first');
  const sk = decodeServerKey(first.payload);
  if (!sk.ok) throw new Error(sk.message);
  const info: ClientInfo = { version: 2, canAckPings: true, isProber: false, ...opts.info };
  const payload = sealClientInfo(priv, sk.serverKey, rng.fill(new Uint8Array(24)), info)!;
  client.send(FrameType.ClientInfo, payload);
  if (conn.closedWith) return client;
  const si = conn.frames.shift();
  if (si?.type !== FrameType.ServerInfo) throw new Error(`no ServerInfo, got ${si?.type}`);
  const opened = openServerInfo(priv, sk.serverKey, si.payload);
  if (!opened.ok || opened.info.version !== 2) throw new Error('bad ServerInfo');
  return client;
}
