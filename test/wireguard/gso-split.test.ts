import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GsoSplitter, MAX_GSO_SEGMENTS } from '../../src/wireguard/gso-split.js';
import { VIRTIO_NET_HDR_BYTES, writeVirtioNetHdr, type VirtioNetHdr } from '../../src/wireguard/virtio-net-hdr.js';
import { buildTcpPacket, ipv4HeaderChecksumOk, referenceSum, tcpChecksumOk, withPseudoHeader, type TcpSegmentSpec } from '../reference/inet-checksum.js';

const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

function frameOf(hdr: VirtioNetHdr, packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(VIRTIO_NET_HDR_BYTES + packet.length);
  writeVirtioNetHdr(hdr, f, 0);
  f.set(packet, VIRTIO_NET_HDR_BYTES);
  return f;
}

/** What the kernel hands up for a TSO superpacket: checksum field = folded pseudo-header sum (CHECKSUM_PARTIAL). */
function superpacketFrame(spec: TcpSegmentSpec, gsoSize: number, hdrLenHint?: number): Uint8Array {
  const p = buildTcpPacket(spec);
  const ip = spec.version === 4 ? 20 : 40;
  const pseudo = withPseudoHeader(p).subarray(0, spec.version === 4 ? 12 : 40);
  const partial = referenceSum(pseudo);
  p[ip + 16] = partial >>> 8;
  p[ip + 17] = partial & 0xff;
  if (spec.version === 4) {
    p[10] = 0xde; // the kernel leaves the header checksum to GSO as well: garbage must not matter
    p[11] = 0xad;
  }
  const hdrLen = hdrLenHint ?? ip + 20 + spec.options.length;
  return frameOf({ flags: 1, gsoType: spec.version === 4 ? 1 : 4, hdrLen, gsoSize, csumStart: ip, csumOffset: 16 }, p);
}

