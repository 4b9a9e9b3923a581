/**
 * Two relays meshed on loopback with the same mesh key: a client on relay 1 and a client on
 * relay 2 exchange packets both ways through ForwardPacket, and routes follow clients leaving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { generateNodePrivateKey, type NodePublicKey } from '../../src/derp/protocol.js';
import { DerpClient } from '../../src/derp/io/client.js';
import { startMesh } from '../../src/derp/io/mesh.js';
import { startRelay, type TestRelay } from './support/relay.js';

const MESH_KEY = new Uint8Array(32).fill(0x77);
const rng = new SystemRng();

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function nextPacket(c: DerpClient, timeoutMs = 3000): Promise<{ source: string; data: string }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error('no packet'));
    }, timeoutMs);
    const off = c.onPacket((source: NodePublicKey, data: Uint8Array) => {
      clearTimeout(t);
      off();
      resolve({ source: toHex(source), data: toHex(data) });
    });
  });
}

let r1: TestRelay;
let r2: TestRelay;
let mesh1: ReturnType<typeof startMesh>;
let mesh2: ReturnType<typeof startMesh>;
const clients: DerpClient[] = [];

beforeAll(async () => {
  r1 = await startRelay({ meshKey: MESH_KEY });
  r2 = await startRelay({ meshKey: MESH_KEY });
  // Each relay lists both URLs, itself included, as derper's --mesh-with allows.
  const urls = [r1.url, r2.url];
  mesh1 = startMesh({ server: r1.server, serverPrivateKey: r1.privateKey, meshKey: MESH_KEY, urls, retryInitialMs: 20 });
  mesh2 = startMesh({ server: r2.server, serverPrivateKey: r2.privateKey, meshKey: MESH_KEY, urls, retryInitialMs: 20 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await mesh1?.close();
  await mesh2?.close();
  await r1?.close();
  await r2?.close();
});

describe('DERP mesh over loopback', () => {
  it('detects the self-connect and keeps the sibling link', async () => {
    await until(() => mesh1.watchers[0]!.selfConnect && mesh2.watchers[1]!.selfConnect);
    await until(() => mesh1.watchers[1]!.client.connected && mesh2.watchers[0]!.client.connected);
  });

  it('relays packets between clients of different relays, both ways', async () => {
    const a = new DerpClient({ url: r1.url, privateKey: generateNodePrivateKey(rng) });
    const b = new DerpClient({ url: r2.wsUrl, privateKey: generateNodePrivateKey(rng) });
    clients.push(a, b);
    await Promise.all([a.connect(), b.connect()]);
    const toR2 = mesh1.watchers[1]!.table;
    const toR1 = mesh2.watchers[0]!.table;
    await until(() => toR2.has(b.publicKey) && toR1.has(a.publicKey));
    expect(r1.server.isLocal(b.publicKey)).toBe(false);

    const gotB = nextPacket(b);
    a.sendPacket(b.publicKey, Uint8Array.of(0xa1, 0xa2));
    expect(await gotB).toEqual({ source: toHex(a.publicKey), data: 'a1a2' });

    const gotA = nextPacket(a);
    b.sendPacket(a.publicKey, new Uint8Array(1200).fill(0xb0));
    expect(await gotA).toEqual({ source: toHex(b.publicKey), data: 'b0'.repeat(1200) });

    // b leaves relay 2: relay 1's route to it goes away, and a hears PeerGone.
    const goneAtA = new Promise<string>((resolve) =>
      a.onMessage((m) => {
        if (m.type === 'peerGone') resolve(toHex(m.peer));
      }),
    );
    await b.close();
    await until(() => !toR2.has(b.publicKey));
    expect(await goneAtA).toBe(toHex(b.publicKey));
  });

  it('re-learns routes after the mesh link breaks and comes back', async () => {
    const c = new DerpClient({ url: r2.url, privateKey: generateNodePrivateKey(rng) });
    const d = new DerpClient({ url: r1.url, privateKey: generateNodePrivateKey(rng) });
    clients.push(c, d);
    await Promise.all([c.connect(), d.connect()]);
    const w = mesh1.watchers[1]!;
    await until(() => w.table.has(c.publicKey));
    // Kill relay 1's link to relay 2 from relay 2's side: ClosePeer on relay 1's key.
    const killer = new DerpClient({ url: r2.url, privateKey: generateNodePrivateKey(rng), meshKey: MESH_KEY });
    clients.push(killer);
    await killer.connect();
    const before = w.client.reconnects;
    const lost = new Promise<void>((resolve) => w.client.onDisconnected(() => resolve()));
    killer.closePeer(r1.server.publicKey);
    await lost;
    await until(() => w.client.reconnects > before && w.client.connected && w.table.has(c.publicKey));
    const got = nextPacket(c);
    d.sendPacket(c.publicKey, Uint8Array.of(5));
    expect(await got).toEqual({ source: toHex(d.publicKey), data: '05' });
  });
});
