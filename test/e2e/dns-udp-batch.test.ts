/**
 * End-to-end: the batched UDP edge (recvmmsg drain + one sendmmsg per drain) against many
 * client sockets on loopback, with a real unbound upstream. Every client sends a burst before
 * the forwarder's event loop runs, so the socket queue holds many datagrams and the drain path
 * is taken (asserted through its counters). Every reply must reach the socket that asked, with
 * that query's ID and question. The same bursts run against a listener with batching off.
 */
import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { FLAG_QR, parseMessage } from '../../src/dns/message.js';
import { dnsConfig, startUnbound, type Unbound } from './dns-support.js';
import { query, rd16 } from '../dns/wire.js';

const CLIENTS = 12;
/** Per client per wave: 12 × 8 = 96 datagrams queued at once, well inside a default rcvbuf. */
const PER_WAVE = 8;
const WAVE_TIMEOUT_MS = 5_000;
const TC = 0x0200;

interface Sent {
  readonly qname: string;
}

interface Client {
  readonly sock: dgram.Socket;
  /** Outstanding valid queries by ID (IDs < 0x8000); junk datagrams use IDs ≥ 0x8000. */
  readonly outstanding: Map<number, Sent>;
  readonly errors: string[];
  junkReplies: number;
  answered: number;
  replies: Uint8Array[];
}

async function openClients(n: number): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i++) {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const c: Client = { sock, outstanding: new Map(), errors: [], junkReplies: 0, answered: 0, replies: [] };
    sock.on('message', (msg) => {
      const bytes = new Uint8Array(msg);
      c.replies.push(bytes);
      const id = bytes.length >= 2 ? rd16(bytes, 0) : -1;
      if (id >= 0x8000) {
        if (bytes.length < 4 || (rd16(bytes, 2) & FLAG_QR) === 0) c.errors.push(`junk reply ${id} without QR`);
        c.junkReplies++;
        return;
      }
      const sent = c.outstanding.get(id);
      const p = parseMessage(bytes, false);
      if (sent === undefined) c.errors.push(`reply with ID ${id} that this socket has not asked (or twice)`);
      else if (!p.ok) c.errors.push(`unparsable reply to ${sent.qname}`);
      else if (p.msg.qname !== sent.qname) c.errors.push(`reply for ${p.msg.qname} to the query for ${sent.qname}`);
      else if ((p.msg.flags & FLAG_QR) === 0) c.errors.push(`reply for ${sent.qname} without QR`);
      c.outstanding.delete(id);
      c.answered++;
    });
    out.push(c);
  }
  return out;
}

/**
 * One wave: every client sends `PER_WAVE` queries (plus `junk(client)` datagrams interleaved)
 * in the same tick, then waits until every valid query has been answered.
 */
