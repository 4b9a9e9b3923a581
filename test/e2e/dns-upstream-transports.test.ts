/**
 * End-to-end: upstreams over TCP (RFC 7766), DoT (RFC 7858) and DoH (RFC 8484), each an
 * in-test server on loopback with a throwaway certificate for 127.0.0.1 made by openssl.
 * Answers carry the transport in the address so a wrong route cannot pass.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { parseMessage } from '../../src/dns/message.js';
import { TcpFrameDecoder, frameMessage } from '../../src/dns/tcp-frame.js';
import { A, reply } from '../dns/wire.js';
import { dig, dnsConfig } from './dns-support.js';

/** Answers any query with an A record whose last octet names the transport. */
function answer(query: Uint8Array, lastOctet: number): Uint8Array | undefined {
  const p = parseMessage(query);
  if (!p.ok) return undefined;
  return reply(p.msg.qname, p.msg.qtype, { id: p.msg.id, answers: [A(p.msg.qname, `192.0.2.${lastOctet}`)], edns: true });
}

const connections = { tcp: 0, dot: 0 };

function streamHandler(lastOctet: number, kind: keyof typeof connections) {
  return (sock: net.Socket): void => {
    connections[kind]++;
    const d = new TcpFrameDecoder();
    sock.on('data', (c: Buffer) => {
      const r = d.push(c);
      if (!r.ok) return sock.destroy();
      for (const m of r.messages) {
        const a = answer(m, lastOctet);
        if (a) sock.write(frameMessage(a));
      }
    });
    sock.on('error', () => sock.destroy());
  };
}

const listen = (srv: net.Server): Promise<number> =>
  new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)));

describe.skipIf(missing({ command: 'openssl' }, { command: 'dig' }).length > 0)('DNS upstream transports: TCP, DoT, DoH', () => {
  let dir: string;
  const servers: net.Server[] = [];
  let service: DnsService;
  let untrusted: DnsService;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `tsp-dnsc-tls-${process.pid}-`));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'),
      '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const key = readFileSync(join(dir, 'key.pem'));
    const tcp = net.createServer(streamHandler(1, 'tcp'));
    const dot = tls.createServer({ key, cert }, streamHandler(2, 'dot'));
    const doh = https.createServer({ key, cert }, (req, res) => {
      if (req.method !== 'POST' || req.url !== '/dns-query' || req.headers['content-type'] !== 'application/dns-message') {
        res.writeHead(400).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const a = answer(new Uint8Array(Buffer.concat(chunks)), 3);
        if (!a) return res.writeHead(400).end();
        res.writeHead(200, { 'content-type': 'application/dns-message', 'content-length': a.length }).end(a);
      });
    });
    servers.push(tcp, dot, doh);
    const [tcpPort, dotPort, dohPort] = [await listen(tcp), await listen(dot), await listen(doh)];
    const mapping = (caFile: string | undefined) => ({
      listen: ['127.0.0.1:0'],
      upstreams: {
        plain: { servers: [`tcp://127.0.0.1:${tcpPort}`], timeout: '1s' },
        dot: { servers: [{ address: `tls://127.0.0.1:${dotPort}`, ...(caFile ? { ca_file: caFile } : {}) }], timeout: '1s' },
        doh: { servers: [{ address: `https://127.0.0.1:${dohPort}/dns-query`, ...(caFile ? { ca_file: caFile } : {}) }], timeout: '1s' },
      },
      routes: [{ suffix: 'dot.test', group: 'dot' }, { suffix: 'doh.test', group: 'doh' }],
      default_group: 'plain',
    });
    const logger = createLogger({ level: 'silent', pretty: false });
    service = await startDnsService(dnsConfig(mapping(join(dir, 'cert.pem'))), { logger });
    untrusted = await startDnsService(dnsConfig(mapping(undefined)), { logger });
    port = service.addresses[0]!.port;
  });

  afterAll(async () => {
    await service?.close();
    await untrusted?.close();
    for (const s of servers) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forwards over TCP, reusing one connection', async () => {
    for (const n of ['a', 'b', 'c']) expect((await dig(port, [`${n}.example`, 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.1']);
    expect(connections.tcp).toBe(1);
  });

  it('forwards over DoT with the configured CA, reusing one TLS connection', async () => {
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((n) => dig(port, [`${n}.dot.test`, 'A'])));
    expect(answers.map((r) => r.answers.map((a) => a.data))).toEqual([['192.0.2.2'], ['192.0.2.2'], ['192.0.2.2'], ['192.0.2.2']]);
    expect((await dig(port, ['e.dot.test', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.2']);
    expect(connections.dot).toBe(1);
  });

  it('forwards over DoH with the configured CA', async () => {
    expect((await dig(port, ['a.doh.test', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.3']);
    expect((await dig(port, ['b.doh.test', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.3']);
  });

  it('refuses an upstream certificate it cannot verify: SERVFAIL, quickly', async () => {
    const p = untrusted.addresses[0]!.port;
    for (const name of ['a.dot.test', 'a.doh.test']) {
      const t = Date.now();
      expect((await dig(p, [name, 'A'])).status).toBe('SERVFAIL');
      expect(Date.now() - t).toBeLessThan(1_000);
    }
  });
});
