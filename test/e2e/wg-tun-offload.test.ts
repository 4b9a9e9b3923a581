/**
 * TUN offloads (tun.ts, gso-split.ts, tcp-coalesce.ts) between two tsplane-wg daemons over a
 * veth pair, judged by the kernel's own interface counters: with offloads on, the sender's TUN
 * hands up TCP superpackets (its TX bytes per packet exceed the MTU, which no plain packet can)
 * and the receiver writes coalesced ones (its RX bytes per packet exceed the MTU), while a
 * 20 MiB transfer over IPv4 and IPv6 arrives intact. With TSPLANE_TUN_OFFLOAD=off the same
 * transfer works and no interface sees a packet larger than the MTU; with =tso only the
 * sender's reads are superpackets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { Netns, waitFor } from '../support/netns.js';
import { installWrapper } from '../support/tsplane-wg.js';
import { WgPair, type Side } from '../support/wg-pair.js';
import { TCP_SINK, TCP_SOURCE } from '../support/tcp-transfer.js';

const MTU = 1420;

/** UDP receiver: prints "listening", then "<count>" of intact datagrams after 300 of them or 5 s. */
const UDP_SINK = (addr: string) => `
const s = require('node:dgram').createSocket('${addr.includes(':') ? 'udp6' : 'udp4'}'); let n = 0;
const done = () => { console.log(String(n)); process.exit(0); };
setTimeout(done, 5000);
s.on('message', (m) => { if (m.length === 1200 && m.every((b) => b === 0x5a)) n++; if (n === 300) done(); });
s.bind(5301, '${addr}', () => console.log('listening'));`;

/** UDP sender: 300 datagrams of 1200 bytes, one every 2 ms or so (no burst for the queues to drop). */
const UDP_SOURCE = (addr: string) => `
const s = require('node:dgram').createSocket('${addr.includes(':') ? 'udp6' : 'udp4'}'); let i = 0;
const b = Buffer.alloc(1200, 0x5a);
const next = () => { if (i++ === 300) { s.close(); return; } s.send(b, 5301, '${addr}', () => setTimeout(next, 2)); };
next();`;

interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

