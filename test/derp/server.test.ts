import { beforeEach, describe, expect, it } from 'vitest';
import { FrameType, encodeFrame } from '../../src/derp/frame.js';
import {
  PeerGoneReason, decodePeerGone, decodePeerPresent, decodeRecvPacket, decodeRestarting, encodeServerKey,
  generateNodePrivateKey, keyHex, publicKeyOf, type NodePublicKey,
} from '../../src/derp/protocol.js';
import { DerpServer, HANDSHAKE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_JITTER_MS, WRITE_BACKLOG_HIGH_WATER_BYTES, type PacketForwarder } from '../../src/derp/server.js';
import { DropReason } from '../../src/derp/server-stats.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { connectClient, MemoryConn } from './support/memory-conn.js';

const MESH_KEY_HEX = '5a'.repeat(32);
const DISCO = new Uint8Array([0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac, ...new Uint8Array(60)]);

let clock: ManualClock;
let rng: SeededRng;
let server: DerpServer;

function newServer(extra: Partial<ConstructorParameters<typeof DerpServer>[0]> = {}): DerpServer {
  return new DerpServer({ privateKey: generateNodePrivateKey(rng), clock, rng, meshKey: Buffer.from(MESH_KEY_HEX, 'hex'), ...extra });
}

function recvPackets(conn: MemoryConn): { src: string; data: string }[] {
  return conn.take().filter((f) => f.type === FrameType.RecvPacket).map((f) => {
    const r = decodeRecvPacket(f.payload);
    if (!r.ok) throw new Error(r.message);
    return { src: toHex(r.src), data: toHex(r.packet) };
  });
}

function advance(ms: number): void {
  clock.advance(ms);
  server.poll(clock.monotonicMs());
}

beforeEach(() => {
  clock = new ManualClock();
  rng = new SeededRng(42);
  server = newServer();
});

describe('handshake', () => {
  it('sends ServerKey first, then ServerInfo after a valid ClientInfo', () => {
    const conn = new MemoryConn();
    server.accept(conn);
    expect(conn.frames[0]!.type).toBe(FrameType.ServerKey);
    expect(toHex(conn.frames[0]!.payload)).toBe(toHex(encodeServerKey(server.publicKey)));
    const a = connectClient(server, rng);
    expect(a.conn.closedWith).toBeUndefined();
    expect(server.isLocal(a.pub)).toBe(true);
    expect(server.gauges().currentConnections).toBe(1);
  });

  it('drops a client that stalls mid-handshake at the 10 s deadline', () => {
    const a = connectClient(server, rng, { handshake: false });
    a.handle.receive(encodeFrame(FrameType.ClientInfo, new Uint8Array(10)).subarray(0, 7)); // half a frame
    expect(server.nextDeadline()).toBe(clock.monotonicMs() + HANDSHAKE_TIMEOUT_MS);
    advance(HANDSHAKE_TIMEOUT_MS - 1);
    expect(a.conn.closedWith).toBeUndefined();
    advance(1);
    expect(a.conn.closedWith).toBe('handshake-timeout');
    expect(server.stats.handshakeTimeouts).toBe(1n);
  });

  it('closes when the first frame is not ClientInfo', () => {
    const a = connectClient(server, rng, { handshake: false });
    a.send(FrameType.Ping, new Uint8Array(8));
    expect(a.conn.closedWith).toBe('handshake-failed');
  });

  it('closes when the ClientInfo box does not open', () => {
    const a = connectClient(server, rng, { handshake: false });
    a.send(FrameType.ClientInfo, new Uint8Array(32 + 24 + 40).fill(7));
    expect(a.conn.closedWith).toBe('handshake-failed');
    expect(server.stats.handshakeFailures).toBe(1n);
  });

  it('closes on a ClientInfo frame over the 256 KiB pre-auth cap without buffering it', () => {
    const a = connectClient(server, rng, { handshake: false });
    a.handle.receive(Uint8Array.of(FrameType.ClientInfo, 0x00, 0x04, 0x00, 0x01));
    expect(a.conn.closedWith).toBe('frame-too-large');
  });

  it('verify-clients rejects keys that are not allowed, and lets mesh peers bypass it', () => {
    const allowed = generateNodePrivateKey(rng);
    const allowList = new Set([keyHex(publicKeyOf(allowed))]);
    server.setVerifyClient((key) => (allowList.has(keyHex(key)) ? { allow: true } : { allow: false, reason: 'not in allow-list' }));
    const ok = connectClient(server, rng, { priv: allowed });
    expect(ok.conn.closedWith).toBeUndefined();
    const bad = connectClient(server, rng);
    expect(bad.conn.closedWith).toBe('rejected');
    expect(bad.conn.ofType(FrameType.ServerInfo)).toHaveLength(0);
    expect(server.stats.rejectedClients).toBe(1n);
    const mesh = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    expect(mesh.conn.closedWith).toBeUndefined();
  });
});

