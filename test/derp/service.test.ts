/**
 * The relay service as `tsplane derp` runs it: key file, STUN responder, mesh wiring through
 * `--mesh-with`, DERP map JSON, allow-list and key-file parsing. Loopback only, port 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameType } from '../../src/derp/frame.js';
import { decodeRecvPacket, generateNodePrivateKey } from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { loadOrCreateKeyFile } from '../../src/derp/io/key-file.js';
import { formatKeyFile, parseKeyFile } from '../../src/derp/key-file.js';
import { parseAllowList } from '../../src/derp/allow-list.js';
import { buildDerpMap, formatDerpMapYaml } from '../../src/derp/derp-map.js';
import { parse as parseYaml } from 'yaml';
import { createBindingRequest, STUN_BINDING_SUCCESS } from '../../src/derp/stun.js';
import { parseHostPort } from '../../src/cli/derp.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { createRegistry } from '../../src/runtime/metrics.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { TsplaneError } from '../../src/runtime/errors.js';
import { StreamDerpClient } from './support/stream-client.js';
import { missing } from '../support/prereq.js';

const rng = new SystemRng();
const deps = () => ({ clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }), registry: createRegistry() });
const dir = mkdtempSync(join(tmpdir(), 'tsp-derps-'));
const running: RunningDerpServer[] = [];
const clients: StreamDerpClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of running) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('key file', () => {
  it('is created with mode 0600 in derper\'s JSON format and read back unchanged', () => {
    const path = join(dir, 'sub', 'derper.key');
    const a = loadOrCreateKeyFile(path, rng);
    expect(a.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const b = loadOrCreateKeyFile(path, rng);
    expect(b.created).toBe(false);
    expect(toHex(b.privateKey)).toBe(toHex(a.privateKey));
    expect(formatKeyFile(a.privateKey)).toMatch(/^\{\n\t"PrivateKey": "privkey:[0-9a-f]{64}"\n\}\n$/);
  });
  it('refuses a malformed file with DERP_ERR_KEY_FILE', () => {
    const path = join(dir, 'bad.key');
    writeFileSync(path, '{"PrivateKey":"nodekey:00"}');
    expect(() => loadOrCreateKeyFile(path, rng)).toThrowError(TsplaneError);
    try {
      loadOrCreateKeyFile(path, rng);
    } catch (e) {
      expect((e as TsplaneError).code).toBe('DERP_ERR_KEY_FILE');
    }
  });
  it.each([
    ['not JSON', 'privkey:00', false],
    ['an array', '[]', false],
    ['a lowercase field name', `{"privatekey":"privkey:${'11'.repeat(32)}"}`, true],
    ['extra fields', `{"PrivateKey":"privkey:${'11'.repeat(32)}","Other":1}`, true],
  ])('parses a key file with %s', (_n, text, ok) => {
    expect(parseKeyFile(text).ok).toBe(ok);
  });
});

describe('allow-list parsing', () => {
  const k1 = `nodekey:${'ab'.repeat(32)}`;
  const k2 = `nodekey:${'cd'.repeat(32)}`;
  it('reads one key per line with comments and blank lines, and reports bad lines', () => {
    const l = parseAllowList(`# nodes\n${k1}\n\n  ${k2}  # laptop\nnodekey:zz\n`);
    expect([...l.keys].sort()).toEqual(['ab'.repeat(32), 'cd'.repeat(32)]);
    expect(l.badLines).toEqual([5]);
  });
  it('reads a JSON array', () => {
    expect(parseAllowList(JSON.stringify([k1, 'x'])).keys.size).toBe(1);
    expect(parseAllowList('[').badLines).toEqual([1]);
  });
});

describe('DERP map', () => {
  it('builds one region with one node, Go field names, omitting zero ports', () => {
    const r = buildDerpMap({ regionId: 999, regionCode: 'home', hostName: 'derp.example.com', stunPort: 3478, ipv6: 'none' });
    expect(r).toEqual({ ok: true, map: { Regions: { 999: {
      RegionID: 999, RegionCode: 'home', RegionName: 'home',
      Nodes: [{ Name: '999a', RegionID: 999, HostName: 'derp.example.com', IPv6: 'none', STUNPort: 3478 }],
    } } } });
    expect(buildDerpMap({ regionId: 900, regionCode: 'x', hostName: 'h', stunPort: -1, derpPort: 443, omitDefaultRegions: true }).ok).toBe(true);
  });
  it('writes YAML for Headscale derp.paths: lower-case Go field names, integer region keys', () => {
    const r = buildDerpMap({ regionId: 999, regionCode: 'home', regionName: 'Home: "lab"', hostName: 'derp.example.com', stunPort: 3478, derpPort: 8443, ipv4: '192.0.2.1', omitDefaultRegions: true });
    if (!r.ok) throw new Error(r.problem);
    const text = formatDerpMapYaml(r.map);
    expect(text).toMatch(/^regions:\n {2}999:\n/m);
    const back = parseYaml(text) as { omitdefaultregions: boolean; regions: Record<string, Record<string, unknown>> };
    expect(back.omitdefaultregions).toBe(true);
    expect(back.regions['999']).toEqual({
      regionid: 999, regioncode: 'home', regionname: 'Home: "lab"',
      nodes: [{ name: '999a', regionid: 999, hostname: 'derp.example.com', ipv4: '192.0.2.1', stunport: 3478, derpport: 8443 }],
    });
  });
  it.each([
    ['no region id', { regionCode: 'x', hostName: 'h' }],
    ['region id 0', { regionId: 0, regionCode: 'x', hostName: 'h' }],
    ['no code', { regionId: 999, hostName: 'h' }],
    ['no hostname', { regionId: 999, regionCode: 'x' }],
    ['a bad port', { regionId: 999, regionCode: 'x', hostName: 'h', derpPort: 70000 }],
  ])('refuses %s', (_n, o) => {
    expect(buildDerpMap(o).ok).toBe(false);
  });
  it('parses HOST:PORT and [V6]:PORT', () => {
    expect(parseHostPort('127.0.0.1:3340')).toEqual({ host: '127.0.0.1', port: 3340 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort('::1:80')).toBeUndefined();
    expect(parseHostPort('h:99999')).toBeUndefined();
  });
});

describe('service with STUN and mesh', () => {
  it('answers a tailnode STUN binding request on the STUN port', async () => {
    const srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), stun: { host: '127.0.0.1', port: 0 } }, deps());
    running.push(srv);
    const sock = createSocket('udp4');
    const txid = rng.fill(new Uint8Array(12));
    const reply = await new Promise<Buffer>((resolve, reject) => {
      sock.once('message', (m) => resolve(m));
      setTimeout(() => reject(new Error('no STUN reply')), 3000).unref();
      sock.send(createBindingRequest(txid), srv.stun!.address().port, '127.0.0.1');
    });
    sock.close();
    expect(reply.readUInt16BE(0)).toBe(STUN_BINDING_SUCCESS);
    expect(toHex(reply.subarray(8, 20))).toBe(toHex(txid));
    // The success counter moves in the send callback, which may run just after the reply lands.
    let m = '';
    for (let i = 0; i < 50 && !/disposition="success"\} 1$/m.test(m); i++) {
      m = await (await fetch(`${srv.url}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(m).toMatch(/^tsplane_stun_requests_total\{disposition="success"\} 1$/m);
  });

  it('forwards through a --mesh-with sibling: a client of relay 2 reaches a client of relay 1', async () => {
    const meshKey = new Uint8Array(32).fill(0x42);
    const r1 = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), meshKey }, deps());
    running.push(r1);
    const r2 = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), meshKey, meshWith: [`${r1.url}/derp`] }, deps());
    running.push(r2);
    const a = await StreamDerpClient.connect(r1.url);
    const b = await StreamDerpClient.connect(r2.url);
    clients.push(a, b);
    const deadline = Date.now() + 10_000;
    while (!r2.core.gauges().clientsRemote && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(r2.core.gauges().clientsRemote).toBeGreaterThanOrEqual(1);
    b.sendPacket(a.pub, Uint8Array.of(0xca, 0xfe));
    const f = await a.nextOfType(FrameType.RecvPacket);
    const p = decodeRecvPacket(f.payload);
    expect(p.ok && [toHex(p.src), toHex(p.packet)]).toEqual([toHex(b.pub), 'cafe']);
    expect(r2.core.stats.packetsForwardedOut).toBe(1n);
    expect(r1.core.stats.packetsForwardedIn).toBe(1n);
  });

  it.skipIf(missing({ command: 'openssl' }).length > 0)('meshes over TLS with --mesh-ca-file trust, meta certificate in the chain', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'tsp-derps-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
    const tls = { cert: readFileSync(join(certDir, 'cert.pem')), key: readFileSync(join(certDir, 'key.pem')) };
    rmSync(certDir, { recursive: true, force: true });
    const meshKey = new Uint8Array(32).fill(0x43);
    const r1 = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), meshKey, tls }, deps());
    running.push(r1);
    const r2 = await startDerpServer({
      listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), meshKey, tls,
      meshWith: [`${r1.url}/derp`], meshTls: { ca: tls.cert, serverName: 'localhost' },
    }, deps());
    running.push(r2);
    const a = await StreamDerpClient.connect(r1.url, { ca: tls.cert });
    const b = await StreamDerpClient.connect(r2.url, { ca: tls.cert, transport: 'websocket' });
    clients.push(a, b);
    const deadline = Date.now() + 10_000;
    while (!r2.core.gauges().clientsRemote && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    b.sendPacket(a.pub, Uint8Array.of(0xbe, 0xef));
    const p = decodeRecvPacket((await a.nextOfType(FrameType.RecvPacket)).payload);
    expect(p.ok && [toHex(p.src), toHex(p.packet)]).toEqual([toHex(b.pub), 'beef']);
  });

  it('serves /generate_204 (and nothing else) on the plain-HTTP captive-portal port', async () => {
    const srv = await startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), captivePortalListen: { host: '127.0.0.1', port: 0 } }, deps());
    running.push(srv);
    const base = `http://127.0.0.1:${srv.captivePortalAddress!.port}`;
    const r = await fetch(`${base}/generate_204`, { headers: { 'X-Tailscale-Challenge': 'abc' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('x-tailscale-response')).toBe('response abc');
    expect((await fetch(`${base}/derp/probe`)).status).toBe(404);
  });

  it('refuses --mesh-with without a mesh key', async () => {
    await expect(startDerpServer({ listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), meshWith: ['http://127.0.0.1:1/derp'] }, deps())).rejects.toThrow(/mesh key/);
  });
});