describe.skipIf(missing('netns', { command: 'wg' }, { command: 'ping' }).length > 0)('TUN offloads between two tsplane-wg daemons', () => {
  const h = new Netns('wgof');
  let on: WgPair;
  let off: WgPair;
  let tso: WgPair;

  async function counters(s: Side): Promise<LinkCounters> {
    const [link] = JSON.parse(await h.run(s.ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', s.ifname])) as { stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }[];
    const st = link!.stats64;
    return { rxBytes: st.rx.bytes, rxPackets: st.rx.packets, txBytes: st.tx.bytes, txPackets: st.tx.packets };
  }

  /** Sends 20 MiB from A to B over TCP to `addr`; returns B's sink line and A's source line. */
  async function transfer(p: WgPair, addr: string): Promise<{ sent: string; received: string }> {
    const sink = h.spawn(p.b.ns, process.execPath, ['-e', TCP_SINK(addr)]);
    let sinkOut = '';
    sink.stdout?.on('data', (d: Buffer) => (sinkOut += d.toString()));
    expect(await waitFor(() => sinkOut.includes('listening'), 10_000)).toBe(true);
    const sent = (await h.run(p.a.ns, process.execPath, ['-e', TCP_SOURCE(addr)], { timeoutMs: 90_000 })).trim();
    expect(await waitFor(() => /\d+ [0-9a-f]{64}/.test(sinkOut), 30_000)).toBe(true);
    return { sent, received: sinkOut.trim().split('\n').pop() ?? '' };
  }

  /** Bytes per packet the kernel counted on A's TUN TX (what A read) and B's TUN RX (what B wrote) during a transfer. */
  async function measuredTransfer(p: WgPair, addr: string): Promise<{ readBytesPerPacket: number; writtenBytesPerPacket: number }> {
    const a0 = await counters(p.a);
    const b0 = await counters(p.b);
    const { sent, received } = await transfer(p, addr);
    expect(received).toBe(sent);
    expect(sent.startsWith(`${20 << 20} `)).toBe(true);
    const a1 = await counters(p.a);
    const b1 = await counters(p.b);
    return {
      readBytesPerPacket: (a1.txBytes - a0.txBytes) / (a1.txPackets - a0.txPackets),
      writtenBytesPerPacket: (b1.rxBytes - b0.rxBytes) / (b1.rxPackets - b0.rxPackets),
    };
  }

  beforeAll(async () => {
    const binDir = installWrapper(h);
    delete process.env.TSPLANE_TUN_OFFLOAD;
    on = await WgPair.create(h, binDir, 1, 'a', 'tsplane-wg', 'tsplane-wg');
    try {
      process.env.TSPLANE_TUN_OFFLOAD = 'off';
      off = await WgPair.create(h, binDir, 2, 'b', 'tsplane-wg', 'tsplane-wg');
      process.env.TSPLANE_TUN_OFFLOAD = 'tso';
      tso = await WgPair.create(h, binDir, 3, 'c', 'tsplane-wg', 'tsplane-wg');
    } finally {
      delete process.env.TSPLANE_TUN_OFFLOAD;
    }
    for (const p of [on, off, tso]) expect(await p.pingUntilUp(p.a, p.b.inner4)).toBe(true);
  }, 120_000);
  afterAll(() => h.cleanup());

  for (const family of ['IPv4', 'IPv6'] as const) {
    it(`reads and writes TCP superpackets during a 20 MiB ${family} transfer that arrives intact`, async () => {
      const r = await measuredTransfer(on, family === 'IPv4' ? on.b.inner4 : on.b.inner6);
      expect(r.readBytesPerPacket).toBeGreaterThan(MTU);
      expect(r.writtenBytesPerPacket).toBeGreaterThan(MTU);
    }, 120_000);
  }

  it('moves 20 MiB intact one packet per read and write with TSPLANE_TUN_OFFLOAD=off', async () => {
    const r = await measuredTransfer(off, off.b.inner4);
    expect(r.readBytesPerPacket).toBeLessThanOrEqual(MTU);
    expect(r.writtenBytesPerPacket).toBeLessThanOrEqual(MTU);
  }, 120_000);

  it('reads superpackets but writes packets one by one with TSPLANE_TUN_OFFLOAD=tso', async () => {
    const r = await measuredTransfer(tso, tso.b.inner6);
    expect(r.readBytesPerPacket).toBeGreaterThan(MTU);
    expect(r.writtenBytesPerPacket).toBeLessThanOrEqual(MTU);
  }, 120_000);

  it('completes the partial checksums of UDP datagrams the kernel leaves to the device (NEEDS_CSUM)', async () => {
    for (const addr of [on.b.inner4, on.b.inner6]) {
      const sink = h.spawn(on.b.ns, process.execPath, ['-e', UDP_SINK(addr)]);
      let out = '';
      sink.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      expect(await waitFor(() => out.includes('listening'), 10_000)).toBe(true);
      await h.run(on.a.ns, process.execPath, ['-e', UDP_SOURCE(addr)], { timeoutMs: 30_000 });
      expect(await waitFor(() => /^\d+$/m.test(out.replace('listening', '')), 10_000)).toBe(true);
      // A datagram with a bad UDP checksum never reaches the socket: a few may be lost, not all.
      expect(Number(out.replace('listening', '').trim())).toBeGreaterThan(250);
    }
  }, 60_000);

  it('carries pings of every size around the MTU with offloads on (no superpacket path for ICMP)', async () => {
    for (const size of [0, 1, 1371, 1372, 1392]) expect(await on.ping(on.a, on.b.inner4, 2, ['-s', String(size)])).toBe(2);
  }, 60_000);
});