describe('relaying', () => {
  it('two clients exchange packets, each seeing the other as source', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(1, 2, 3));
    b.send(FrameType.SendPacket, a.pub, Uint8Array.of(4, 5));
    expect(recvPackets(b.conn)).toEqual([{ src: toHex(a.pub), data: '010203' }]);
    expect(recvPackets(a.conn)).toEqual([{ src: toHex(b.pub), data: '0405' }]);
    expect(server.stats.packetsReceived).toBe(2n);
    expect(server.stats.packetsSent).toBe(2n);
  });

  it('relays empty and 64 KiB packets, and closes on a 64 KiB + 1 packet', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    a.send(FrameType.SendPacket, b.pub);
    a.send(FrameType.SendPacket, b.pub, new Uint8Array(65536).fill(9));
    const got = recvPackets(b.conn);
    expect(got.map((p) => p.data.length / 2)).toEqual([0, 65536]);
    a.send(FrameType.SendPacket, b.pub, new Uint8Array(65537));
    expect(a.conn.closedWith).toBe('protocol-error');
  });

  it('drops packets for unknown keys and keeps the connection', () => {
    const a = connectClient(server, rng);
    a.send(FrameType.SendPacket, new Uint8Array(32).fill(3), Uint8Array.of(1));
    expect(server.stats.dropped(DropReason.UnknownDest)).toBe(1n);
    expect(a.conn.closedWith).toBeUndefined();
    expect(a.conn.ofType(FrameType.PeerGone)).toHaveLength(0); // not disco: no NotHere
  });

  it('answers disco to unknown keys with PeerGone(NotHere), 3 in a burst then 1 per second', () => {
    const a = connectClient(server, rng);
    const unknown = new Uint8Array(32).fill(4);
    for (let i = 0; i < 5; i++) a.send(FrameType.SendPacket, unknown, DISCO);
    const gone = a.conn.take().filter((f) => f.type === FrameType.PeerGone).map((f) => decodePeerGone(f.payload));
    expect(gone).toHaveLength(3);
    expect(gone[0]).toEqual({ ok: true, key: unknown, reason: PeerGoneReason.NotHere });
    advance(1000);
    a.send(FrameType.SendPacket, unknown, DISCO);
    a.send(FrameType.SendPacket, unknown, DISCO);
    expect(a.conn.take().filter((f) => f.type === FrameType.PeerGone)).toHaveLength(1);
  });

  it('skips unknown frame types and keeps going', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    a.send(0x42, new Uint8Array(100));
    a.handle.receive(encodeFrame(0x43, new Uint8Array(200_000))); // larger than any known frame
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(7));
    expect(recvPackets(b.conn)).toHaveLength(1);
    expect(server.stats.unknownFrames).toBe(2n);
  });

  it('answers Ping with Pong carrying its first 8 bytes; one pending Pong at a time', () => {
    const a = connectClient(server, rng);
    const ping = encodeFrame(FrameType.Ping, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9));
    a.handle.receive(new Uint8Array([...ping, ...encodeFrame(FrameType.Ping, new Uint8Array(8).fill(0xee))]));
    const pongs = a.conn.ofType(FrameType.Pong);
    expect(pongs.map((f) => toHex(f.payload))).toEqual(['0102030405060708']);
    expect(server.stats.gotPing).toBe(2n);
  });

  it.each([
    ['NotePreferred of 2 bytes', FrameType.NotePreferred, 2],
    ['ClosePeer of 31 bytes', FrameType.ClosePeer, 31],
    ['WatchConns with a payload', FrameType.WatchConns, 1],
    ['Ping of 7 bytes', FrameType.Ping, 7],
    ['SendPacket of 31 bytes', FrameType.SendPacket, 31],
  ])('closes the connection on %s', (_n, type, len) => {
    const a = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    a.send(type, new Uint8Array(len));
    expect(a.conn.closedWith).toBe('protocol-error');
  });

  it('counts home connections from NotePreferred', () => {
    const a = connectClient(server, rng);
    a.send(FrameType.NotePreferred, Uint8Array.of(1));
    expect(server.gauges().currentHomeConnections).toBe(1);
    expect(server.stats.homeMovesIn).toBe(1n);
    a.send(FrameType.NotePreferred, Uint8Array.of(0));
    expect(server.gauges().currentHomeConnections).toBe(0);
  });

  it('sends KeepAlive every 60 s plus 0–5 s of jitter', () => {
    const a = connectClient(server, rng);
    a.conn.take();
    advance(KEEP_ALIVE_INTERVAL_MS - 1);
    expect(a.conn.ofType(FrameType.KeepAlive)).toHaveLength(0);
    advance(KEEP_ALIVE_JITTER_MS + 1);
    expect(a.conn.take().filter((f) => f.type === FrameType.KeepAlive)).toHaveLength(1);
    advance(KEEP_ALIVE_INTERVAL_MS + KEEP_ALIVE_JITTER_MS);
    expect(a.conn.ofType(FrameType.KeepAlive)).toHaveLength(1);
  });
});

