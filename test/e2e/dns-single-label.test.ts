/**
 * `routes: [{ single_label: true, group: lan }]`: names without a dot (`nas`) go to the LAN
 * server (blocky's `.` mapping, dnsmasq `--server=//`), dotted names keep their routes, and
 * `localhost` is still answered locally. Two unbound servers on loopback, dig as the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { createLogger } from '../../src/runtime/log.js';
import { startDnsService, type DnsService } from '../../src/cli/dns.js';
import { dig, dnsConfig, startUnbound, type Unbound } from './dns-support.js';

describe.skipIf(missing({ command: 'unbound' }, { command: 'dig' }).length > 0)('single-label names routed to the LAN server (unbound, dig)', () => {
  let lan: Unbound;
  let pub: Unbound;
  let service: DnsService;
  const port = () => service.addresses[0]!.port;

  beforeAll(async () => {
    lan = await startUnbound('single-lan', ['local-zone: "nas." static', 'local-data: "nas. 300 IN A 10.0.0.5"']);
    pub = await startUnbound('single-public', [
      'local-zone: "nas." static', 'local-data: "nas. 300 IN A 192.0.2.99"',
      'local-zone: "example." static', 'local-data: "www.example. 300 IN A 192.0.2.1"',
    ]);
    service = await startDnsService(dnsConfig({
      listen: ['127.0.0.1:0'],
      upstreams: { lan: { servers: [`127.0.0.1:${lan.port}`] }, public: { servers: [`127.0.0.1:${pub.port}`] } },
      default_group: 'public',
      routes: [{ single_label: true, group: 'lan' }],
    }), { logger: createLogger({ level: 'silent', pretty: false }) });
  });

  afterAll(async () => {
    await service?.close();
    await lan?.stop();
    await pub?.stop();
  });

  it('asks the LAN server for a single-label name', async () => {
    const r = await dig(port(), ['nas', 'A']);
    expect(r.status).toBe('NOERROR');
    expect(r.answers.map((a) => a.data)).toEqual(['10.0.0.5']);
  });

  it('sends dotted names to the default group, and answers localhost itself', async () => {
    expect((await dig(port(), ['www.example', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.1']);
    expect((await dig(port(), ['localhost', 'A'])).answers.map((a) => a.data)).toEqual(['127.0.0.1']);
  });
});
