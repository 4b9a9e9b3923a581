/**
 * The owned-fd UDP upstream path (sendto on our connected sockets, replies drained with
 * recvmmsg after dgram's first 'message'): replies that arrive in one burst still reach the
 * attempt that sent their ID on their socket, datagrams with unknown IDs are counted as
 * unexpected, datagrams from another port never reach an attempt, and the dgram-only path
 * (`udpOwnFd: false`) gives the same deliveries. Loopback only.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamTransports } from '../../src/dns/io/upstream.js';
import { bindUdpListener, type UdpClient } from '../../src/dns/io/udp-listener.js';
import { MMSG_SUPPORTED } from '../../src/runtime/io/udp-mmsg.js';
import type { UpstreamSpec } from '../../src/dns/upstream-spec.js';
import { parseUpstream } from '../support/upstream-text.js';
import { sleep } from './dns-support.js';

/** A query-shaped datagram: ID, then the token as a 4-byte marker the fake upstream echoes back. */
function query(id: number, token: number): Uint8Array {
  return Uint8Array.of(id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, token >>> 24, (token >>> 16) & 0xff, (token >>> 8) & 0xff, token & 0xff);
}

function markerOf(b: Uint8Array): number {
  return ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
}

describe.skipIf(!MMSG_SUPPORTED)('UDP upstream replies in bursts', () => {
  let upstream: dgram.Socket;
  let spoofer: dgram.Socket;
  let spec: UpstreamSpec;
  /** Queries held by the fake upstream until `release`, so replies arrive together. */
  let held: { msg: Buffer; port: number }[] = [];

  beforeAll(async () => {
    upstream = dgram.createSocket('udp4');
    upstream.on('message', (msg, rinfo) => held.push({ msg, port: rinfo.port }));
    spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', () => r()));
    const p = parseUpstream(`127.0.0.1:${upstream.address().port}`);
    if (!p.ok) throw new Error(p.error);
    spec = p.spec;
  });
  afterAll(() => {
    upstream.close();
    spoofer.close();
  });

  const send = (sock: dgram.Socket, msg: Uint8Array, port: number): Promise<void> =>
    new Promise((r) => sock.send(msg, port, '127.0.0.1', () => r()));

  async function run(udpOwnFd: boolean, n: number) {
    held = [];
    const replies = new Map<number, { bytes: number[]; address: string | undefined; port: number | undefined }[]>();
    let unexpected = 0;
    let bursts = 0;
    let open = 0;
    let maxInBurst = 0;
    let inBurst = 0;
    const t = new UpstreamTransports({
      reply: (token, source, bytes) => {
        if (open > 0) maxInBurst = Math.max(maxInBurst, ++inBurst);
        const list = replies.get(token) ?? [];
        list.push({ bytes: [...bytes], address: source?.address, port: source?.port });
        replies.set(token, list);
      },
      error: () => {},
      unexpected: () => unexpected++,
      burst: (active) => {
        if (active) {
          bursts++;
          open++;
          inBurst = 0;
        } else open--;
      },
    }, { udpOwnFd, udpSocketsPerUpstream: 4, udpMaxUsesPerSocket: 1000 });
    for (let i = 0; i < n; i++) t.send(i + 1, spec, 'udp', query((i * 7919) & 0xffff, i + 1));
    for (let k = 0; k < 200 && held.length < n; k++) await sleep(5);
    expect(held.length).toBe(n);
    // Spoofs first: right IDs from the wrong port, and wrong IDs from the right port.
    for (const h of held) await send(spoofer, Uint8Array.from([...h.msg.subarray(0, 12), 0xde, 0xad, 0xbe, 0xef]), h.port);
    const wrongIds = held.slice(0, 10).map((h) => ({ port: h.port, msg: query((((h.msg[0]! << 8) | h.msg[1]!) + 1) & 0xffff, 0xbadbad) }));
    for (const w of wrongIds) upstream.send(w.msg, w.port, '127.0.0.1');
    // Then every genuine reply in one go, without yielding, so they queue on our sockets.
    for (const h of held) upstream.send(h.msg, h.port, '127.0.0.1');
    for (let k = 0; k < 200 && replies.size < n; k++) await sleep(5);
    await sleep(20);
    t.close();
    return { replies, unexpected, bursts, open, maxInBurst, wrongIds: wrongIds.length };
  }

  for (const own of [true, false]) {
    it(`matches each burst reply to the attempt that sent its ID, ignoring spoofs (udpOwnFd ${own})`, async () => {
      const n = 200;
      const r = await run(own, n);
      expect(r.replies.size).toBe(n);
      for (let token = 1; token <= n; token++) {
        const got = r.replies.get(token)!;
        expect(got).toHaveLength(1);
        expect(markerOf(Uint8Array.from(got[0]!.bytes))).toBe(token);
        expect(got[0]!.address).toBe('127.0.0.1');
        expect(got[0]!.port).toBe(spec.port);
      }
      // Wrong-port datagrams never reach an attempt (the kernel drops them on a connected socket).
      expect(r.unexpected).toBe(r.wrongIds);
      expect(r.open).toBe(0);
      if (own) {
        expect(r.bursts).toBeGreaterThan(0);
        expect(r.bursts).toBeLessThan(n); // several replies per wake-up: the recvmmsg drain ran
        expect(r.maxInBurst).toBeGreaterThan(1);
      } else {
        expect(r.bursts).toBe(0);
      }
    });
  }
});

describe.skipIf(!MMSG_SUPPORTED)('UDP listener cork (answers of a reply burst)', () => {
  it('holds answers sent while corked and sends them with one sendmmsg at uncork', async () => {
    const listener = await bindUdpListener('127.0.0.1', 0);
    const client = dgram.createSocket('udp4');
    try {
      const got: number[] = [];
      client.on('message', (m) => got.push(m[0]!));
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
      let from: UdpClient | undefined;
      listener.receive({ wake: () => {}, datagram: (_b, c) => { from = c; } });
      client.send(Uint8Array.of(0), listener.port, '127.0.0.1');
      for (let k = 0; k < 100 && !from; k++) await sleep(5);
      expect(from).toBeDefined();
      const calls = listener.stats.sendmmsgCalls;
      listener.cork();
      for (let i = 1; i <= 5; i++) listener.send(Uint8Array.of(i), from!);
      await sleep(30);
      expect(got).toEqual([]);
      listener.uncork();
      for (let k = 0; k < 100 && got.length < 5; k++) await sleep(5);
      expect(got).toEqual([1, 2, 3, 4, 5]);
      expect(listener.stats.sendmmsgCalls).toBe(calls + 1n);
      expect(listener.stats.sendmmsgDatagrams).toBeGreaterThanOrEqual(5n);
      // Uncorked: straight out again.
      listener.send(Uint8Array.of(6), from!);
      for (let k = 0; k < 100 && got.length < 6; k++) await sleep(5);
      expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      client.close();
      listener.close();
    }
  });
});