describe('queues and slow clients', () => {
  it('head-drops when a stalled recipient has 32 packets queued, keeping the newest', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    b.conn.backlog = WRITE_BACKLOG_HIGH_WATER_BYTES; // transport full: nothing more is written
    for (let i = 0; i < 40; i++) a.send(FrameType.SendPacket, b.pub, Uint8Array.of(i));
    expect(recvPackets(b.conn)).toHaveLength(0);
    expect(server.stats.dropped(DropReason.QueueHead)).toBe(8n);
    expect(server.gauges().queuedPackets).toBe(32);
    b.conn.backlog = 0;
    b.handle.writable();
    expect(recvPackets(b.conn).map((p) => parseInt(p.data, 16))).toEqual(Array.from({ length: 32 }, (_, i) => i + 8));
  });

  it('keeps disco in its own queue, so WireGuard floods cannot push it out', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    b.conn.backlog = WRITE_BACKLOG_HIGH_WATER_BYTES;
    a.send(FrameType.SendPacket, b.pub, DISCO);
    for (let i = 0; i < 100; i++) a.send(FrameType.SendPacket, b.pub, Uint8Array.of(i));
    b.conn.backlog = 0;
    b.handle.writable();
    const got = recvPackets(b.conn);
    expect(got[0]!.data).toBe(toHex(DISCO));
    expect(got).toHaveLength(33);
  });

  it('closes a client whose transport stays backed up past the 2 s write deadline', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    b.conn.backlog = WRITE_BACKLOG_HIGH_WATER_BYTES;
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(1));
    advance(1999);
    expect(b.conn.closedWith).toBeUndefined();
    advance(1);
    expect(b.conn.closedWith).toBe('write-timeout');
    expect(server.stats.dropped(DropReason.WriteError)).toBe(1n);
    expect(server.stats.writeTimeouts).toBe(1n);
  });

  it('restarts the write deadline whenever the transport drains, so a slow but moving reader stays', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    b.conn.backlog = WRITE_BACKLOG_HIGH_WATER_BYTES;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) a.send(FrameType.SendPacket, b.pub, Uint8Array.of(i));
      advance(1500);
      b.handle.writable(); // some progress: the socket drained, then backs up again at once
    }
    expect(b.conn.closedWith).toBeUndefined();
    advance(2000);
    expect(b.conn.closedWith).toBe('write-timeout');
  });

  it('counts packets still queued at disconnect as gone_disconnected', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    b.conn.backlog = WRITE_BACKLOG_HIGH_WATER_BYTES;
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(1));
    b.handle.closed();
    expect(server.stats.dropped(DropReason.GoneDisconnected)).toBe(1n);
  });
});