const arbSpec = (maxPayload: number) =>
  fc.record({
    version: fc.constantFrom(4 as const, 6 as const),
    addrs: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    srcPort: fc.integer({ min: 0, max: 0xffff }),
    dstPort: fc.integer({ min: 0, max: 0xffff }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    ack: fc.integer({ min: 0, max: 0xffffffff }),
    flags: fc.constantFrom(ACK, ACK | PSH, ACK | FIN, ACK | PSH | FIN, ACK | CWR | PSH),
    window: fc.integer({ min: 0, max: 0xffff }),
    optionWords: fc.integer({ min: 0, max: 10 }),
    payload: fc.uint8Array({ maxLength: maxPayload }),
    ipId: fc.integer({ min: 0, max: 0xffff }),
  }).map((r): TcpSegmentSpec => ({
    version: r.version,
    src: r.addrs.subarray(0, r.version === 4 ? 4 : 16),
    dst: r.addrs.subarray(16, r.version === 4 ? 20 : 32),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    seq: r.seq,
    ack: r.ack,
    flags: r.flags,
    window: r.window,
    options: new Uint8Array(r.optionWords * 4).fill(1),
    payload: r.payload,
    ipId: r.ipId,
  }));

describe('GsoSplitter: TCP superpackets (gso_type TCPV4/TCPV6)', () => {
  it('cuts a superpacket into gso_size segments whose payloads, sequence numbers, flags, lengths and checksums are right', () => {
    fc.assert(
      fc.property(arbSpec(6000), fc.integer({ min: 1, max: 2000 }), (spec, gsoSize) => {
        const splitter = new GsoSplitter();
        const segs: Uint8Array[] = [];
        const r = splitter.split(superpacketFrame(spec, gsoSize), (p) => segs.push(p.slice()));
        const count = Math.max(1, Math.ceil(spec.payload.length / gsoSize));
        expect(r).toEqual({ type: 'packets', count });
        expect(segs.length).toBe(count);
        const ip = spec.version === 4 ? 20 : 40;
        const hdrLen = ip + 20 + spec.options.length;
        const joined: number[] = [];
        segs.forEach((s, i) => {
          const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
          joined.push(...s.subarray(hdrLen));
          expect(s.length - hdrLen).toBe(i < count - 1 ? gsoSize : spec.payload.length - gsoSize * (count - 1));
          if (spec.version === 4) {
            expect(v.getUint16(2)).toBe(s.length);
            expect(v.getUint16(4)).toBe((spec.ipId! + i) & 0xffff);
            expect(ipv4HeaderChecksumOk(s)).toBe(true);
          } else {
            expect(v.getUint16(4)).toBe(s.length - 40);
          }
          expect(v.getUint32(ip + 4)).toBe((spec.seq + i * gsoSize) >>> 0);
          expect(v.getUint32(ip + 8)).toBe(spec.ack);
          const last = i === count - 1;
          const want = (spec.flags & ~(last ? 0 : FIN | PSH)) & ~(i === 0 ? 0 : CWR);
          expect(s[ip + 13]).toBe(want);
          expect(tcpChecksumOk(s)).toBe(true);
        });
        expect(Uint8Array.from(joined)).toEqual(spec.payload);
        expect(splitter.superpackets).toBe(1n);
        expect(splitter.segments).toBe(BigInt(count));
      }),
      { numRuns: 300 },
    );
  });

  it('ignores the kernel hdr_len hint and takes the header length from the TCP data offset', () => {
    const spec: TcpSegmentSpec = { version: 4, src: new Uint8Array([10, 0, 0, 1]), dst: new Uint8Array([10, 0, 0, 2]), srcPort: 1, dstPort: 2, seq: 5, ack: 6, flags: ACK, window: 100, options: new Uint8Array(12), payload: new Uint8Array(3000).fill(7) };
    const segs: Uint8Array[] = [];
    const r = new GsoSplitter().split(superpacketFrame(spec, 1000, 1052 /* the whole first packet, as on forwarded traffic */), (p) => segs.push(p.slice()));
    expect(r).toEqual({ type: 'packets', count: 3 });
    expect(segs.map((s) => s.length)).toEqual([1052, 1052, 1052]);
  });

  it('wraps the sequence number at 2^32', () => {
    const spec: TcpSegmentSpec = { version: 6, src: new Uint8Array(16).fill(1), dst: new Uint8Array(16).fill(2), srcPort: 1, dstPort: 2, seq: 0xffffff00, ack: 0, flags: ACK, window: 1, options: new Uint8Array(0), payload: new Uint8Array(1024) };
    const seqs: number[] = [];
    new GsoSplitter().split(superpacketFrame(spec, 256), (p) => seqs.push(new DataView(p.buffer, p.byteOffset).getUint32(44)));
    expect(seqs).toEqual([0xffffff00, 0, 0x100, 0x200]);
  });
});

describe('GsoSplitter: single packets (gso_type NONE)', () => {
  it('passes a plain packet through untouched', () => {
    const p = buildTcpPacket({ version: 4, src: new Uint8Array(4), dst: new Uint8Array(4), srcPort: 1, dstPort: 2, seq: 1, ack: 1, flags: ACK, window: 1, options: new Uint8Array(0), payload: new Uint8Array([1, 2, 3]) });
    const got: Uint8Array[] = [];
    expect(new GsoSplitter().split(frameOf({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 }, p), (x) => got.push(x.slice()))).toEqual({ type: 'packets', count: 1 });
    expect(got).toEqual([p]);
  });

  it('completes a partial checksum (NEEDS_CSUM) from csum_start and csum_offset', () => {
    fc.assert(
      fc.property(arbSpec(3000), (spec) => {
        const p = buildTcpPacket(spec);
        const ip = spec.version === 4 ? 20 : 40;
        const partial = referenceSum(withPseudoHeader(p).subarray(0, spec.version === 4 ? 12 : 40));
        const q = p.slice();
        q[ip + 16] = partial >>> 8;
        q[ip + 17] = partial & 0xff;
        const got: Uint8Array[] = [];
        new GsoSplitter().split(frameOf({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: ip, csumOffset: 16 }, q), (x) => got.push(x.slice()));
        expect(got.length).toBe(1);
        expect(tcpChecksumOk(got[0]!)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('GsoSplitter: malformed frames', () => {
  const good: TcpSegmentSpec = { version: 4, src: new Uint8Array(4), dst: new Uint8Array(4), srcPort: 1, dstPort: 2, seq: 1, ack: 1, flags: ACK, window: 1, options: new Uint8Array(0), payload: new Uint8Array(4000) };
  const withHdr = (patch: Partial<VirtioNetHdr>): Uint8Array => {
    const f = superpacketFrame(good, 1000);
    writeVirtioNetHdr({ flags: 1, gsoType: 1, hdrLen: 40, gsoSize: 1000, csumStart: 20, csumOffset: 16, ...patch }, f, 0);
    return f;
  };
  it.each<[string, Uint8Array, string]>([
    ['a frame shorter than the header', new Uint8Array(9), 'short-frame'],
    ['gso_size 0', withHdr({ gsoSize: 0 }), 'gso-size-zero'],
    ['gso_size 1 (4000 segments)', withHdr({ gsoSize: 1 }), 'too-many-segments'],
    ['a UDP gso_type we never enabled', withHdr({ gsoType: 5 }), 'unsupported-gso-type'],
    ['the ECN bit', withHdr({ gsoType: 0x81 }), 'unsupported-gso-type'],
    ['TCPV6 on an IPv4 packet', withHdr({ gsoType: 4 }), 'bad-gso-ip-header'],
    ['csum_start not at the TCP header', withHdr({ csumStart: 24 }), 'bad-gso-ip-header'],
    ['csum_offset not 16', withHdr({ csumOffset: 6 }), 'bad-gso-tcp-header'],
    ['the TCP header beyond the packet', withHdr({}).subarray(0, VIRTIO_NET_HDR_BYTES + 30), 'bad-gso-tcp-header'],
    ['NEEDS_CSUM with the field beyond the packet', withHdr({ gsoType: 0, csumStart: 20, csumOffset: 5000 }), 'bad-csum-offsets'],
  ])('drops %s', (_name, frame, reason) => {
    let calls = 0;
    expect(new GsoSplitter().split(frame, () => calls++)).toEqual({ type: 'drop', reason });
    expect(calls).toBe(0);
  });

  it('drops a TCP header whose data offset points past the packet', () => {
    const f = withHdr({});
    f[VIRTIO_NET_HDR_BYTES + 20 + 12] = 0xf0; // a 60-byte TCP header: inside a 4040-byte packet it is fine
    expect(new GsoSplitter().split(f, () => undefined).type).toBe('packets');
    const short = f.subarray(0, VIRTIO_NET_HDR_BYTES + 50);
    expect(new GsoSplitter().split(short, () => undefined)).toEqual({ type: 'drop', reason: 'bad-gso-tcp-header' });
  });

  it('never throws on arbitrary bytes, and bounds its output', () => {
    const splitter = new GsoSplitter();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (frame) => {
        let n = 0;
        const r = splitter.split(frame, () => n++);
        expect(n).toBe(r.type === 'packets' ? r.count : 0);
        expect(n).toBeLessThanOrEqual(MAX_GSO_SEGMENTS);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on valid packets under random virtio headers', () => {
    const splitter = new GsoSplitter();
    fc.assert(
      fc.property(
        arbSpec(3000),
        fc.record({ flags: fc.integer({ min: 0, max: 255 }), gsoType: fc.constantFrom(0, 1, 3, 4, 5, 0x81, 255), hdrLen: fc.integer({ min: 0, max: 0xffff }), gsoSize: fc.integer({ min: 0, max: 0xffff }), csumStart: fc.integer({ min: 0, max: 100 }), csumOffset: fc.integer({ min: 0, max: 0xffff }) }),
        (spec, hdr) => {
          let n = 0;
          const r = splitter.split(frameOf(hdr, buildTcpPacket(spec)), () => n++);
          expect(n).toBe(r.type === 'packets' ? r.count : 0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
