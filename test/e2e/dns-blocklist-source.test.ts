/**
 * BlocklistSource against a real HTTP server on 127.0.0.1 (ephemeral port) and real files:
 * serve a list, fail (the last good copy stays), serve a new list; caps and validation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { createRegistry } from '../../src/runtime/metrics.js';
import { Scheduler } from '../../src/runtime/loop.js';
import { BlocklistSource, RETRY_AFTER_FAILURE_MS } from '../../src/dns/io/blocklist-source.js';
import type { BlocklistSourceConfig, DnsBlockingConfig } from '../../src/dns/config.js';
import { createDnsMetrics } from '../../src/dns/metrics.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let baseUrl: string;
let handler: Handler = (_req, res) => res.end();
let requests = 0;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'tsp-dnsf-lists-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const logger = createLogger({ level: 'silent', pretty: false });

function config(sources: BlocklistSourceConfig[], extra: Partial<DnsBlockingConfig> = {}): DnsBlockingConfig {
  return { sources, refreshMs: 3_600_000, maxListBytes: 64 * 1024, allowlist: [], answer: 'null_ip', blockedTtlS: 300, cnameCheck: true, ...extra };
}

const serve = (status: number, body: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
};

describe('BlocklistSource over HTTP on 127.0.0.1', () => {
  it('loads a list, keeps the last good copy when the server fails, then takes a new list', async () => {
    const clock = new ManualClock();
    const registry = createRegistry();
    const src = new BlocklistSource({ config: config([{ kind: 'url', name: 'web', url: `${baseUrl}/hosts.txt` }]), clock, logger, metrics: createDnsMetrics(registry) });

    handler = serve(200, '0.0.0.0 ads.example\n||tracker.example^\n');
    await src.start();
    expect(src.blocklist.match('ads.example')).toBe('web');
    expect(src.blocklist.match('x.tracker.example')).toBe('web');
    expect(src.status()[0]).toMatchObject({ rules: 2, lastError: undefined });

    handler = serve(500, 'oops');
    clock.advance(3_600_000);
    await src.refreshDue(false);
    expect(src.status()[0]!.lastError).toBe('HTTP 500');
    expect(src.blocklist.match('ads.example')).toBe('web'); // last good copy kept
    expect(src.nextDeadline()).toBe(clock.monotonicMs() + RETRY_AFTER_FAILURE_MS);

    handler = serve(200, '0.0.0.0 new-ads.example\n');
    clock.advance(RETRY_AFTER_FAILURE_MS);
    await src.refreshDue(false);
    expect(src.blocklist.match('new-ads.example')).toBe('web');
    expect(src.blocklist.match('ads.example')).toBeUndefined();
    expect(src.status()[0]).toMatchObject({ rules: 1, lastError: undefined });

    const text = await registry.metrics();
    expect(text).toContain('tsplane_dns_blocklist_refresh_failures_total{list="web"} 1');
    expect(text).toContain('tsplane_dns_blocklist_rules{list="web"} 1');
    src.close();
  });

  it('does not refresh before the deadline', async () => {
    const clock = new ManualClock();
    const src = new BlocklistSource({ config: config([{ kind: 'url', name: 'web', url: `${baseUrl}/x` }]), clock, logger });
    handler = serve(200, 'a.example\n');
    await src.start();
    const before = requests;
    clock.advance(3_599_999);
    await src.refreshDue(false);
    expect(requests).toBe(before);
    clock.advance(1);
    await src.refreshDue(false);
    expect(requests).toBe(before + 1);
  });

  it('refuses a download over the size cap, by Content-Length and while streaming', async () => {
    const clock = new ManualClock();
    const big = `${'0.0.0.0 a.example\n'.repeat(5000)}`; // 90 kB > 64 KiB cap
    const src = new BlocklistSource({ config: config([{ kind: 'url', name: 'web', url: `${baseUrl}/big` }]), clock, logger });
    handler = serve(200, big);
    await src.start();
    expect(src.status()[0]!.lastError).toMatch(/Content-Length \d+ is over the 65536-byte cap/);
    handler = (_req, res) => {
      res.writeHead(200); // chunked, no Content-Length
      res.write(big.slice(0, 40_000));
      res.end(big.slice(40_000));
    };
    clock.advance(RETRY_AFTER_FAILURE_MS);
    await src.refreshDue(false);
    expect(src.status()[0]!.lastError).toMatch(/passed the 65536-byte cap/);
    expect(src.blocklist.size).toBe(0);
  });

  it('rejects an HTML page served with 200 in place of a list', async () => {
    const clock = new ManualClock();
    const src = new BlocklistSource({ config: config([{ kind: 'url', name: 'web', url: `${baseUrl}/l` }]), clock, logger });
    handler = serve(200, 'ads.example\n');
    await src.start();
    handler = serve(200, '<html>\n<body>maintenance</body>\n</html>\n');
    clock.advance(3_600_000);
    await src.refreshDue(false);
    expect(src.status()[0]!.lastError).toMatch(/no rules in 3 lines/);
    expect(src.blocklist.match('ads.example')).toBe('web');
  });

  it('sends If-None-Match and keeps the copy on 304', async () => {
    const clock = new ManualClock();
    const src = new BlocklistSource({ config: config([{ kind: 'url', name: 'web', url: `${baseUrl}/etag` }]), clock, logger });
    let sawEtag: string | undefined;
    handler = (req, res) => {
      sawEtag = req.headers['if-none-match'];
      if (sawEtag === '"v1"') {
        res.writeHead(304);
        res.end();
      } else serve(200, 'ads.example\n', { etag: '"v1"' })(req, res);
    };
    await src.start();
    clock.advance(3_600_000);
    await src.refreshDue(false);
    expect(sawEtag).toBe('"v1"');
    expect(src.status()[0]).toMatchObject({ lastError: undefined, rules: 1 });
    expect(src.blocklist.match('ads.example')).toBe('web');
  });
});

describe('BlocklistSource from files', () => {
  it('merges file lists with the allowlist and @@ exceptions, and reports a missing file', async () => {
    writeFileSync(join(dir, 'a.txt'), '||ads.example^\n@@||good.ads.example^\n');
    const clock = new ManualClock();
    const src = new BlocklistSource({
      config: config([{ kind: 'file', name: 'a', path: join(dir, 'a.txt') }, { kind: 'file', name: 'gone', path: join(dir, 'nope.txt') }], { allowlist: ['ok.ads.example'] }),
      clock,
      logger,
    });
    expect(src.allowlist.match('ok.ads.example')).toBe('config:allowlist'); // before any load
    await src.start();
    expect(src.blocklist.match('x.ads.example')).toBe('a');
    expect(src.allowlist.match('good.ads.example')).toBe('a');
    expect(src.status()[1]!.lastError).toMatch(/ENOENT/);
  });

  it('refreshes through the runtime Scheduler', async () => {
    writeFileSync(join(dir, 'b.txt'), 'one.example\n');
    const clock = new ManualClock();
    const scheduler = new Scheduler(clock);
    const src = new BlocklistSource({ config: config([{ kind: 'file', name: 'b', path: join(dir, 'b.txt') }], { refreshMs: 60_000 }), clock, logger, scheduler });
    await src.start();
    writeFileSync(join(dir, 'b.txt'), 'two.example\n');
    expect(scheduler.runDue()).toBe(0);
    clock.advance(60_000);
    expect(scheduler.runDue()).toBe(1);
    await src.refreshDue(false); // joins the refresh the scheduler started
    expect(src.blocklist.match('two.example')).toBe('b');
    scheduler.stop();
    src.close();
  });
});
