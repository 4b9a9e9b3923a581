/**
 * Our sans-IO client core against the real sans-IO relay core (src/derp/server.ts), wired
 * through in-memory pipes: the full handshake, relaying, ping, health, restarting, watchers,
 * and a two-relay mesh driven by MeshPeerTable — no sockets, no mocks of either side.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { concatBytes, toHex } from '../../src/runtime/bytes.js';
import { DerpClientCore, type ClientMessage } from '../../src/derp/client.js';
import { DerpServer, type CloseReason, type FrameConn, type ServerConnHandle } from '../../src/derp/server.js';
import { generateNodePrivateKey, publicKeyOf, type NodePrivateKey } from '../../src/derp/protocol.js';
import { MeshPeerTable } from '../../src/derp/mesh.js';

const MESH_KEY = new Uint8Array(32).fill(0x5a);

/** Bytes waiting to cross, in both directions, pumped until quiet (no re-entrant calls). */
class Net {
  readonly queue: (() => void)[] = [];
  pump(): void {
    for (let i = 0; i < 100_000 && this.queue.length > 0; i++) this.queue.shift()!();
    if (this.queue.length > 0) throw new Error('network did not go quiet');
  }
}

class Pipe implements FrameConn {
  closedWith: CloseReason | undefined;
  handle!: ServerConnHandle;
  readonly messages: ClientMessage[] = [];
  readonly core: DerpClientCore;
  readonly #net: Net;
  readonly #clock: ManualClock;
  onMessage: (m: ClientMessage) => void = () => undefined;

  constructor(net: Net, server: DerpServer, clock: ManualClock, priv: NodePrivateKey, meshKey?: Uint8Array) {
    this.#net = net;
    this.#clock = clock;
    this.core = new DerpClientCore({ privateKey: priv, rng: new SeededRng(3), now: clock.monotonicMs(), ...(meshKey ? { meshKey } : {}) });
    net.queue.push(() => {
      this.handle = server.accept(this, { remote: { ip: '127.0.0.1', port: 40000 } });
    });
  }
  // Server → client.
  write(chunks: readonly Uint8Array[]): void {
    const bytes = concatBytes(...chunks);
    this.#net.queue.push(() => {
      for (const m of this.core.receive(bytes, this.#clock.monotonicMs())) {
        // Copy views: they alias `bytes` only for the duration of this call.
        const kept = JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))) as ClientMessage;
        this.messages.push(kept);
        this.onMessage(m);
      }
      this.flush();
    });
  }
  backlogBytes(): number {
    return 0;
  }
  close(reason: CloseReason): void {
    this.closedWith = reason;
  }
  // Client → server.
  flush(): void {
    const out = this.core.takeOutgoing();
    if (out.length === 0) return;
    const bytes = concatBytes(...out);
    this.#net.queue.push(() => {
      if (this.closedWith === undefined) this.handle.receive(bytes);
    });
  }
  types(): string[] {
    return this.messages.map((m) => m.type);
  }
}

function setup(seed: number): { net: Net; clock: ManualClock; rng: SeededRng; server: DerpServer } {
  const clock = new ManualClock();
  const rng = new SeededRng(seed);
  const server = new DerpServer({ privateKey: generateNodePrivateKey(rng), clock, rng, meshKey: MESH_KEY });
  return { net: new Net(), clock, rng, server };
}

