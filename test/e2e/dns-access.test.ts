/**
 * `access:` and `rate_limit:` through the whole forwarder, with an unbound upstream and dig on
 * loopback source addresses (127.0.0.x): allowed clients are answered, others REFUSED, denied
 * ones get nothing, over UDP and TCP; a client over its rate gets only its burst answered.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { dig, dnsConfig, startUnbound, type Unbound } from './dns-support.js';
import { query } from '../dns/wire.js';

describe.skipIf(missing({ command: 'unbound' }, { command: 'dig' }).length > 0)('DNS access control and rate limit (unbound, dig)', () => {
  let upstream: Unbound;
  let service: DnsService;
  const port = () => service.addresses[0]!.port;

  beforeAll(async () => {
    upstream = await startUnbound('access-upstream', [
      'local-zone: "example." static',
      'local-data: "www.example. 300 IN A 192.0.2.1"',
    ]);
    service = await startDnsService(dnsConfig({
      listen: ['127.0.0.1:0'],
      upstreams: { public: { servers: [`127.0.0.1:${upstream.port}`] } },
      access: { allow: ['127.0.0.2/32', '127.0.0.4/32'], deny: ['127.0.0.3/32'] },
      rate_limit: { qps: 5, burst: 5 },
    }), { logger: createLogger({ level: 'silent', pretty: false }) });
  });

  afterAll(async () => {
    await service?.close();
    await upstream?.stop();
  });

  it('answers an allowed client over UDP and TCP', async () => {
    for (const tcp of [[], ['+tcp']]) {
      const r = await dig(port(), ['-b', '127.0.0.2', ...tcp, 'www.example', 'A']);
      expect(r.status).toBe('NOERROR');
      expect(r.answers[0]?.data).toBe('192.0.2.1');
    }
  });

  it('answers REFUSED to a client outside the allow list, over UDP and TCP', async () => {
    for (const tcp of [[], ['+tcp']]) {
      const r = await dig(port(), ['-b', '127.0.0.1', ...tcp, 'www.example', 'A']);
      expect(r.status).toBe('REFUSED');
      expect(r.answers).toEqual([]);
    }
  });

  it('ignores a denied client', async () => {
    const r = await dig(port(), ['-b', '127.0.0.3', '+time=1', 'www.example', 'A']);
    expect(r.status).toBeUndefined();
    expect(r.raw).toMatch(/timed out|no servers could be reached/);
  });

  it('drops what a client sends beyond its burst', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.4', () => resolve()));
    let answers = 0;
    sock.on('message', () => answers++);
    for (let i = 0; i < 30; i++) sock.send(query('www.example', 1, { id: i + 1 }), port(), '127.0.0.1');
    await new Promise((r) => setTimeout(r, 500));
    sock.close();
    expect(answers).toBeGreaterThanOrEqual(5);
    expect(answers).toBeLessThan(15);
    expect(service.rateLimited()).toBeGreaterThan(0n);
  });
});
