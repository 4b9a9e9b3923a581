import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/runtime/bytes.js';
import { MeshPeerTable, type ForwarderRegistry, type PacketForwarder } from '../../src/derp/mesh.js';
import type { NodePublicKey } from '../../src/derp/protocol.js';

const OWN = fromHex('01'.repeat(32)) as NodePublicKey;
const SIBLING = fromHex('02'.repeat(32)) as NodePublicKey;
const X = fromHex('0a'.repeat(32)) as NodePublicKey;
const Y = fromHex('0b'.repeat(32)) as NodePublicKey;
const INFO = { version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 };

/** Records the calls a relay core would get (the real core is exercised in mesh.test.ts). */
class RecordingRegistry implements ForwarderRegistry {
  readonly log: string[] = [];
  readonly routes = new Map<string, PacketForwarder[]>();
  addPacketForwarder(key: NodePublicKey, fwd: PacketForwarder): void {
    this.log.push(`add ${toHex(key).slice(0, 2)}`);
    this.routes.set(toHex(key), [...(this.routes.get(toHex(key)) ?? []), fwd]);
  }
  removePacketForwarder(key: NodePublicKey, fwd: PacketForwarder): void {
    this.log.push(`remove ${toHex(key).slice(0, 2)}`);
    this.routes.set(toHex(key), (this.routes.get(toHex(key)) ?? []).filter((f) => f !== fwd));
  }
}

const fwd: PacketForwarder = { forwardPacket: () => undefined };

describe('mesh peer table', () => {
  it('registers a forwarder per PeerPresent and removes it on PeerGone', () => {
    const reg = new RecordingRegistry();
    const t = new MeshPeerTable(reg, fwd, OWN);
    expect(t.handle({ type: 'serverInfo', serverKey: SIBLING, info: INFO })).toEqual({ type: 'connected', cleared: 0 });
    expect(t.handle({ type: 'peerPresent', peer: X, flags: 1 })).toMatchObject({ type: 'added' });
    expect(t.handle({ type: 'peerPresent', peer: X, flags: 1 })).toEqual({ type: 'none' });
    expect(t.handle({ type: 'peerPresent', peer: Y, flags: 1 })).toMatchObject({ type: 'added' });
    expect(t.size).toBe(2);
    expect(reg.routes.get(toHex(X))).toEqual([fwd]);
    expect(t.handle({ type: 'peerGone', peer: X, reason: 'disconnected' })).toMatchObject({ type: 'removed' });
    expect(t.handle({ type: 'peerGone', peer: X, reason: 'disconnected' })).toEqual({ type: 'none' });
    expect(reg.log).toEqual(['add 0a', 'add 0b', 'remove 0a']);
    expect(t.has(Y)).toBe(true);
  });

  it('keeps its own copy of the key (messages alias transport buffers)', () => {
    const reg = new RecordingRegistry();
    const t = new MeshPeerTable(reg, fwd, OWN);
    const buf = X.slice() as NodePublicKey;
    t.handle({ type: 'peerPresent', peer: buf, flags: 1 });
    buf.fill(0xff);
    expect(t.has(X)).toBe(true);
  });

  it('clears every route when the connection breaks or reconnects', () => {
    const reg = new RecordingRegistry();
    const t = new MeshPeerTable(reg, fwd, OWN);
    t.handle({ type: 'serverInfo', serverKey: SIBLING, info: INFO });
    t.handle({ type: 'peerPresent', peer: X, flags: 1 });
    t.handle({ type: 'peerPresent', peer: Y, flags: 1 });
    t.handle({ type: 'closed', reason: 'readTimeout', message: '' });
    expect(t.size).toBe(0);
    t.handle({ type: 'peerPresent', peer: X, flags: 1 });
    expect(t.handle({ type: 'serverInfo', serverKey: SIBLING, info: INFO })).toEqual({ type: 'connected', cleared: 1 });
    expect(reg.log).toEqual(['add 0a', 'add 0b', 'remove 0a', 'remove 0b', 'add 0a', 'remove 0a']);
  });

  it('detects a self-connect and ignores our own key', () => {
    const reg = new RecordingRegistry();
    const t = new MeshPeerTable(reg, fwd, OWN);
    expect(t.handle({ type: 'peerPresent', peer: OWN, flags: 2 })).toEqual({ type: 'none' });
    expect(t.handle({ type: 'serverInfo', serverKey: OWN, info: INFO })).toEqual({ type: 'selfConnect' });
    expect(t.isSelfConnect).toBe(true);
    expect(t.handle({ type: 'peerPresent', peer: X, flags: 1 })).toEqual({ type: 'none' });
    expect(reg.log).toEqual([]);
  });
});
