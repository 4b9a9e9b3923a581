/**
 * Asynchronous admission (the verify-client URL hook) in the relay core, driven by hand-resolved
 * promises: ServerInfo only after "allow", early frames held and replayed, rejection and the
 * handshake deadline while waiting, and a bound on what a waiting client may send.
 */
import { describe, expect, it } from 'vitest';
import { FrameType, encodeFrame } from '../../src/derp/frame.js';
import { decodeServerKey, generateNodePrivateKey, openServerInfo, publicKeyOf, sealClientInfo, keyHex } from '../../src/derp/protocol.js';
import { DerpServer, HANDSHAKE_TIMEOUT_MS, type VerifyResult } from '../../src/derp/server.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { MemoryConn } from './support/memory-conn.js';

function deferred(): { promise: Promise<VerifyResult>; resolve: (v: VerifyResult) => void; reject: (e: unknown) => void } {
  let resolve!: (v: VerifyResult) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<VerifyResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup() {
  const rng = new SeededRng(11);
  const clock = new ManualClock();
  const pending = new Map<string, ReturnType<typeof deferred>>();
  const server = new DerpServer({
    privateKey: generateNodePrivateKey(rng), clock, rng,
    verifyClient: (key) => {
      const d = deferred();
      pending.set(keyHex(key), d);
      return d.promise;
    },
  });
  /** Sends ClientInfo (plus `extra` frames in the same chunk) without waiting for ServerInfo. */
  const start = (extra: Uint8Array[] = []) => {
    const priv = generateNodePrivateKey(rng);
    const conn = new MemoryConn();
    const h = server.accept(conn);
    const sk = decodeServerKey(conn.frames.shift()!.payload);
    if (!sk.ok) throw new Error('no ServerKey');
    const ci = encodeFrame(FrameType.ClientInfo, sealClientInfo(priv, sk.serverKey, rng.fill(new Uint8Array(24)), { version: 2, canAckPings: true, isProber: false })!);
    h.receive(new Uint8Array([...ci, ...extra.flatMap((f) => [...f])]));
    return { priv, pub: publicKeyOf(priv), conn, h, serverKey: sk.serverKey, verdict: () => pending.get(keyHex(publicKeyOf(priv)))! };
  };
  return { server, rng, clock, start };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('asynchronous admission', () => {
  it('sends ServerInfo only once allowed, then replays frames sent meanwhile', async () => {
    const { server, start } = setup();
    const a = start();
    a.verdict().resolve({ allow: true });
    await tick();
    const b = start([encodeFrame(FrameType.SendPacket, a.pub, Uint8Array.of(7)), encodeFrame(FrameType.Ping, new Uint8Array(8).fill(1))]);
    expect(b.conn.frames).toHaveLength(0);
    expect(server.gauges().handshakesInProgress).toBe(1);
    b.verdict().resolve({ allow: true });
    await tick();
    expect(b.conn.frames[0]!.type).toBe(FrameType.ServerInfo);
    expect(openServerInfo(b.priv, b.serverKey, b.conn.frames[0]!.payload).ok).toBe(true);
    expect(b.conn.frames.some((f) => f.type === FrameType.Pong)).toBe(true);
    expect(a.conn.frames.filter((f) => f.type === FrameType.RecvPacket)).toHaveLength(1);
  });

  it('closes a client the check rejects, or whose check fails', async () => {
    const { server, start } = setup();
    const a = start();
    a.verdict().resolve({ allow: false, reason: 'no' });
    const b = start();
    b.verdict().reject(new Error('boom'));
    await tick();
    expect(a.conn.closedWith).toBe('rejected');
    expect(b.conn.closedWith).toBe('rejected');
    expect(a.conn.ofType(FrameType.ServerInfo)).toHaveLength(0);
    expect(server.stats.rejectedClients).toBe(2n);
  });

  it('drops a client whose check outlives the handshake deadline, and ignores the late answer', async () => {
    const { server, clock, start } = setup();
    const a = start();
    clock.advance(HANDSHAKE_TIMEOUT_MS);
    server.poll(clock.monotonicMs());
    expect(a.conn.closedWith).toBe('handshake-timeout');
    a.verdict().resolve({ allow: true });
    await tick();
    expect(a.conn.ofType(FrameType.ServerInfo)).toHaveLength(0);
    expect(server.gauges().currentConnections).toBe(0);
  });

  it('closes a waiting client that sends more than 64 frames', () => {
    const { start } = setup();
    const a = start(Array.from({ length: 65 }, () => encodeFrame(FrameType.Ping, new Uint8Array(8))));
    expect(a.conn.closedWith).toBe('protocol-error');
  });
});
