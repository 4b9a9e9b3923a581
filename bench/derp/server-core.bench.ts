/**
 * DERP relay core micro-benchmarks, no sockets: frame decoding, relaying packets between two
 * in-memory connections (decode SendPacket → route → queue → write RecvPacket), and handshakes
 * (X25519 + NaCl box open + seal). Each output is cross-validated before timing.
 * Run: `npm run bench derp/server-core`.
 */
import { bench, crossValidate } from '../harness.js';
import { FrameDecoder, FrameType, encodeFrame } from '../../src/derp/frame.js';
import { decodeServerKey, generateNodePrivateKey, publicKeyOf, sealClientInfo } from '../../src/derp/protocol.js';
import { DerpServer, type FrameConn } from '../../src/derp/server.js';
import { ManualClock } from '../../src/runtime/clock.js';
import { SeededRng } from '../../src/runtime/rng.js';

const rng = new SeededRng(1);
const clock = new ManualClock();
const PACKETS_PER_CHUNK = 16;

/** A FrameConn that remembers the last write and nothing else. */
class SinkConn implements FrameConn {
  last: readonly Uint8Array[] = [];
  bytes = 0;
  write(chunks: readonly Uint8Array[]): void {
    this.last = chunks;
    for (const c of chunks) this.bytes += c.length;
  }
  backlogBytes(): number {
    return 0;
  }
  close(): void {}
}

function handshake(server: DerpServer, conn: SinkConn, priv = generateNodePrivateKey(rng)) {
  const h = server.accept(conn);
  const sk = decodeServerKey(conn.last[0]!.subarray(5));
  if (!sk.ok) throw new Error('no ServerKey');
  h.receive(encodeFrame(FrameType.ClientInfo, sealClientInfo(priv, sk.serverKey, rng.fill(new Uint8Array(24)), { version: 2, canAckPings: true, isProber: false })!));
  if (conn.last[0]![0] !== FrameType.ServerInfo) throw new Error('no ServerInfo');
  return { h, pub: publicKeyOf(priv) };
}

for (const size of [64, 1200, 8192]) {
  const frame = encodeFrame(FrameType.SendPacket, new Uint8Array(32).fill(7), new Uint8Array(size).fill(1));
  const chunk = new Uint8Array(frame.length * PACKETS_PER_CHUNK);
  for (let i = 0; i < PACKETS_PER_CHUNK; i++) chunk.set(frame, i * frame.length);
  const d = new FrameDecoder({ maxFrameBytes: 65600 });
  const check = d.push(chunk.subarray(0, chunk.length - 3));
  const rest = d.push(chunk.subarray(chunk.length - 3));
  if (check.frames.length + rest.frames.length !== PACKETS_PER_CHUNK) throw new Error('decoder lost frames');
  crossValidate(`decode ${size}`, rest.frames[0]!.payload, frame.subarray(5));
  // Zero-copy: whole frames come back as views, so this is frames found per second, not bytes.
  bench(`derp frame decode ${size} B (x${PACKETS_PER_CHUNK}/chunk)`, () => {
    d.push(chunk);
  });
}

for (const size of [64, 1200, 8192]) {
  const server = new DerpServer({ privateKey: generateNodePrivateKey(rng), clock, rng });
  const aConn = new SinkConn();
  const bConn = new SinkConn();
  const a = handshake(server, aConn);
  const b = handshake(server, bConn);
  const packet = new Uint8Array(size).map((_, i) => i & 0xff);
  const frame = encodeFrame(FrameType.SendPacket, b.pub, packet);
  const chunk = new Uint8Array(frame.length * PACKETS_PER_CHUNK);
  for (let i = 0; i < PACKETS_PER_CHUNK; i++) chunk.set(frame, i * frame.length);
  a.h.receive(chunk);
  crossValidate(`relay ${size}`, bConn.last[PACKETS_PER_CHUNK - 1]!, encodeFrame(FrameType.RecvPacket, a.pub, packet));
  bench(`derp relay core ${size} B (x${PACKETS_PER_CHUNK}/chunk)`, () => {
    a.h.receive(chunk);
  }, { bytesPerOp: size * PACKETS_PER_CHUNK });
}

{
  const server = new DerpServer({ privateKey: generateNodePrivateKey(rng), clock, rng });
  const priv = generateNodePrivateKey(rng);
  bench('derp handshake (server side incl. client sealing)', () => {
    const conn = new SinkConn();
    const { h } = handshake(server, conn, priv);
    h.closed();
  }, { minMs: 200, runs: 3 });
}
