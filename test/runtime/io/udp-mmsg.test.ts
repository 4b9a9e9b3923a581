/**
 * recvmmsg/sendmmsg batches on a real loopback socket: payloads, source sockaddrs, truncation
 * flags, the order of unsent datagrams on failure, and use after free.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecvBatch, SendBatch } from '../../../src/runtime/io/udp-mmsg.js';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, sysBind, sysClose, sysGetsockname, sysSocket } from '../../../src/wireguard/io/libc.js';

function sockaddrIn(port: number): Uint8Array {
  const sa = new Uint8Array(16);
  new DataView(sa.buffer).setUint16(0, AF_INET, true);
  new DataView(sa.buffer).setUint16(2, port, false);
  sa.set([127, 0, 0, 1], 4);
  return sa;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('recvmmsg / sendmmsg batches (runtime/io/udp-mmsg)', () => {
  let fd = -1;
  let port = 0;
  let peer: dgram.Socket;
  const got: Buffer[] = [];

  beforeAll(async () => {
    fd = sysSocket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    expect(sysBind(fd, sockaddrIn(0))).toBe(0);
    const name = new Uint8Array(16);
    expect(sysGetsockname(fd, name)).toBe(16);
    port = new DataView(name.buffer).getUint16(2, false);
    peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    peer.on('message', (m) => got.push(m));
  });
  afterAll(() => {
    peer.close();
    sysClose(fd);
  });

  it('receives a queue in batches of at most maxMessages, with payloads, lengths and the sender sockaddr', async () => {
    const rx = new RecvBatch(8, 64);
    expect(rx.receive(fd)).toBe(0); // empty queue: EAGAIN is 0, not an error
    for (let i = 0; i < 11; i++) peer.send(Buffer.from(`datagram-${i}`), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    const seen: string[] = [];
    let n = rx.receive(fd);
    expect(n).toBe(8);
    for (;;) {
      for (let i = 0; i < n; i++) {
        seen.push(Buffer.from(rx.data(i)).toString());
        expect(rx.family(i)).toBe(AF_INET);
        expect(rx.sourceKeyV4(i)).toBe(0x7f000001 * 65_536 + peer.address().port);
        expect(Array.from(rx.sockaddr(i).subarray(2, 8))).toEqual([peer.address().port >> 8, peer.address().port & 0xff, 127, 0, 0, 1]);
        expect(rx.truncated(i)).toBe(false);
      }
      if (n < 8) break;
      n = rx.receive(fd);
    }
    expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => `datagram-${i}`));
    rx.free();
    expect(rx.receive(fd)).toBe(0);
  });

  it('flags a datagram longer than its slot as truncated', async () => {
    const rx = new RecvBatch(2, 8);
    peer.send(Buffer.alloc(20, 1), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 20));
    expect(rx.receive(fd)).toBe(1);
    expect(rx.truncated(0)).toBe(true);
    expect(rx.data(0).length).toBe(8);
    rx.free();
  });

  it('sends a batch with one call, to each datagram its own destination', async () => {
    const tx = new SendBatch<number>(4, 32);
    const dest = sockaddrIn(peer.address().port);
    got.length = 0;
    for (let i = 0; i < 4; i++) expect(tx.add(Buffer.from(`answer-${i}`), dest, i)).toBe(true);
    expect(tx.full).toBe(true);
    expect(tx.add(Buffer.from('x'), dest, 9)).toBe(false);
    const unsent: number[] = [];
    expect(tx.flush(fd, (_b, t) => unsent.push(t))).toBe(4);
    expect(unsent).toEqual([]);
    expect(tx.length).toBe(0);
    await until(() => got.length === 4);
    expect(got.map((b) => b.toString())).toEqual(['answer-0', 'answer-1', 'answer-2', 'answer-3']);
    tx.free();
  });

  it('refuses oversized datagrams and hands every datagram the kernel did not take back, in order', () => {
    const tx = new SendBatch<string>(4, 8);
    const dest = sockaddrIn(peer.address().port);
    expect(tx.add(new Uint8Array(9), dest, 'big')).toBe(false);
    expect(tx.add(new Uint8Array(40), new Uint8Array(29), 'long sockaddr')).toBe(false);
    tx.add(Uint8Array.of(1), dest, 'a');
    tx.add(Uint8Array.of(2), dest, 'b');
    const unsent: [number, string][] = [];
    expect(tx.flush(-1, (b, t) => unsent.push([b[0]!, t]))).toBe(0); // EBADF
    expect(unsent).toEqual([[1, 'a'], [2, 'b']]);
    tx.free();
    expect(tx.add(Uint8Array.of(1), dest, 'after free')).toBe(false);
  });

  it('rejects impossible batch shapes', () => {
    expect(() => new RecvBatch(0, 64)).toThrow(RangeError);
    expect(() => new SendBatch(8, 0)).toThrow(RangeError);
  });
});
