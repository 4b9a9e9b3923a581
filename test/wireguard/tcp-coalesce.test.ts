import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_COALESCE_SLOTS, MAX_COALESCED_SEGMENTS, TcpCoalescer, segmentVersion } from '../../src/wireguard/tcp-coalesce.js';
import { GsoSplitter } from '../../src/wireguard/gso-split.js';
import { VIRTIO_NET_HDR_BYTES, emptyVirtioNetHdr, readVirtioNetHdr } from '../../src/wireguard/virtio-net-hdr.js';
import { buildTcpPacket, ipv4HeaderChecksumOk, referenceSum, withPseudoHeader, type TcpSegmentSpec } from '../reference/inet-checksum.js';

const PSH = 0x08;
const ACK = 0x10;
const FIN = 0x01;

function flow(version: 4 | 6, port: number): Omit<TcpSegmentSpec, 'seq' | 'payload' | 'flags' | 'ipId'> {
  return {
    version,
    src: version === 4 ? new Uint8Array([10, 0, 0, 1]) : new Uint8Array(16).fill(0xfd),
    dst: version === 4 ? new Uint8Array([10, 0, 0, 2]) : new Uint8Array(16).fill(0xfe),
    srcPort: port,
    dstPort: 5201,
    ack: 12345,
    window: 500,
    options: new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), // NOP NOP timestamps
  };
}

/** The segments a sender would emit for `sizes`: consecutive seq numbers and IPv4 ids. */
function segmentsOf(version: 4 | 6, port: number, sizes: number[], lastFlags = ACK, seq0 = 1000): Uint8Array[] {
  let seq = seq0;
  return sizes.map((n, i) => {
    const p = buildTcpPacket({ ...flow(version, port), seq, payload: new Uint8Array(n).fill(i + 1), flags: i === sizes.length - 1 ? lastFlags : ACK, ipId: (7 + i) & 0xffff });
    seq += n;
    return p;
  });
}

function pushAll(gro: TcpCoalescer, packets: Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (const p of packets) {
    if (!gro.push(p)) {
      gro.flush((f) => frames.push(f.slice()));
      expect(gro.push(p)).toBe(true);
    }
  }
  gro.flush((f) => frames.push(f.slice()));
  return frames;
}

function splitAll(frames: Uint8Array[]): Uint8Array[] {
  const s = new GsoSplitter();
  const out: Uint8Array[] = [];
  for (const f of frames) expect(s.split(f, (p) => out.push(p.slice())).type).toBe('packets');
  return out;
}

