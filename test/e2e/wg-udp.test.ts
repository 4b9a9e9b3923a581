/**
 * The UDP edge on loopback: dual-stack bind on one port, unconnected sends in both families,
 * copy-on-send for reused buffers, SO_MARK through our own fds, and EADDRINUSE on a taken port.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openUdpBind, type UdpBind } from '../../src/wireguard/io/udp.js';
import type { Endpoint } from '../../src/wireguard/device-api.js';
import { missing } from '../support/prereq.js';
import { waitFor } from '../support/netns.js';

describe('UDP bind (udp.ts) on loopback', () => {
  const opened: UdpBind[] = [];
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  async function open(port = 0, fwmark = 0) {
    const got: { data: Uint8Array; from: Endpoint }[] = [];
    const bind = await openUdpBind(port, fwmark, { onDatagram: (data, from) => got.push({ data, from }) });
    opened.push(bind);
    return { bind, got };
  }

  it('binds IPv4 and IPv6 on the same random port and exchanges datagrams in both families', async () => {
    const a = await open();
    const b = await open();
    expect(a.bind.port).toBeGreaterThan(0);
    expect(a.bind.port).not.toBe(b.bind.port);
    expect(a.bind.send(Uint8Array.of(1, 2, 3), { family: 4, address: '127.0.0.1', port: b.bind.port }, true)).toBe(true);
    expect(a.bind.send(Uint8Array.of(4, 5), { family: 6, address: '::1', port: b.bind.port }, true)).toBe(true);
    expect(await waitFor(() => b.got.length === 2, 2000)).toBe(true);
    const byFamily = new Map(b.got.map((g) => [g.from.family, g]));
    expect([...byFamily.get(4)!.data]).toEqual([1, 2, 3]);
    expect(byFamily.get(4)!.from).toEqual({ family: 4, address: '127.0.0.1', port: a.bind.port });
    expect([...byFamily.get(6)!.data]).toEqual([4, 5]);
    expect(byFamily.get(6)!.from).toEqual({ family: 6, address: '::1', port: a.bind.port });
  });

  it('copies a datagram the caller will reuse, so overwriting it after send changes nothing on the wire', async () => {
    const a = await open();
    const b = await open();
    const buf = new Uint8Array(64).fill(7);
    for (let i = 0; i < 50; i++) {
      a.bind.send(buf.subarray(0, 32), { family: 4, address: '127.0.0.1', port: b.bind.port }, false);
      buf.fill(9);
      buf.fill(7);
    }
    buf.fill(0);
    expect(await waitFor(() => b.got.length === 50, 2000)).toBe(true);
    expect(b.got.every((g) => g.data.length === 32 && g.data.every((x) => x === 7))).toBe(true);
  });

  it('sends a batch', async () => {
    const a = await open();
    const b = await open();
    const to: Endpoint = { family: 4, address: '127.0.0.1', port: b.bind.port };
    expect(a.bind.sendBatch([1, 2, 3].map((n) => ({ datagram: Uint8Array.of(n), endpoint: to })), false)).toBe(3);
    expect(await waitFor(() => b.got.length === 3, 2000)).toBe(true);
  });

  it.each([4, 6] as const)('keeps every datagram of a segmented (GSO) batch whole and in order (IPv%i)', async (family) => {
    const a = await open();
    const b = await open();
    const c = await open();
    const host = family === 4 ? '127.0.0.1' : '::1';
    const toB: Endpoint = { family, address: host, port: b.bind.port };
    const toC: Endpoint = { family, address: host, port: c.bind.port };
    // 70 × 1200 B (more than one segmented send), a shorter one that ends a run, a run to another
    // endpoint, then sizes that must not be cut at the previous segment size.
    const sizes = [...Array<number>(70).fill(1200), 300, 1200, 1200, 1400, 1400, 90];
    const items = sizes.map((n, i) => ({ datagram: new Uint8Array(n).fill(i & 0xff), endpoint: i >= 71 && i < 73 ? toC : toB }));
    expect(a.bind.sendBatch(items, false)).toBe(items.length);
    expect(a.bind.send(new Uint8Array(1450).fill(0xee), toB, false)).toBe(true);
    const wantB = items.filter((it) => it.endpoint === toB).map((it) => it.datagram);
    wantB.push(new Uint8Array(1450).fill(0xee));
    expect(await waitFor(() => b.got.length === wantB.length && c.got.length === 2, 2000)).toBe(true);
    expect(b.got.map((g) => g.data.length)).toEqual(wantB.map((d) => d.length));
    expect(b.got.every((g, i) => Buffer.compare(g.data, wantB[i]!) === 0)).toBe(true);
    expect(c.got.map((g) => [g.data.length, g.data[0]])).toEqual([
      [1200, 71],
      [1200, 72],
    ]);
  });

  it('delivers a queued IPv4 burst whole, in order, each datagram with its own sender', async () => {
    const a = await open();
    const c = await open();
    const b = await open();
    const to: Endpoint = { family: 4, address: '127.0.0.1', port: b.bind.port };
    // Queued before anything is read, so most of it is taken by the recvfrom drain.
    const items = Array.from({ length: 300 }, (_, i) => ({ i, via: i % 7 === 3 ? c : a }));
    for (const { i, via } of items) via.bind.send(Uint8Array.of(i >> 8, i & 0xff, ...new Array<number>(i % 50).fill(i & 0xff)), to, false);
    expect(await waitFor(() => b.got.length === items.length, 2000)).toBe(true);
    for (const [i, via] of [a, c].entries()) {
      const mine = b.got.filter((g) => g.from.port === via.bind.port);
      const want = items.filter((it) => it.via === via).map((it) => it.i);
      expect(mine.map((g) => (g.data[0]! << 8) | g.data[1]!), `sender ${i}`).toEqual(want);
      expect(mine.every((g) => g.data.length === 2 + (((g.data[0]! << 8) | g.data[1]!) % 50))).toBe(true);
      expect(mine.every((g) => g.from.family === 4 && g.from.address === '127.0.0.1')).toBe(true);
    }
  });

  it('fails with EADDRINUSE on a port another bind holds', async () => {
    const a = await open();
    await expect(openUdpBind(a.bind.port, 0, { onDatagram: () => undefined })).rejects.toMatchObject({ code: 'WG_ERR_UDP_BIND', errno: -98 });
  });

  it.skipIf(missing('root').length > 0)('sets SO_MARK on both sockets at bind time and later', async () => {
    const a = await open(0, 51820);
    expect([...a.bind.fwmarks()]).toEqual([[4, 51820], [6, 51820]]);
    expect(a.bind.setFwmark(0x1234)).toBe(0);
    expect([...a.bind.fwmarks()]).toEqual([[4, 0x1234], [6, 0x1234]]);
  });
});