describe('peer gone and duplicates', () => {
  it('tells earlier recipients PeerGone(Disconnected) when the sender leaves', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    const c = connectClient(server, rng);
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(1));
    b.conn.take();
    a.handle.closed();
    const gone = b.conn.ofType(FrameType.PeerGone).map((f) => decodePeerGone(f.payload));
    expect(gone).toEqual([{ ok: true, key: a.pub, reason: PeerGoneReason.Disconnected }]);
    expect(c.conn.ofType(FrameType.PeerGone)).toHaveLength(0);
  });

  it('sends PeerGone only on the 1→0 transition, not 2→1', () => {
    const a1 = connectClient(server, rng);
    const b = connectClient(server, rng);
    const a2 = connectClient(server, rng, { priv: a1.priv });
    a2.send(FrameType.SendPacket, b.pub, Uint8Array.of(1));
    a2.handle.closed();
    expect(b.conn.ofType(FrameType.PeerGone)).toHaveLength(0);
    a1.handle.closed();
    expect(b.conn.ofType(FrameType.PeerGone)).toHaveLength(1);
  });

  it('duplicate key: newest is active, last writer wins, survivor takes over', () => {
    const a1 = connectClient(server, rng);
    const a2 = connectClient(server, rng, { priv: a1.priv });
    const b = connectClient(server, rng);
    expect(a1.conn.closedWith).toBeUndefined();
    expect(server.gauges()).toMatchObject({ currentDupClientKeys: 1, currentDupClientConns: 2 });
    expect(server.stats.totalDupClientConns).toBe(1n);
    b.send(FrameType.SendPacket, a1.pub, Uint8Array.of(1));
    expect([recvPackets(a1.conn).length, recvPackets(a2.conn).length]).toEqual([0, 1]);
    a1.send(FrameType.SendPacket, b.pub, Uint8Array.of(2)); // a1 writes: it becomes active
    b.send(FrameType.SendPacket, a1.pub, Uint8Array.of(3));
    expect([recvPackets(a1.conn).length, recvPackets(a2.conn).length]).toEqual([1, 0]);
    a1.handle.closed();
    b.send(FrameType.SendPacket, a1.pub, Uint8Array.of(4));
    expect(recvPackets(a2.conn)).toHaveLength(1);
    expect(server.gauges()).toMatchObject({ currentDupClientKeys: 0, currentDupClientConns: 0 });
  });
});