describe('TcpCoalescer', () => {
  it('joins in-order segments of one flow into one superpacket with a GSO header', () => {
    for (const v of [4, 6] as const) {
      const gro = new TcpCoalescer();
      const segs = segmentsOf(v, 40000, [1000, 1000, 1000, 400], ACK | PSH);
      const frames = pushAll(gro, segs);
      expect(frames.length).toBe(1);
      const hdr = emptyVirtioNetHdr();
      readVirtioNetHdr(frames[0]!, hdr);
      const ip = v === 4 ? 20 : 40;
      expect(hdr).toEqual({ flags: 1, gsoType: v === 4 ? 1 : 4, hdrLen: ip + 32, gsoSize: 1000, csumStart: ip, csumOffset: 16 });
      const p = frames[0]!.subarray(VIRTIO_NET_HDR_BYTES);
      expect(p.length).toBe(ip + 32 + 3400);
      if (v === 4) expect(ipv4HeaderChecksumOk(p)).toBe(true);
      // CHECKSUM_PARTIAL: the field is the folded pseudo-header sum over the whole TCP length.
      const field = (p[ip + 16]! << 8) | p[ip + 17]!;
      expect(field).toBe(referenceSum(withPseudoHeader(p).subarray(0, v === 4 ? 12 : 40)));
      expect(p[ip + 13]).toBe(ACK | PSH);
      expect(gro.superpackets).toBe(1n);
      expect(gro.coalescedSegments).toBe(4n);
      expect(splitAll(frames)).toEqual(segs);
    }
  });

  it('writes a lone segment, a non-TCP packet and a FIN as they are, with an all-zero header', () => {
    const gro = new TcpCoalescer();
    const lone = segmentsOf(4, 1, [500])[0]!;
    const fin = segmentsOf(4, 2, [10], ACK | FIN)[0]!;
    const udp = Uint8Array.from([0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0, 0]);
    const frames = pushAll(gro, [lone, udp, fin]);
    expect(frames.map((f) => f.subarray(0, VIRTIO_NET_HDR_BYTES))).toEqual([0, 1, 2].map(() => new Uint8Array(VIRTIO_NET_HDR_BYTES)));
    expect(frames.map((f) => f.subarray(VIRTIO_NET_HDR_BYTES))).toEqual([lone, udp, fin]);
    expect(gro.superpackets).toBe(0n);
  });

  it.each<[string, (s: Uint8Array[]) => Uint8Array[], number]>([
    ['a gap in sequence numbers', (s) => [s[0]!, s[2]!], 2],
    ['segments out of order', (s) => [s[1]!, s[0]!], 2],
    ['a larger segment after a smaller one', () => segmentsOf(4, 9, [500, 1000]), 2],
    ['anything after a short segment', () => segmentsOf(4, 9, [1000, 500, 500]), 2],
    ['anything after PSH', (s) => [segmentsOf(4, 9, [1000], ACK | PSH)[0]!, s[1]!], 2],
  ])('does not join across %s', (_name, pick, frames) => {
    const segs = segmentsOf(4, 9, [1000, 1000, 1000]);
    const input = pick(segs);
    const out = pushAll(new TcpCoalescer(), input);
    expect(out.length).toBe(frames);
    expect(splitAll(out)).toEqual(input);
  });

  it('keeps flows apart and bounds superpackets to 64 KiB and MAX_COALESCED_SEGMENTS', () => {
    const a = segmentsOf(4, 1, Array<number>(80).fill(1000));
    const b = segmentsOf(6, 2, Array<number>(80).fill(100));
    const mixed = a.flatMap((p, i) => [p, b[i]!]);
    const gro = new TcpCoalescer();
    const frames = pushAll(gro, mixed);
    for (const f of frames) {
      expect(f.length - VIRTIO_NET_HDR_BYTES).toBeLessThanOrEqual(65_535);
    }
    expect(frames.length).toBe(2 + 2); // flow a: 65 KiB limit -> 2 frames; flow b: 64 segments -> 2 frames
    const out = splitAll(frames);
    expect(out.filter((p) => p[0]! >>> 4 === 4)).toEqual(a);
    expect(out.filter((p) => p[0]! >>> 4 === 6)).toEqual(b);
    expect(MAX_COALESCED_SEGMENTS).toBe(64);
  });

  it('asks for a flush when every slot is taken', () => {
    const gro = new TcpCoalescer();
    for (let i = 0; i < MAX_COALESCE_SLOTS; i++) expect(gro.push(segmentsOf(4, 100 + i, [10])[0]!)).toBe(true);
    expect(gro.push(segmentsOf(4, 999, [10])[0]!)).toBe(false);
    let n = 0;
    gro.flush(() => n++);
    expect(n).toBe(MAX_COALESCE_SLOTS);
    expect(gro.pending).toBe(0);
  });

  it('coalesce-then-split gives back every flow byte for byte, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ flow: fc.integer({ min: 0, max: 3 }), size: fc.integer({ min: 1, max: 1400 }), psh: fc.boolean(), skip: fc.integer({ min: 0, max: 9 }) }), { maxLength: 200 }),
        (steps) => {
          const seq = [0, 0, 0, 0];
          const ids = [0, 0, 0, 0];
          const sent: Uint8Array[] = [];
          for (const s of steps) {
            if (s.skip === 0) seq[s.flow]! += 7; // a loss: the next segment does not follow
            const version = s.flow % 2 === 0 ? 4 : 6;
            sent.push(buildTcpPacket({ ...flow(version, s.flow), seq: seq[s.flow]!, payload: new Uint8Array(s.size).fill(s.flow), flags: s.psh ? ACK | PSH : ACK, ipId: ids[s.flow]! }));
            seq[s.flow]! += s.size;
            ids[s.flow]!++;
          }
          const frames = pushAll(new TcpCoalescer(), sent);
          const out = splitAll(frames);
          for (let f = 0; f < 4; f++) {
            const port = (p: Uint8Array) => (p[(p[0]! >>> 4 === 4 ? 20 : 40) + 1]);
            expect(out.filter((p) => port(p) === f)).toEqual(sent.filter((p) => port(p) === f));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never throws on arbitrary bytes, and writes every packet back unchanged when nothing joins', () => {
    const gro = new TcpCoalescer();
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), (packets) => {
        const frames = pushAll(gro, packets);
        const total = frames.reduce((n, f) => n + f.length - VIRTIO_NET_HDR_BYTES, 0);
        expect(total).toBe(packets.reduce((n, p) => n + p.length, 0));
      }),
      { numRuns: 500 },
    );
  });

  it('recognises only ACK or ACK|PSH TCP segments with payload as candidates', () => {
    expect(segmentVersion(segmentsOf(4, 1, [10])[0]!)).toBe(4);
    expect(segmentVersion(segmentsOf(6, 1, [10], ACK | PSH)[0]!)).toBe(6);
    expect(segmentVersion(segmentsOf(4, 1, [10], ACK | FIN)[0]!)).toBe(0);
    expect(segmentVersion(buildTcpPacket({ ...flow(4, 1), seq: 0, payload: new Uint8Array(0), flags: ACK }))).toBe(0);
    expect(segmentVersion(new Uint8Array(0))).toBe(0);
  });
});