describe('client core against the relay core (in memory)', () => {
  it('handshakes, relays packets both ways with the right source, and answers ping', () => {
    const { net, clock, rng, server } = setup(11);
    const a = new Pipe(net, server, clock, generateNodePrivateKey(rng));
    const b = new Pipe(net, server, clock, generateNodePrivateKey(rng));
    net.pump();
    expect(a.core.state).toBe('connected');
    expect(b.core.state).toBe('connected');
    expect(a.messages[0]).toMatchObject({ type: 'serverInfo', serverKey: toHex(server.publicKey), info: { version: 2 } });

    a.core.sendPacket(b.core.publicKey, Uint8Array.of(1, 2, 3), clock.monotonicMs());
    a.flush();
    b.core.sendPacket(a.core.publicKey, Uint8Array.of(4, 5), clock.monotonicMs());
    b.flush();
    a.core.sendPing(Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9));
    a.flush();
    net.pump();
    expect(b.messages).toContainEqual({ type: 'receivedPacket', source: toHex(a.core.publicKey), data: '010203' });
    expect(a.messages).toContainEqual({ type: 'receivedPacket', source: toHex(b.core.publicKey), data: '0405' });
    expect(a.messages).toContainEqual({ type: 'pong', data: '0909090909090909' });
  });

  it('reports Health, KeepAlive, Restarting and PeerGone the server sends', () => {
    const { net, clock, rng, server } = setup(12);
    const a = new Pipe(net, server, clock, generateNodePrivateKey(rng));
    const b = new Pipe(net, server, clock, generateNodePrivateKey(rng));
    net.pump();
    // b learns of a (so it is subscribed to a's departure).
    a.core.sendPacket(b.core.publicKey, Uint8Array.of(1), clock.monotonicMs());
    a.flush();
    net.pump();
    server.sendHealth(b.core.publicKey, 'dup client key');
    clock.advance(66_000);
    server.poll(clock.monotonicMs());
    net.pump();
    expect(b.messages).toContainEqual({ type: 'health', problem: 'dup client key' });
    expect(b.types()).toContain('keepAlive');
    a.handle.closed();
    net.pump();
    expect(b.messages).toContainEqual({ type: 'peerGone', peer: toHex(a.core.publicKey), reason: 'disconnected' });
    server.shutdown(1000, 30_000);
    net.pump();
    expect(b.messages).toContainEqual({ type: 'restarting', reconnectInMs: 1000, tryForMs: 30_000 });
  });

  it('a mesh-key client watches conns: PeerPresent flood, then PeerGone', () => {
    const { net, clock, rng, server } = setup(13);
    const a = new Pipe(net, server, clock, generateNodePrivateKey(rng));
    const w = new Pipe(net, server, clock, generateNodePrivateKey(rng), MESH_KEY);
    net.pump();
    w.core.watchConns();
    w.flush();
    net.pump();
    expect(w.messages).toContainEqual(expect.objectContaining({ type: 'peerPresent', peer: toHex(a.core.publicKey) }));
    a.handle.closed();
    net.pump();
    expect(w.messages).toContainEqual({ type: 'peerGone', peer: toHex(a.core.publicKey), reason: 'disconnected' });
  });

  it('two meshed relays deliver packets between their clients both ways (ForwardPacket)', () => {
    const net = new Net();
    const clock = new ManualClock();
    const rng = new SeededRng(14);
    const priv1 = generateNodePrivateKey(rng);
    const priv2 = generateNodePrivateKey(rng);
    const s1 = new DerpServer({ privateKey: priv1, clock, rng, meshKey: MESH_KEY });
    const s2 = new DerpServer({ privateKey: priv2, clock, rng, meshKey: MESH_KEY });
    // s1's mesh client connects to s2 with s1's own key, and vice versa.
    const link = (from: DerpServer, fromPriv: NodePrivateKey, to: DerpServer): { pipe: Pipe; table: MeshPeerTable } => {
      const pipe = new Pipe(net, to, clock, fromPriv, MESH_KEY);
      const table = new MeshPeerTable(
        from,
        {
          forwardPacket: (src, dst, packet) => {
            pipe.core.forwardPacket(src, dst, packet);
            pipe.flush();
          },
        },
        publicKeyOf(fromPriv),
      );
      pipe.onMessage = (m) => {
        const u = table.handle(m);
        if (u.type === 'connected') {
          pipe.core.watchConns();
          pipe.flush();
        }
      };
      return { pipe, table };
    };
    const l12 = link(s1, priv1, s2);
    const l21 = link(s2, priv2, s1);
    const a = new Pipe(net, s1, clock, generateNodePrivateKey(rng));
    const b = new Pipe(net, s2, clock, generateNodePrivateKey(rng));
    net.pump();
    expect(l12.table.has(b.core.publicKey)).toBe(true);
    expect(l21.table.has(a.core.publicKey)).toBe(true);

    a.core.sendPacket(b.core.publicKey, Uint8Array.of(0xaa), clock.monotonicMs());
    a.flush();
    b.core.sendPacket(a.core.publicKey, Uint8Array.of(0xbb), clock.monotonicMs());
    b.flush();
    net.pump();
    expect(b.messages).toContainEqual({ type: 'receivedPacket', source: toHex(a.core.publicKey), data: 'aa' });
    expect(a.messages).toContainEqual({ type: 'receivedPacket', source: toHex(b.core.publicKey), data: 'bb' });

    // b leaves relay 2: relay 1 learns it through the watch and drops the route.
    b.handle.closed();
    net.pump();
    expect(l12.table.has(b.core.publicKey)).toBe(false);
    expect(s1.isLocal(b.core.publicKey)).toBe(false);
  });
});
