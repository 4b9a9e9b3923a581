/**
 * `Endpoint = host:port` in `tsplane run`: the name is resolved with the system resolver
 * (getaddrinfo, so /etc/hosts counts), a lookup that fails is retried, and the answer becomes the
 * peer's endpoint. `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts, so the
 * test gives tsplane's namespace its own hosts file and edits it; no query leaves the host.
 *
 *   ns A: veth 10.86.0.1/24   tsplane wg 10.87.0.1/24, peer endpoint peer-b.test:51820
 *   ns B: veth 10.86.0.2/24   wireguard-go 10.87.0.2/24, no endpoint for A (only A can start)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from '../support/netns.js';
import { missing } from '../support/prereq.js';
import { genKeyPair, type KeyPair } from '../support/tsplane-wg.js';
import { startTsplane, type RunningTsplane } from './run-support.js';

const skip = missing('root', 'netns', 'tun', { command: 'wireguard-go' }, { command: 'wg' }, { command: 'ping' }).length > 0;

describe.skipIf(skip)('tsplane run: a peer endpoint given as a host name', () => {
  const h = new Netns('rhn');
  let nsA: string;
  let nsB: string;
  let ifA: string;
  let ifB: string;
  let keyA: KeyPair;
  let keyB: KeyPair;
  let hostsFile: string;
  let ts: RunningTsplane;

  const pingFromA = async (to: string): Promise<boolean> => {
    const r = await h.exec(nsA, 'ping', ['-c', '1', '-W', '1', to], { timeoutMs: 10_000 });
    return /1 received/.test(r.stdout);
  };

  beforeAll(async () => {
    nsA = h.add('a');
    nsB = h.add('b');
    ifA = h.ifname('a');
    ifB = h.ifname('b');
    h.veth({ ns: nsA, ifname: 'vrhn-a', addrs: ['10.86.0.1/24'] }, { ns: nsB, ifname: 'vrhn-b', addrs: ['10.86.0.2/24'] });
    keyA = genKeyPair();
    keyB = genKeyPair();
    const dir = mkdtempSync(join(tmpdir(), `tsp-rhn-${process.pid}-`));
    h.removeLater(dir);
    // Namespace A's own /etc/hosts, without the peer's name for now.
    const etc = join('/etc/netns', nsA);
    mkdirSync(etc, { recursive: true });
    h.removeLater(etc);
    hostsFile = join(etc, 'hosts');
    writeFileSync(hostsFile, '127.0.0.1 localhost\n');
    const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
    const started = await h.exec(nsB, 'wireguard-go', [ifB], { env, timeoutMs: 30_000 });
    if (started.code !== 0) throw new Error(`wireguard-go: ${started.stderr}`);
    writeFileSync(join(dir, 'b.key'), keyB.privateKey, { mode: 0o600 });
    await h.run(nsB, 'wg', ['set', ifB, 'private-key', join(dir, 'b.key'), 'listen-port', '51820', 'peer', keyA.publicKey, 'allowed-ips', '10.87.0.1/32']);
    await h.run(nsB, 'ip', ['addr', 'add', '10.87.0.2/24', 'dev', ifB]);
    await h.run(nsB, 'ip', ['link', 'set', ifB, 'up']);
    const cfg = join(dir, 'tsplane.yaml');
    writeFileSync(cfg, `wireguard:
  interfaces:
    - name: ${ifA}
      private_key: ${keyA.privateKey}
      listen_port: 51820
      address: 10.87.0.1/24
      peers:
        - public_key: ${keyB.publicKey}
          endpoint: peer-b.test:51820
          allowed_ips: 10.87.0.2/32
log: { level: info, format: json }
`, { mode: 0o600 });
    ts = await startTsplane(['run', cfg], { netns: nsA, readyTimeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await ts?.stop('SIGKILL');
    await h.cleanup();
  }, 30_000);

  it('keeps running while the name does not resolve, and says so', async () => {
    const warn = await ts.waitFor((l) => /endpoint host name did not resolve/.test(String(l.msg)), 10_000);
    expect(warn['host']).toBe('peer-b.test');
    expect(await pingFromA('10.87.0.2')).toBe(false);
  }, 20_000);

  it('uses the address once the name resolves, and the tunnel comes up', async () => {
    writeFileSync(hostsFile, '127.0.0.1 localhost\n10.86.0.2 peer-b.test\n');
    const ok = await ts.waitFor((l) => /endpoint host name resolved/.test(String(l.msg)), 40_000);
    expect(ok['endpoint']).toBe('10.86.0.2:51820');
    const endpoints = await h.run(nsA, 'wg', ['show', ifA, 'endpoints']);
    expect(endpoints).toContain(`${keyB.publicKey}\t10.86.0.2:51820`);
    expect(await waitFor(() => pingFromA('10.87.0.2'), 15_000, 0)).toBe(true);
  }, 60_000);
});