async function wave(
  clients: Client[], port: number, name: (client: number, i: number) => string, junk: (client: number) => Uint8Array[] = () => [], qtype = 1,
): Promise<void> {
  let nextId = 1;
  clients.forEach((c, ci) => {
    const extra = junk(ci);
    for (let i = 0; i < PER_WAVE; i++) {
      const id = (nextId++ * 7 + ci * 1_000) & 0x7fff;
      const qname = name(ci, i);
      c.outstanding.set(id, { qname });
      c.sock.send(query(qname, qtype, { id, edns: i % 2 === 0 ? { size: 1232 } : undefined }), port, '127.0.0.1');
      const j = extra[i];
      if (j !== undefined) c.sock.send(j, port, '127.0.0.1');
    }
  });
  const deadline = Date.now() + WAVE_TIMEOUT_MS;
  while (clients.some((c) => c.outstanding.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const left = clients.reduce((n, c) => n + c.outstanding.size, 0);
  expect(left, 'queries left unanswered').toBe(0);
  for (const c of clients) expect(c.errors).toEqual([]);
}

describe.skipIf(missing({ command: 'unbound' }).length > 0)('DNS forwarder UDP batching (recvmmsg/sendmmsg) end to end', () => {
  let upstream: Unbound;
  let batched: DnsService;
  let plain: DnsService;
  let clients: Client[] = [];

  beforeAll(async () => {
    upstream = await startUnbound('batch-up', [
      // Every name under batch.lan answers A 10.9.9.9 with its own owner name.
      'local-zone: "batch.lan." redirect',
      'local-data: "batch.lan. 300 IN A 10.9.9.9"',
      'local-zone: "big.lan." static',
      'local-data: "big.lan. 300 IN SOA ns.big.lan. host.big.lan. 1 3600 600 86400 60"',
      // ~10 × 75 bytes of TXT: more than 512 bytes, less than 1232.
      ...Array.from({ length: 10 }, (_, i) => `local-data: 'big.lan. 300 IN TXT "${'y'.repeat(60)}${i}"'`),
    ]);
    const config = dnsConfig({ listen: ['127.0.0.1:0'], upstreams: { up: { servers: [`127.0.0.1:${upstream.port}`] } }, default_group: 'up' });
    const logger = createLogger({ name: 'dns-batch-test', level: 'silent' });
    batched = await startDnsService(config, { rng: new SeededRng(11), logger });
    plain = await startDnsService(config, { rng: new SeededRng(12), logger, udpBatch: false });
    clients = await openClients(CLIENTS);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.sock.close();
    await batched?.close();
    await plain?.close();
    await upstream?.stop();
  });

  it('answers interleaved bursts from many clients, each reply to its own socket with its own ID and question', async () => {
    const port = batched.addresses[0]!.port;
    const before = batched.udpStats();
    // Wave 1: every name new (forwarded upstream: the copies kept must survive the reused buffer);
    // wave 2: the same names again (cache hits); wave 3: names shared across clients (coalescing).
    await wave(clients, port, (c, i) => `c${c}-q${i}.batch.lan`);
    await wave(clients, port, (c, i) => `c${c}-q${i}.batch.lan`);
    await wave(clients, port, (_c, i) => `shared${i}.batch.lan`);
    const after = batched.udpStats();
    expect(after.recvmmsgDatagrams - before.recvmmsgDatagrams).toBeGreaterThan(0n);
    expect(after.sendmmsgDatagrams - before.sendmmsgDatagrams).toBeGreaterThan(0n);
    expect(after.truncated).toBe(0n);
    expect(batched.forwarder.stats.cacheHits).toBeGreaterThanOrEqual(BigInt(CLIENTS * PER_WAVE));
  });

  it('takes the one-datagram-per-event path when batching is off, with the same answers', async () => {
    await wave(clients, plain.addresses[0]!.port, (c, i) => `plain-c${c}-q${i}.batch.lan`);
    await wave(clients, plain.addresses[0]!.port, (c, i) => `plain-c${c}-q${i}.batch.lan`);
    expect(plain.udpStats().recvmmsgDatagrams).toBe(0n);
    expect(plain.udpStats().sendmmsgDatagrams).toBe(0n);
  });

  for (const which of ['batched', 'plain'] as const) {
    it(`keeps truncation and EDNS sizes unchanged (${which})`, async () => {
      const svc = which === 'batched' ? batched : plain;
      const port = svc.addresses[0]!.port;
      // Warm the cache first: a burst of 96 identical questions would exceed the forwarder's
      // 64 clients coalesced per upstream query (the rest are dropped by design).
      await wave(clients.slice(0, 1), port, () => 'big.lan', undefined, 16);
      for (let round = 0; round < 2; round++) {
        for (const c of clients) c.replies = [];
        await wave(clients, port, () => 'big.lan', undefined, 16);
        for (const c of clients) {
          for (const r of c.replies) {
            const p = parseMessage(r, true);
            if (!p.ok) throw new Error('unparsable');
            if (p.msg.edns === undefined) {
              // No EDNS in the query: at most 512 bytes, TC set (RFC 1035 §4.2.1, RFC 7766 §5).
              expect(r.length).toBeLessThanOrEqual(512);
              expect(p.msg.flags & TC).toBe(TC);
            } else {
              expect(r.length).toBeGreaterThan(512);
              expect(p.msg.flags & TC).toBe(0);
              expect(p.msg.ancount).toBe(10);
            }
          }
        }
      }
    });
  }

  it('drops or FORMERRs malformed datagrams inside a batch and still answers every other query in it', async () => {
    const port = batched.addresses[0]!.port;
    // Arbitrary bytes, and arbitrary bytes behind a plausible query header (QR 0, opcode 0,
    // QDCOUNT 1) so that the question parser, not only the header check, sees junk.
    const junkGen = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 600, size: 'max' }),
      fc.uint8Array({ minLength: 0, maxLength: 300, size: 'max' }).map((tail) => Uint8Array.from([0x80, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...tail])),
    );
    for (let round = 0; round < 4; round++) {
      const samples = fc.sample(junkGen, { numRuns: CLIENTS * PER_WAVE, seed: 1_000 + round });
      let junkSent = 0;
      const queriesBefore = batched.forwarder.stats.queries;
      const recvBefore = batched.udpStats().recvmmsgDatagrams;
      await wave(clients, port, (c, i) => `fuzz${round}-c${c}-q${i}.batch.lan`, (ci) => {
        const mine = samples.slice(ci * PER_WAVE, (ci + 1) * PER_WAVE).map((b) => {
          // Junk IDs have the top bit set so a reply to junk is never taken for a valid answer.
          if (b.length >= 1) b[0] = b[0]! | 0x80;
          return b;
        });
        junkSent += mine.length;
        return mine;
      });
      // Every datagram of the bursts, junk included, reached the core.
      const deadline = Date.now() + WAVE_TIMEOUT_MS;
      while (batched.forwarder.stats.queries - queriesBefore < BigInt(CLIENTS * PER_WAVE + junkSent) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(batched.forwarder.stats.queries - queriesBefore).toBe(BigInt(CLIENTS * PER_WAVE + junkSent));
      expect(batched.udpStats().recvmmsgDatagrams - recvBefore).toBeGreaterThan(0n);
    }
    expect(batched.forwarder.stats.formerr).toBeGreaterThan(0n);
  });
});
