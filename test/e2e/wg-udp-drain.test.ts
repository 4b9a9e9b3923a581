/**
 * The IPv4 receive drain of the WireGuard UDP edge (udp.ts: recvmmsg after dgram's first
 * datagram): a burst from several sockets, queued before the event loop runs, must arrive
 * complete, in per-source order, each datagram owned (not a view into a reused buffer) and with
 * its own source endpoint.
 */
import dgram from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { openUdpBind, type UdpBind } from '../../src/wireguard/io/udp.js';
import type { Endpoint } from '../../src/wireguard/device-api.js';
import { waitFor } from '../support/netns.js';

const SENDERS = 6;
/** 6 × 40 datagrams of up to 1400 bytes: more than one recvmmsg batch, inside the 7 MiB rcvbuf. */
const PER_SENDER = 40;

describe('UDP bind (udp.ts): IPv4 receive drain with recvmmsg', () => {
  const binds: UdpBind[] = [];
  const socks: dgram.Socket[] = [];
  afterAll(async () => {
    for (const s of socks) s.close();
    for (const b of binds) await b.close();
  });

  it('delivers every datagram of a burst, owned, in order per source, with its source endpoint', async () => {
    const got: { data: Uint8Array; from: Endpoint }[] = [];
    const bind = await openUdpBind(0, 0, { onDatagram: (data, from) => got.push({ data, from }) });
    binds.push(bind);
    for (let s = 0; s < SENDERS; s++) {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      socks.push(sock);
    }
    // Sizes vary (the kernel must report each length) and include a jumbo one above any MTU.
    const payload = (s: number, i: number): Buffer => {
      const len = i === 7 ? 9000 : 16 + ((s * 131 + i * 37) % 1384);
      const b = Buffer.alloc(len, (s * 17 + i) & 0xff);
      b[0] = s;
      b[1] = i;
      return b;
    };
    for (let i = 0; i < PER_SENDER; i++) for (let s = 0; s < SENDERS; s++) socks[s]!.send(payload(s, i), bind.port, '127.0.0.1');
    expect(await waitFor(() => got.length === SENDERS * PER_SENDER, 5000)).toBe(true);
    const next = new Array<number>(SENDERS).fill(0);
    for (const g of got) {
      const s = g.data[0]!;
      const i = g.data[1]!;
      expect(g.from).toEqual({ family: 4, address: '127.0.0.1', port: socks[s]!.address().port });
      expect(i).toBe(next[s]);
      next[s]!++;
      expect(Buffer.from(g.data).equals(payload(s, i))).toBe(true);
    }
    // Owned: no two datagrams share memory (a view into a reused receive block would).
    const users = new Map<ArrayBufferLike, number>();
    for (const g of got) users.set(g.data.buffer, (users.get(g.data.buffer) ?? 0) + 1);
    expect([...users.values()].every((n) => n === 1)).toBe(true);
    // The drain path ran: endpoints after the first of a wake-up come from its cache, so some
    // datagrams from the same source share one Endpoint object.
    const bySource = new Map<number, Set<Endpoint>>();
    for (const g of got) {
      const set = bySource.get(g.from.port) ?? new Set<Endpoint>();
      set.add(g.from);
      bySource.set(g.from.port, set);
    }
    expect([...bySource.values()].some((set) => set.size < PER_SENDER)).toBe(true);
  });
});
