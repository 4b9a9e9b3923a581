/**
 * TUN offload micro-benchmarks (no sockets): cutting a 64 KiB TCP superpacket into MTU-sized
 * segments (gso-split.ts, with a full TCP checksum per segment), joining 46 segments into one
 * superpacket (tcp-coalesce.ts), and the Internet checksum over 1400 bytes against the plain
 * reference. Outputs are cross-validated first: split segments are compared with the segments a
 * sender would have built, and the coalesced frame splits back into them.
 */
import { bench, crossValidate } from '../harness.js';
import { GsoSplitter } from '../../src/wireguard/gso-split.js';
import { TcpCoalescer } from '../../src/wireguard/tcp-coalesce.js';
import { finishChecksum, sumWords } from '../../src/wireguard/inet-checksum.js';
import { VIRTIO_NET_HDR_BYTES } from '../../src/wireguard/virtio-net-hdr.js';
import { buildTcpPacket, referenceSum } from '../../test/reference/inet-checksum.js';

const MSS = 1368; // 1420 MTU − 20 IPv4 − 32 TCP (timestamps)
const SEGMENTS = 46;
const base = {
  version: 4 as const,
  src: new Uint8Array([10, 77, 0, 1]),
  dst: new Uint8Array([10, 77, 0, 2]),
  srcPort: 40000,
  dstPort: 5201,
  ack: 1,
  window: 500,
  options: new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
};
const payload = new Uint8Array(MSS * SEGMENTS).map((_, i) => (i * 7) & 0xff);
const segments = Array.from({ length: SEGMENTS }, (_, i) =>
  buildTcpPacket({ ...base, seq: 1000 + i * MSS, flags: 0x10, ipId: 5 + i, payload: payload.subarray(i * MSS, (i + 1) * MSS) }),
);

// The coalesced frame doubles as the superpacket the kernel would hand up (same layout).
const gro = new TcpCoalescer();
for (const s of segments) if (!gro.push(s)) throw new Error('coalescer full');
let superFrame = new Uint8Array(0);
gro.flush((f) => (superFrame = f.slice()));
if (gro.superpackets !== 1n) throw new Error('crossValidate: segments did not coalesce');

const splitter = new GsoSplitter();
const frame = superFrame.slice();
let k = 0;
splitter.split(frame, (p) => crossValidate(`split segment ${k}`, p, segments[k++]!));
if (k !== SEGMENTS) throw new Error('crossValidate: wrong segment count');

const block = payload.subarray(0, 1400);
if (finishChecksum(sumWords(block, 0, block.length, 0)) !== (~referenceSum(block) & 0xffff)) throw new Error('crossValidate: checksums differ');

let sink = 0;
bench(`split 64 KiB superpacket into ${SEGMENTS} segments`, () => {
  frame.set(superFrame); // the split rewrites nothing for TSO frames, but keep inputs identical
  splitter.split(frame, (p) => (sink += p.length));
}, { bytesPerOp: MSS * SEGMENTS });
bench(`coalesce ${SEGMENTS} segments + flush`, () => {
  for (const s of segments) gro.push(s);
  gro.flush((f) => (sink += f.length));
}, { bytesPerOp: MSS * SEGMENTS });
bench('checksum 1400 B sumWords', () => (sink += finishChecksum(sumWords(block, 0, block.length, 0))), { bytesPerOp: 1400 });
bench('checksum 1400 B plain reference', () => (sink += referenceSum(block)), { bytesPerOp: 1400 });
process.stdout.write(`# frame ${superFrame.length - VIRTIO_NET_HDR_BYTES} bytes (sink ${sink > 0 ? 'ok' : 'empty'})\n`);
