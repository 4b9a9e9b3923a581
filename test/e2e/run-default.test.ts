/**
 * The embedded default config (examples/tsplane.yaml, what `npm start` runs) starts and keeps
 * running with no upstream answering: forwarded names get SERVFAIL, local and blocked names
 * are answered. Run on a copy with port 0 everywhere so it cannot collide with anything.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { dig } from './dns-support.js';
import { REPO_ROOT, httpUrl, startTsplane, type RunningTsplane } from './run-support.js';

describe.skipIf(missing({ command: 'dig' }).length > 0)('tsplane run with the embedded default', () => {
  let dir: string;
  let ts: RunningTsplane;
  let dnsPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `tsp-run-default-${process.pid}-`));
    const text = readFileSync(join(REPO_ROOT, 'examples/tsplane.yaml'), 'utf8')
      .replace(/127\.0\.0\.1:(3340|3478|5353|9090)/g, '127.0.0.1:0')
      .replace('format: auto', 'format: json');
    writeFileSync(join(dir, 'tsplane.yaml'), text);
    copyFileSync(join(REPO_ROOT, 'examples/dns-blocklist.txt'), join(dir, 'dns-blocklist.txt'));
    ts = await startTsplane(['run', join(dir, 'tsplane.yaml')], { env: { TSPLANE_WG_PRIVATE_KEY: '' } });
    dnsPort = Number(String((ts.ready.dns as string[])[0]).split(':')[1]);
  }, 60_000);

  afterAll(async () => {
    await ts?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('skips the optional WireGuard interface and runs DERP, STUN, DNS and metrics', async () => {
    expect(ts.lines.some((l) => l.msg === 'wireguard: optional interface not started')).toBe(true);
    expect(String(ts.ready.derp)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ts.ready.stun).toBeDefined();
    const health = await fetch(httpUrl(ts.ready.metrics, '/healthz'));
    expect(health.status).toBe(200);
  });

  it('answers SERVFAIL for forwarded names with no upstream, and local and blocked names itself', async () => {
    const fwd = await dig(dnsPort, ['www.example.test', 'A', '+time=5']);
    expect(fwd.status).toBe('SERVFAIL');
    expect((await dig(dnsPort, ['router.vpn.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.1']);
    expect((await dig(dnsPort, ['ads.example', 'A'])).answers.map((a) => a.data)).toEqual(['0.0.0.0']);
    expect(ts.proc.exitCode).toBeNull();
  }, 30_000);

  it('stops on SIGINT with exit 0', async () => {
    expect(await ts.stop('SIGINT')).toBe(0);
  });
});