describe('mesh: watchers, forwarding, close peer', () => {
  function presentKeys(conn: MemoryConn): string[] {
    return conn.take().filter((f) => f.type === FrameType.PeerPresent).map((f) => {
      const p = decodePeerPresent(f.payload);
      if (!p.ok) throw new Error(p.message);
      return toHex(p.key);
    });
  }

  it('refuses WatchConns without the mesh key', () => {
    const a = connectClient(server, rng);
    a.send(FrameType.WatchConns);
    expect(a.conn.closedWith).toBe('insufficient-permissions');
  });

  it('floods PeerPresent for connected keys, then streams present and gone', () => {
    const a = connectClient(server, rng, { accept: { remote: { ip: '127.0.0.5', port: 4242 } } });
    const w = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    w.send(FrameType.WatchConns);
    const flood = w.conn.take().filter((f) => f.type === FrameType.PeerPresent).map((f) => decodePeerPresent(f.payload));
    expect(flood.map((p) => p.ok && toHex(p.key)).sort()).toEqual([toHex(a.pub), toHex(w.pub)].sort());
    const aPresent = flood.find((p) => p.ok && toHex(p.key) === toHex(a.pub));
    expect(aPresent).toMatchObject({ endpoint: { ip: '127.0.0.5', port: 4242 }, flags: 1 });
    const b = connectClient(server, rng);
    expect(presentKeys(w.conn)).toEqual([toHex(b.pub)]);
    b.handle.closed();
    const gone = w.conn.take().filter((f) => f.type === FrameType.PeerGone).map((f) => decodePeerGone(f.payload));
    expect(gone).toEqual([{ ok: true, key: b.pub, reason: 0 }]);
    expect(server.gauges().watchers).toBe(1);
  });

  it('ignores WatchConns from a watcher holding the server\'s own key (self-mesh)', () => {
    const priv = generateNodePrivateKey(rng);
    const s = new DerpServer({ privateKey: priv, clock, rng, meshKey: Buffer.from(MESH_KEY_HEX, 'hex') });
    const self = connectClient(s, rng, { priv, info: { meshKey: MESH_KEY_HEX } });
    self.send(FrameType.WatchConns);
    expect(s.gauges().watchers).toBe(0);
  });

  it('delivers ForwardPacket from a mesh peer with the forwarded source key', () => {
    const b = connectClient(server, rng);
    const mesh = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    const remoteSrc = new Uint8Array(32).fill(0x77);
    mesh.send(FrameType.ForwardPacket, remoteSrc, b.pub, Uint8Array.of(5));
    expect(recvPackets(b.conn)).toEqual([{ src: toHex(remoteSrc), data: '05' }]);
    mesh.send(FrameType.ForwardPacket, remoteSrc, new Uint8Array(32).fill(1), Uint8Array.of(5));
    expect(server.stats.dropped(DropReason.UnknownDestOnFwd)).toBe(1n);
    expect(server.stats.packetsForwardedIn).toBe(2n);
  });

  it('refuses ForwardPacket from a client without the mesh key', () => {
    const a = connectClient(server, rng);
    a.send(FrameType.ForwardPacket, new Uint8Array(64));
    expect(a.conn.closedWith).toBe('insufficient-permissions');
  });

  it('forwards to a sibling for keys it announced, and reports PeerGone when it withdraws them', () => {
    const a = connectClient(server, rng);
    const remote = new Uint8Array(32).fill(0x99) as NodePublicKey;
    const sent: string[] = [];
    const fwd: PacketForwarder = { forwardPacket: (src, dst, p) => sent.push(`${toHex(src)}>${toHex(dst)}:${toHex(p)}`) };
    const second: PacketForwarder = { forwardPacket: () => sent.push('second') };
    server.addPacketForwarder(remote, fwd);
    server.addPacketForwarder(remote, second);
    a.send(FrameType.SendPacket, remote, Uint8Array.of(0xab));
    expect(sent).toEqual([`${toHex(a.pub)}>${toHex(remote)}:ab`]);
    expect(server.gauges().clientsRemote).toBe(1);
    // A packet forwarded in from that key subscribes `a` to its departure.
    const mesh = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    mesh.send(FrameType.ForwardPacket, remote, a.pub, Uint8Array.of(1));
    a.conn.take();
    server.removePacketForwarder(remote, fwd);
    expect(a.conn.ofType(FrameType.PeerGone)).toHaveLength(0); // the second route still has it
    server.removePacketForwarder(remote, second);
    expect(a.conn.ofType(FrameType.PeerGone).map((f) => decodePeerGone(f.payload))).toEqual([{ ok: true, key: remote, reason: 0 }]);
  });

  it('prefers a local connection over a forwarder', () => {
    const a = connectClient(server, rng);
    const b = connectClient(server, rng);
    const sent: number[] = [];
    server.addPacketForwarder(b.pub, { forwardPacket: () => sent.push(1) });
    a.send(FrameType.SendPacket, b.pub, Uint8Array.of(1));
    expect(sent).toEqual([]);
    expect(recvPackets(b.conn)).toHaveLength(1);
  });

  it('ClosePeer closes every connection of the target for mesh clients, and the sender otherwise', () => {
    const t1 = connectClient(server, rng);
    const t2 = connectClient(server, rng, { priv: t1.priv });
    const plain = connectClient(server, rng);
    plain.send(FrameType.ClosePeer, t1.pub);
    expect(plain.conn.closedWith).toBe('insufficient-permissions');
    expect(t1.conn.closedWith).toBeUndefined();
    const mesh = connectClient(server, rng, { info: { meshKey: MESH_KEY_HEX } });
    mesh.send(FrameType.ClosePeer, t1.pub);
    expect([t1.conn.closedWith, t2.conn.closedWith]).toEqual(['closed-by-peer', 'closed-by-peer']);
    expect(server.isLocal(t1.pub)).toBe(false);
  });

  it('a wrong mesh key is a plain client', () => {
    const w = connectClient(server, rng, { info: { meshKey: '5b'.repeat(32) } });
    w.send(FrameType.WatchConns);
    expect(w.conn.closedWith).toBe('insufficient-permissions');
  });
});

describe('shutdown', () => {
  it('sends Restarting to every client, closes them and refuses new ones', () => {
    const a = connectClient(server, rng);
    a.conn.take();
    server.shutdown(1000, 30000);
    const r = a.conn.ofType(FrameType.Restarting).map((f) => decodeRestarting(f.payload));
    expect(r).toEqual([{ ok: true, reconnectInMs: 1000, tryForMs: 30000 }]);
    expect(a.conn.closedWith).toBe('server-shutdown');
    const late = new MemoryConn();
    server.accept(late);
    expect(late.closedWith).toBe('server-shutdown');
  });

  it('sends Health text to every connection of a key', () => {
    const a = connectClient(server, rng);
    server.sendHealth(a.pub, 'duplicate connection');
    expect(a.conn.ofType(FrameType.Health).map((f) => new TextDecoder().decode(f.payload))).toEqual(['duplicate connection']);
  });
});
