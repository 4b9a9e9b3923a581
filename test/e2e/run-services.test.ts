/**
 * `tsplane run` end to end, one process with DERP + STUN + DNS + the admin listener on loopback:
 * DERP clients relay through it, dig queries follow the split route to real unbound upstreams,
 * /metrics merges every service with event-loop lag and RSS, /healthz reports each service,
 * SIGHUP swaps local records (and an invalid file keeps the old ones) and applies a route change
 * in place (no query unanswered meanwhile), SIGTERM tells DERP
 * clients `restarting` and exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { DerpClient } from '../../src/derp/io/client.js';
import { formatNodePublicKey, generateNodePrivateKey, publicKeyOf, type NodePrivateKey } from '../../src/derp/keys.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { dig, freePort, startUnbound, type Unbound } from './dns-support.js';
import { REPO_ROOT, httpUrl, startTsplane, type RunningTsplane } from './run-support.js';

const skip = missing({ command: 'unbound' }, { command: 'dig' }).length > 0;

function configText(o: { dnsPort: number; internal: number; pub: number; nasAddress: string; homeGroup?: string }): string {
  return `derp:
  listen: 127.0.0.1:0
  stun_listen: 127.0.0.1:0
  verify_clients: allow.txt
dns:
  listen: 127.0.0.1:${o.dnsPort}
  upstreams:
    internal: { servers: [127.0.0.1:${o.internal}], timeout: 1s }
    public: { servers: [127.0.0.1:${o.pub}], timeout: 1s }
  routes:
    - { suffix: home.lan, group: ${o.homeGroup ?? 'internal'} }
  default_group: public
  blocking:
    lists: [{ path: dns-blocklist.txt }]
  local:
    zones: [vpn.lan]
    records:
      - { name: nas.vpn.lan, type: A, value: ${o.nasAddress} }
metrics:
  listen: 127.0.0.1:0
log:
  level: info
  format: json
stop_timeout: 5s
`;
}

describe.skipIf(skip)('tsplane run: DERP + DNS + metrics in one process', () => {
  let dir: string;
  let internal: Unbound;
  let pub: Unbound;
  let ts: RunningTsplane;
  let cfg: string;
  let ports: { dnsPort: number; internal: number; pub: number };
  const clients: DerpClient[] = [];
  const rng = new SystemRng();
  const ka = generateNodePrivateKey(rng);
  const kb = generateNodePrivateKey(rng);
  const kc = generateNodePrivateKey(rng);
  const allow = (...keys: NodePrivateKey[]) => writeFileSync(join(dir, 'allow.txt'), keys.map((k) => `${formatNodePublicKey(publicKeyOf(k))}\n`).join(''));
  /** True when a client with `key` is admitted (it gets a Pong back). */
  const admitted = async (key: NodePrivateKey): Promise<boolean> => {
    const c = new DerpClient({ url: `${String(ts.ready.derp)}/derp`, privateKey: key, reconnect: false });
    try {
      await c.connect();
      await c.ping(3_000);
      return true;
    } catch {
      return false;
    } finally {
      await c.close().catch(() => undefined);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `tsp-run-${process.pid}-`));
    internal = await startUnbound('run-int', ['local-zone: "home.lan." static', 'local-data: "printer.home.lan. 60 IN A 10.1.2.3"']);
    pub = await startUnbound('run-pub', ['local-zone: "example.test." static', 'local-data: "www.example.test. 60 IN A 192.0.2.7"', 'local-data: "printer.home.lan. 60 IN A 192.0.2.66"']);
    ports = { dnsPort: await freePort(), internal: internal.port, pub: pub.port };
    copyFileSync(join(REPO_ROOT, 'examples/dns-blocklist.txt'), join(dir, 'dns-blocklist.txt'));
    allow(ka, kb);
    cfg = join(dir, 'tsplane.yaml');
    writeFileSync(cfg, configText({ ...ports, nasAddress: '10.0.0.5' }));
    ts = await startTsplane(['run', cfg]);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await ts?.stop('SIGKILL');
    await internal?.stop();
    await pub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('relays packets between two DERP clients', async () => {
    const a = new DerpClient({ url: `${String(ts.ready.derp)}/derp`, privateKey: ka, reconnect: false });
    const b = new DerpClient({ url: `${String(ts.ready.derp)}/derp`, privateKey: kb, reconnect: false });
    clients.push(a, b);
    const got = new Promise<{ src: Uint8Array; bytes: Uint8Array }>((resolve) => b.onPacket((src, bytes) => resolve({ src: new Uint8Array(src), bytes: new Uint8Array(bytes) })));
    await a.connect();
    await b.connect();
    // B may register a moment after its handshake resolves: resend until it arrives (bounded).
    const payload = new TextEncoder().encode('through tsplane run');
    let received: { src: Uint8Array; bytes: Uint8Array } | undefined;
    for (let i = 0; i < 20 && !received; i++) {
      a.sendPacket(publicKeyOf(kb), payload);
      received = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 250))]);
    }
    expect(received).toBeDefined();
    expect(Buffer.from(received!.bytes).toString()).toBe('through tsplane run');
    expect(Buffer.from(received!.src)).toEqual(Buffer.from(publicKeyOf(ka)));
  });

  it('routes dig queries: split route to the internal upstream, the rest to public, blocked and local names answered locally', async () => {
    const port = ports.dnsPort;
    const printer = await dig(port, ['printer.home.lan', 'A']);
    expect(printer.status).toBe('NOERROR');
    expect(printer.answers.map((a) => a.data)).toEqual(['10.1.2.3']);
    const www = await dig(port, ['www.example.test', 'A']);
    expect(www.answers.map((a) => a.data)).toEqual(['192.0.2.7']);
    const ads = await dig(port, ['ads.example', 'A']);
    expect(ads.answers.map((a) => a.data)).toEqual(['0.0.0.0']);
    const nas = await dig(port, ['nas.vpn.lan', 'A']);
    expect(nas.answers.map((a) => a.data)).toEqual(['10.0.0.5']);
  });

  it('serves one /metrics with DERP, DNS, event-loop lag and RSS', async () => {
    const res = await fetch(httpUrl(ts.ready.metrics, '/metrics'));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^tsplane_derp_\w+/m);
    expect(text).toMatch(/^tsplane_dns_queries_total\{/m);
    expect(text).toMatch(/^tsplane_stun_\w+/m);
    expect(text).toMatch(/^tsplane_nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toMatch(/^tsplane_process_resident_memory_bytes \d+/m);
  });

  it('reports each service on /healthz with 200', async () => {
    const res = await fetch(httpUrl(ts.ready.metrics, '/healthz'));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { healthy: boolean; services: Record<string, { healthy: boolean }> };
    expect(body.healthy).toBe(true);
    expect(Object.keys(body.services).sort()).toEqual(['derp', 'dns']);
    expect(body.services.derp!.healthy && body.services.dns!.healthy).toBe(true);
  });

  it('SIGHUP swaps a local record; an invalid file on reload keeps the running config', async () => {
    writeFileSync(cfg, configText({ ...ports, nasAddress: '10.0.0.99' }));
    const before = ts.lines.length;
    ts.proc.kill('SIGHUP');
    await ts.waitFor((l) => l.msg === 'tsplane: reloaded' && ts.lines.indexOf(l) >= before);
    expect((await dig(ports.dnsPort, ['nas.vpn.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.99']);

    writeFileSync(cfg, configText({ ...ports, nasAddress: '10.0.0.300' }));
    const mark = ts.lines.length;
    ts.proc.kill('SIGHUP');
    const err = await ts.waitFor((l) => String(l.msg).includes('invalid config') && ts.lines.indexOf(l) >= mark);
    expect(String(err.err)).toMatch(/tsplane\.yaml:\d+: dns\.local\.records\[0\]\.value/);
    expect((await dig(ports.dnsPort, ['nas.vpn.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.99']);
    // Still serving forwarded names too.
    expect((await dig(ports.dnsPort, ['www.example.test', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.7']);
  });

  it('SIGHUP with a changed route applies it in place: same sockets, cache flushed, new route', async () => {
    expect((await dig(ports.dnsPort, ['printer.home.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.1.2.3']);
    writeFileSync(cfg, configText({ ...ports, nasAddress: '10.0.0.99', homeGroup: 'public' }));
    const mark = ts.lines.length;
    // Queries keep flowing while the reload happens: none may go unanswered.
    const during = Array.from({ length: 20 }, (_, i) => dig(ports.dnsPort, [`www${i % 3 === 0 ? '' : i}.example.test`, 'A']));
    ts.proc.kill('SIGHUP');
    await ts.waitFor((l) => l.msg === 'tsplane: reloaded' && ts.lines.indexOf(l) >= mark);
    const statuses = (await Promise.all(during)).map((r) => r.status);
    expect(statuses.every((st) => st === 'NOERROR' || st === 'NXDOMAIN')).toBe(true);
    const inPlace = ts.lines.slice(mark).find((l) => l.msg === 'dns: reloaded in place');
    expect(inPlace?.['cacheFlushed']).toBe(true);
    expect(ts.lines.slice(mark).some((l) => String(l.msg).includes('restarting the forwarder'))).toBe(false);
    expect((await dig(ports.dnsPort, ['printer.home.lan', 'A'])).answers.map((a) => a.data)).toEqual(['192.0.2.66']);
    expect((await dig(ports.dnsPort, ['nas.vpn.lan', 'A'])).answers.map((a) => a.data)).toEqual(['10.0.0.99']);
  }, 30_000);

  it('SIGHUP re-reads the DERP verify-clients allow-list', async () => {
    expect(await admitted(kc)).toBe(false);
    allow(ka, kb, kc);
    const mark = ts.lines.length;
    ts.proc.kill('SIGHUP');
    await ts.waitFor((l) => l.msg === 'verify-clients: allow-list loaded' && ts.lines.indexOf(l) >= mark);
    expect(await admitted(kc)).toBe(true);
  }, 30_000);

  it('SIGTERM: DERP clients are told `restarting`, the process exits 0', async () => {
    const c = clients[1]!;
    const restarting = new Promise<boolean>((resolve) => {
      c.onMessage((m) => {
        if (m.type === 'restarting') resolve(true);
      });
      setTimeout(() => resolve(false), 10_000);
    });
    const code = await ts.stop('SIGTERM');
    expect(await restarting).toBe(true);
    expect(code).toBe(0);
    expect(ts.lines.some((l) => l.msg === 'tsplane: stopped')).toBe(true);
  });
});
