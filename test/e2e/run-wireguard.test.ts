/**
 * `tsplane run` with all three services and a real WireGuard peer: tsplane runs in namespace A
 * (a WireGuard interface from a wg-quick file, DERP + STUN, DNS on loopback and on its tunnel
 * address, the admin listener); wireguard-go runs in namespace B across a veth pair.
 *
 *   ns A: veth 10.88.0.1/24   tsplane wg 10.89.0.1/24   DNS 127.0.0.1:5353 and 10.89.0.1:53
 *   ns B: veth 10.88.0.2/24   wireguard-go 10.89.0.2/24
 *
 * Checks: ping through the tunnel both ways, `wg show` through tsplane's UAPI socket, MagicDNS
 * names asked through the tunnel, DERP relaying (tsplane derp check), one /metrics with all
 * three services, SIGHUP adding a peer without a new handshake for the existing one, SIGTERM
 * removing the TUN interface and the UAPI socket and exiting 0.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from '../support/netns.js';
import { missing } from '../support/prereq.js';
import { genKeyPair, type KeyPair } from '../support/tsplane-wg.js';
import { REPO_ROOT, startTsplane, type RunningTsplane } from './run-support.js';

const skip = missing('root', 'netns', 'tun', { command: 'wireguard-go' }, { command: 'wg' }, { command: 'dig' }, { command: 'ping' }).length > 0;

describe.skipIf(skip)('tsplane run: WireGuard + DERP + DNS in one process, with a wireguard-go peer', () => {
  const h = new Netns('run');
  let nsA: string;
  let nsB: string;
  let ifA: string;
  let ifB: string;
  let keyA: KeyPair;
  let keyB: KeyPair;
  let dir: string;
  let cfg: string;
  let ts: RunningTsplane;

  const confText = (extraPeer = ''): string => `[Interface]
PrivateKey = ${keyA.privateKey}
ListenPort = 51820
Address = 10.89.0.1/24
MTU = 1420

[Peer]
# Name = peer-b
PublicKey = ${keyB.publicKey}
AllowedIPs = 10.89.0.2/32
Endpoint = 10.88.0.2:51820
${extraPeer}`;

  const yaml = `wireguard:
  magic_dns: { suffix: wg.lan, ttl: 30s }
  interfaces:
    - name: IFNAME
      config_file: a.conf
derp:
  listen: 127.0.0.1:3340
  stun_listen: 127.0.0.1:3478
dns:
  listen: [127.0.0.1:5353, 10.89.0.1:53]
  upstreams:
    public: { servers: [127.0.0.1:5301], timeout: 1s }
  local:
    records:
      - { name: nas.vpn.lan, type: A, value: 10.89.0.50 }
metrics:
  listen: 127.0.0.1:9090
log: { level: info, format: json }
stop_timeout: 5s
`;

  const digB = async (name: string): Promise<string> => (await h.run(nsB, 'dig', ['@10.89.0.1', '-p', '53', '+short', '+time=2', '+tries=2', name, 'A'])).trim();
  const pingFrom = async (ns: string, to: string, count = 1): Promise<number> => {
    const r = await h.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to], { timeoutMs: 20_000 });
    return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  };
  const fetchInA = async (url: string): Promise<string> =>
    h.run(nsA, process.execPath, ['-e', `fetch(${JSON.stringify(url)}).then(async (r) => { process.stdout.write(r.status + '\\n' + await r.text()); })`]);
  const dumpA = async (): Promise<{ publicKey: string; latestHandshake: number }[]> =>
    (await h.run(nsA, 'wg', ['show', ifA, 'dump'])).trim().split('\n').slice(1).map((r) => {
      const f = r.split('\t');
      return { publicKey: f[0]!, latestHandshake: Number(f[4]) };
    });

  beforeAll(async () => {
    nsA = h.add('a');
    nsB = h.add('b');
    ifA = h.ifname('a');
    ifB = h.ifname('b');
    h.veth({ ns: nsA, ifname: 'vrun-a', addrs: ['10.88.0.1/24'] }, { ns: nsB, ifname: 'vrun-b', addrs: ['10.88.0.2/24'] });
    keyA = genKeyPair();
    keyB = genKeyPair();
    dir = mkdtempSync(join(tmpdir(), `tsp-run-wg-${process.pid}-`));
    h.removeLater(dir);
    // Peer B: wireguard-go configured with the stock wg.
    const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
    const started = await h.exec(nsB, 'wireguard-go', [ifB], { env, timeoutMs: 30_000 });
    if (started.code !== 0) throw new Error(`wireguard-go: ${started.stderr}`);
    writeFileSync(join(dir, 'b.key'), keyB.privateKey, { mode: 0o600 });
    await h.run(nsB, 'wg', ['set', ifB, 'private-key', join(dir, 'b.key'), 'listen-port', '51820',
      'peer', keyA.publicKey, 'allowed-ips', '10.89.0.1/32', 'endpoint', '10.88.0.1:51820']);
    await h.run(nsB, 'ip', ['addr', 'add', '10.89.0.2/24', 'dev', ifB]);
    await h.run(nsB, 'ip', ['link', 'set', ifB, 'up']);
    // tsplane in A.
    writeFileSync(join(dir, 'a.conf'), confText(), { mode: 0o600 });
    cfg = join(dir, 'tsplane.yaml');
    writeFileSync(cfg, yaml.replace('IFNAME', ifA));
    ts = await startTsplane(['run', cfg], { netns: nsA, readyTimeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await ts?.stop('SIGKILL');
    await h.cleanup();
  }, 30_000);

  it('pings through the tunnel both ways', async () => {
    expect(await waitFor(async () => (await pingFrom(nsB, '10.89.0.1')) === 1, 15_000, 0)).toBe(true);
    expect(await pingFrom(nsA, '10.89.0.2', 3)).toBe(3);
  }, 40_000);

  it('answers wg show through its UAPI socket', async () => {
    const peers = await dumpA();
    expect(peers.map((p) => p.publicKey)).toEqual([keyB.publicKey]);
    expect(peers[0]!.latestHandshake).toBeGreaterThan(0);
  });

  it('answers MagicDNS names and local records to the peer, through the tunnel', async () => {
    expect(await digB('peer-b.wg.lan')).toBe('10.89.0.2');
    expect(await digB('nas.vpn.lan')).toBe('10.89.0.50');
    const nx = await h.run(nsB, 'dig', ['@10.89.0.1', '-p', '53', '+time=2', 'nobody.wg.lan', 'A']);
    expect(nx).toMatch(/status: NXDOMAIN/);
  }, 30_000);

  it('relays DERP packets (tsplane derp check against the same process)', async () => {
    const r = await h.exec(nsA, process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/tsplane.ts'), 'derp', 'check', 'http://127.0.0.1:3340/derp', '--count', '5'], { timeoutMs: 40_000, cwd: REPO_ROOT });
    expect(r.stdout).toMatch(/\b0 failed/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('serves one /metrics with WireGuard, DERP and DNS series, and /healthz per service', async () => {
    const text = await fetchInA('http://127.0.0.1:9090/metrics');
    expect(text.startsWith('200\n')).toBe(true);
    expect(text).toMatch(new RegExp(`^tsplane_wireguard_packets_total\\{interface="${ifA}",path="udp_received"\\} [1-9]`, 'm'));
    expect(text).toMatch(new RegExp(`^tsplane_wireguard_tun_offload_total\\{interface="${ifA}",kind="superpackets_read"\\} \\d+`, 'm'));
    expect(text).toMatch(/^tsplane_derp_\w+/m);
    expect(text).toMatch(/^tsplane_dns_queries_total\{/m);
    expect(text).toMatch(/^tsplane_nodejs_eventloop_lag_p99_seconds /m);
    const health = await fetchInA('http://127.0.0.1:9090/healthz');
    expect(health.split('\n')[0]).toBe('200');
    const body = JSON.parse(health.slice(4)) as { services: Record<string, { healthy: boolean }> };
    expect(Object.keys(body.services).sort()).toEqual(['derp', 'dns', `wireguard:${ifA}`]);
  }, 30_000);

  it('SIGHUP adds a peer (and its MagicDNS name) without a new handshake for the existing one', async () => {
    const before = (await dumpA())[0]!.latestHandshake;
    const ghost = genKeyPair();
    writeFileSync(join(dir, 'a.conf'), confText(`\n[Peer]\n# Name = ghost\nPublicKey = ${ghost.publicKey}\nAllowedIPs = 10.89.0.3/32\n`));
    const mark = ts.lines.length;
    ts.proc.kill('SIGHUP');
    await ts.waitFor((l) => l.msg === 'tsplane: reloaded' && ts.lines.indexOf(l) >= mark, 15_000);
    const peers = await dumpA();
    expect(peers.map((p) => p.publicKey).sort()).toEqual([keyB.publicKey, ghost.publicKey].sort());
    expect(peers.find((p) => p.publicKey === keyB.publicKey)!.latestHandshake).toBe(before);
    expect(await pingFrom(nsB, '10.89.0.1', 2)).toBe(2);
    expect((await dumpA()).find((p) => p.publicKey === keyB.publicKey)!.latestHandshake).toBe(before);
    expect(await digB('ghost.wg.lan')).toBe('10.89.0.3');
  }, 40_000);

  it('SIGHUP removing that peer again leaves the first one and drops the name', async () => {
    const before = (await dumpA()).find((p) => p.publicKey === keyB.publicKey)!.latestHandshake;
    writeFileSync(join(dir, 'a.conf'), confText());
    const mark = ts.lines.length;
    ts.proc.kill('SIGHUP');
    await ts.waitFor((l) => l.msg === 'tsplane: reloaded' && ts.lines.indexOf(l) >= mark, 15_000);
    const peers = await dumpA();
    expect(peers.map((p) => p.publicKey)).toEqual([keyB.publicKey]);
    expect(peers[0]!.latestHandshake).toBe(before);
    expect(await digB('ghost.wg.lan')).toBe('');
    expect(await pingFrom(nsB, '10.89.0.1', 1)).toBe(1);
  }, 40_000);

  it('SIGTERM removes the TUN interface and the UAPI socket and exits 0', async () => {
    const code = await ts.stop('SIGTERM');
    expect(code).toBe(0);
    expect(existsSync(`/var/run/wireguard/${ifA}.sock`)).toBe(false);
    const link = await h.exec(nsA, 'ip', ['link', 'show', ifA]);
    expect(link.code).not.toBe(0);
  }, 30_000);
});
