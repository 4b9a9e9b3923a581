/**
 * Untrusted input never throws out of the relay core: arbitrary bytes before the handshake,
 * and arbitrary frames (random and known types, random payloads, random splits) after it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameType, encodeFrame } from '../../src/derp/frame.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { DerpServer } from '../../src/derp/server.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { connectClient, MemoryConn } from './support/memory-conn.js';

const KNOWN = Object.values(FrameType);

function setup(): { server: DerpServer; rng: SeededRng; clock: ManualClock } {
  const rng = new SeededRng(9);
  const clock = new ManualClock();
  const server = new DerpServer({ privateKey: generateNodePrivateKey(rng), clock, rng, meshKey: new Uint8Array(32).fill(1) });
  return { server, rng, clock };
}

describe('relay core never throws on untrusted input', () => {
  it('before the handshake: arbitrary byte chunks', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (chunks) => {
      const { server } = setup();
      const conn = new MemoryConn();
      const h = server.accept(conn);
      for (const c of chunks) h.receive(c);
      server.poll(Number.MAX_SAFE_INTEGER);
    }), { numRuns: 300 });
  });

  it('after the handshake: arbitrary frames, split anywhere, from plain and mesh clients', () => {
    const frameArb = fc.record({
      type: fc.oneof(fc.constantFrom(...KNOWN), fc.integer({ min: 0, max: 255 })),
      payload: fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.constant(new Uint8Array(32)), fc.constant(new Uint8Array(64))),
    });
    fc.assert(fc.property(fc.boolean(), fc.array(frameArb, { maxLength: 12 }), fc.nat(), (mesh, frames, cut) => {
      const { server, rng, clock } = setup();
      const peer = connectClient(server, rng);
      const c = connectClient(server, rng, mesh ? { info: { meshKey: '01'.repeat(32) } } : {});
      const bytes = new Uint8Array(frames.flatMap((f) => [...encodeFrame(f.type, f.payload)]));
      const at = bytes.length === 0 ? 0 : cut % bytes.length;
      c.handle.receive(bytes.subarray(0, at));
      c.handle.receive(bytes.subarray(at));
      c.handle.receive(encodeFrame(FrameType.SendPacket, peer.pub, Uint8Array.of(1)));
      clock.advance(70_000);
      server.poll(clock.monotonicMs());
      c.handle.closed();
      peer.handle.closed();
      expect(server.gauges().currentConnections).toBe(0);
    }), { numRuns: 300 });
  });
});
