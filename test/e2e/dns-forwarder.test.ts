/**
 * End-to-end: tsplane's forwarder between dig and real unbound servers on loopback. The
 * "internal" unbound serves home.lan and 10.in-addr.arpa; two "public" unbounds serve example.
 * from local-data (nothing recurses, nothing leaves 127.0.0.0/8). A fake upstream in this test
 * sends spoofed replies. Order matters: later tests kill upstreams.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { SeededRng } from '../../src/runtime/rng.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { parseMessage } from '../../src/dns/message.js';
import { TcpFrameDecoder, frameMessage } from '../../src/dns/tcp-frame.js';
import { dig, dnsConfig, freePort, sleep, startUnbound, type Unbound } from './dns-support.js';
import { A, query, reply } from '../dns/wire.js';

describe.skipIf(missing({ command: 'unbound' }, { command: 'dig' }).length > 0)('DNS forwarder end to end (unbound, dig)', () => {
  let internal: Unbound;
  let pubA: Unbound;
  let pubB: Unbound;
  let fake: dgram.Socket;
  let fakeOther: dgram.Socket;
  let service: DnsService;
  let port: number;
  const started: Unbound[] = [];

  beforeAll(async () => {
    const soa = (z: string) => `local-data: "${z}. 3600 IN SOA ns.${z}. host.${z}. 1 3600 600 86400 60"`;
    internal = await startUnbound('internal', [
      'local-zone: "home.lan." static', soa('home.lan'),
      'local-data: "nas.home.lan. 300 IN A 10.0.0.5"',
      'local-data: "flaky.home.lan. 1 IN A 10.0.0.6"',
      'local-zone: "10.in-addr.arpa." static',
      'local-data-ptr: "10.0.0.5 nas.home.lan"',
    ]);
    started.push(internal);
    const publicLines = (who: string) => [
      'local-zone: "example." static', soa('example'),
      'local-data: "www.example. 300 IN A 192.0.2.1"',
      `local-data: 'who.example. 300 IN TXT "${who}"'`,
      ...Array.from({ length: 30 }, (_, i) => `local-data: 'big.example. 300 IN TXT "${'x'.repeat(60)}${i}"'`),
    ];
    pubA = await startUnbound('pubA', publicLines('A'));
    started.push(pubA);
    pubB = await startUnbound('pubB', publicLines('B'));
    started.push(pubB);

    // Fake upstream for spoof.test: before the real answer it sends a reply with a wrong ID, one
    // for another question, and one from another port (which a connected socket never sees).
    fake = dgram.createSocket('udp4');
    fakeOther = dgram.createSocket('udp4');
    await new Promise<void>((r) => fake.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => fakeOther.bind(0, '127.0.0.1', () => r()));
    fake.on('message', (msg, rinfo) => {
      const p = parseMessage(new Uint8Array(msg));
      if (!p.ok) return;
      const id = p.msg.id;
      const send = (b: Uint8Array, s = fake) => s.send(b, rinfo.port, rinfo.address);
      send(reply(p.msg.qname, p.msg.qtype, { id: (id + 1) & 0xffff, answers: [A(p.msg.qname, '6.6.6.1')] }));
      send(reply('evil.test', p.msg.qtype, { id, answers: [A('evil.test', '6.6.6.2')] }));
      send(reply(p.msg.qname, p.msg.qtype, { id, answers: [A(p.msg.qname, '6.6.6.3')] }), fakeOther);
      setTimeout(() => send(reply(p.msg.qname, p.msg.qtype, { id, answers: [A(p.msg.qname, '192.0.2.99')] })), 50);
    });

    const at = (p: number) => `127.0.0.1:${p}`;
    service = await startDnsService(
      dnsConfig({
        listen: ['127.0.0.1:0'],
        upstreams: {
          public: { servers: [at(pubA.port), at(pubB.port)], timeout: '500ms' },
          internal: { servers: [at(internal.port)], timeout: '500ms' },
          spoof: { servers: [at(fake.address().port)], timeout: '500ms' },
        },
        routes: [
          { suffix: 'home.lan', group: 'internal' },
          { reverse: '10.0.0.0/8', group: 'internal' },
          { suffix: 'spoof.test', group: 'spoof' },
        ],
        default_group: 'public',
        cache: { serve_stale: true, max_stale: '1h' },
      }),
      { logger: createLogger({ level: 'silent', pretty: false }), rng: new SeededRng(1) },
    );
    port = service.addresses[0]!.port;
  });

  afterAll(async () => {
    await service?.close();
    fake?.close();
    fakeOther?.close();
    for (const u of started) await u.stop();
  });

  it('routes internal names to the internal server and public names to the public ones', async () => {
    const nas = await dig(port, ['nas.home.lan', 'A']);
    expect([nas.status, nas.answers.map((a) => a.data)]).toEqual(['NOERROR', ['10.0.0.5']]);
    const www = await dig(port, ['www.example', 'A']);
    expect([www.status, www.answers.map((a) => a.data)]).toEqual(['NOERROR', ['192.0.2.1']]);
    // The public server does not know home.lan: a wrong route would have answered NXDOMAIN.
    expect((await dig(pubA.port, ['nas.home.lan', 'A'])).status).toBe('NXDOMAIN');
    expect((await dig(port, ['nope.example', 'A'])).status).toBe('NXDOMAIN');
  });

  it('routes reverse lookups of a routed CIDR and answers unrouted private ones NXDOMAIN locally', async () => {
    const ptr = await dig(port, ['-x', '10.0.0.5']);
    expect(ptr.answers.map((a) => a.data)).toEqual(['nas.home.lan.']);
    expect((await dig(port, ['-x', '192.168.1.1'])).status).toBe('NXDOMAIN');
  });

  it('answers from cache with decremented TTLs', async () => {
    await dig(port, ['www.example', 'A']);
    const hitsBefore = service.forwarder.stats.cacheHits;
    await sleep(2_100);
    const r = await dig(port, ['www.example', 'A']);
    expect(r.answers[0]!.ttl).toBeLessThanOrEqual(298);
    expect(r.answers[0]!.ttl).toBeGreaterThan(290);
    expect(service.forwarder.stats.cacheHits).toBe(hitsBefore + 1n);
  });

  it('serves clients over TCP and retries a truncated upstream answer over TCP', async () => {
    const retries = service.forwarder.stats.tcpRetries;
    const big = await dig(port, ['+tcp', 'big.example', 'TXT']);
    expect(big.status).toBe('NOERROR');
    expect(big.answers).toHaveLength(30);
    expect(service.forwarder.stats.tcpRetries).toBe(retries + 1n);
    // Over UDP the cached 30-record answer does not fit 1232 bytes: TC, and dig retries over TCP.
    const udp = await dig(port, ['+ignore', 'big.example', 'TXT']);
    expect(udp.flags).toContain('tc');
    expect((await dig(port, ['+tcp', 'nas.home.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.5']);
  });

  it('answers pipelined TCP queries written one byte at a time', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const stream = Uint8Array.from([...frameMessage(query('nas.home.lan', 1, { id: 0x0a01 })), ...frameMessage(query('www.example', 1, { id: 0x0a02 }))]);
    const decoder = new TcpFrameDecoder();
    const got: number[] = [];
    const done = new Promise<void>((resolve) => {
      sock.on('data', (c: Buffer) => {
        const r = decoder.push(c);
        if (r.ok) for (const m of r.messages) got.push((m[0]! << 8) | m[1]!);
        if (got.length === 2) resolve();
      });
    });
    for (const b of stream) {
      sock.write(Uint8Array.of(b));
      await sleep(1);
    }
    await Promise.race([done, sleep(3_000)]);
    sock.destroy();
    expect(got.sort()).toEqual([0x0a01, 0x0a02]);
  });

  it('ignores replies with the wrong ID, question or source port', async () => {
    const { mismatchedReplies: m0, unexpectedReplies: u0 } = service.forwarder.stats;
    const r = await dig(port, ['x.spoof.test', 'A']);
    expect(r.answers.map((a) => a.data)).toEqual(['192.0.2.99']);
    expect(service.forwarder.stats.mismatchedReplies - m0).toBe(1n); // right ID, wrong question
    expect(service.forwarder.stats.unexpectedReplies - u0).toBe(1n); // wrong ID
  });

  it('survives fuzzed UDP packets and keeps answering', async () => {
    const sock = dgram.createSocket('udp4');
    const base = query('www.example', 1, { edns: {} });
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      const b = i % 2 === 0 ? Uint8Array.from(base) : new Uint8Array(rnd() % 300);
      if (i % 2 === 0) for (let k = 0; k < 1 + (rnd() % 4); k++) b[rnd() % b.length] = rnd() & 0xff;
      else for (let k = 0; k < b.length; k++) b[k] = rnd() & 0xff;
      sock.send(b, port, '127.0.0.1');
      if (i % 100 === 0) await sleep(5);
    }
    await sleep(200);
    sock.close();
    const r = await dig(port, ['nas.home.lan', 'A']);
    expect(r.answers.map((a) => a.data)).toEqual(['10.0.0.5']);
  });

  it('runs as `tsplane dns` from the command line', async () => {
    const cliPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/tsplane.ts', 'dns', '--listen', `127.0.0.1:${cliPort}`,
      '--upstream', `127.0.0.1:${pubB.port}`, '--log-level', 'warn'], { stdio: 'ignore' });
    try {
      let r;
      for (let i = 0; i < 50; i++) {
        r = await dig(cliPort, ['who.example', 'TXT', '+time=1']).catch(() => undefined);
        if (r?.status === 'NOERROR') break;
        await sleep(200);
      }
      expect(r?.answers.map((a) => a.data)).toEqual(['"B"']);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('serves stale data when the internal server is down, and SERVFAILs quickly without it', async () => {
    expect((await dig(port, ['flaky.home.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.6']);
    await internal.stop();
    await sleep(1_200);
    let t = Date.now();
    const stale = await dig(port, ['flaky.home.lan', 'A']);
    expect([stale.status, stale.answers.map((a) => [a.data, a.ttl])]).toEqual(['NOERROR', [['10.0.0.6', 30]]]);
    expect(Date.now() - t).toBeLessThan(1_500);
    t = Date.now();
    const gone = await dig(port, ['other.home.lan', 'A']);
    expect(gone.status).toBe('SERVFAIL'); // and not NXDOMAIN from the public fallback
    expect(gone.raw).toContain('EDE: 22 (No Reachable Authority)');
    expect(Date.now() - t).toBeLessThan(1_500);
  });

  it('fails over when a public upstream is killed, and SERVFAILs quickly when all are down', async () => {
    await pubA.stop();
    let t = Date.now();
    const who = await dig(port, ['who.example', 'TXT']);
    expect(who.answers.map((a) => a.data)).toEqual(['"B"']);
    expect(Date.now() - t).toBeLessThan(1_500);
    await pubB.stop();
    t = Date.now();
    const none = await dig(port, ['new.example', 'A']);
    expect(none.status).toBe('SERVFAIL');
    expect(Date.now() - t).toBeLessThan(1_500);
  });
});
