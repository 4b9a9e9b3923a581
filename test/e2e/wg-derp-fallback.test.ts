/**
 * tsplane-wg falls back to a DERP relay when direct UDP between two peers fails, and goes back
 * to direct UDP once it works again (src/wireguard/path.ts, src/wireguard/io/derp-relay.ts).
 *
 *   ns A: veth 10.91.1.2/24 ─── 10.91.1.1/24 ns R 10.91.2.1/24 ─── veth 10.91.2.2/24 :ns B
 *         wg 10.92.0.1/24        tsplane derp on 10.91.1.1:3340        wg 10.92.0.2/24
 *
 * A and B reach each other only through R's forwarding, which starts off: the direct path is
 * blocked while both still reach the relay (a local address of R). Turning forwarding on opens
 * the direct path. The relay's /metrics counter of packets received from clients shows which
 * path the tunnel uses.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { Netns, waitFor } from '../support/netns.js';
import { genKeyPair, installWrapper, ROOT, type KeyPair } from '../support/tsplane-wg.js';
import { mkdtempSync, writeFileSync } from 'node:fs';

const WG_PORT = 51820;
const RELAY = '10.91.1.1:3340';

interface Node {
  readonly ns: string;
  readonly ifname: string;
  readonly outer: string;
  readonly inner: string;
  readonly key: KeyPair;
}

describe.skipIf(missing('netns', { command: 'wg' }, { command: 'ping' }, { command: 'curl' }).length > 0)('tsplane-wg DERP fallback', () => {
  const h = new Netns('wgd');
  let a: Node;
  let b: Node;
  let r = '';

  /** The relay's count of packets received from clients (every relayed WireGuard datagram). */
  async function relayPackets(): Promise<number> {
    const text = await h.run(r, 'curl', ['-s', '--max-time', '5', `http://${RELAY}/metrics`]);
    const m = /^tsplane_derp_packets_received_total (\d+)/m.exec(text);
    if (!m) throw new Error('relay metrics lack tsplane_derp_packets_received_total');
    return Number(m[1]);
  }

  async function ping(from: Node, to: string, count: number): Promise<number> {
    const res = await h.exec(from.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to], { timeoutMs: 20_000 + count * 500 });
    const m = /(\d+) received/.exec(res.stdout);
    return m ? Number(m[1]) : 0;
  }

  beforeAll(async () => {
    const binDir = installWrapper(h);
    const keyDir = mkdtempSync('/tmp/tsp-wgd-keys-');
    h.removeLater(keyDir);
    r = h.add('r');
    const mk = (side: 'a' | 'b', net: number): Node => ({ ns: h.add(side), ifname: h.ifname(side), outer: `10.91.${net}.2`, inner: `10.92.0.${net}`, key: genKeyPair() });
    a = mk('a', 1);
    b = mk('b', 2);
    h.veth({ ns: a.ns, ifname: 'va', addrs: [`${a.outer}/24`] }, { ns: r, ifname: 'ra', addrs: ['10.91.1.1/24'] });
    h.veth({ ns: b.ns, ifname: 'vb', addrs: [`${b.outer}/24`] }, { ns: r, ifname: 'rb', addrs: ['10.91.2.1/24'] });
    await h.run(a.ns, 'ip', ['route', 'add', '10.91.2.0/24', 'via', '10.91.1.1']);
    await h.run(b.ns, 'ip', ['route', 'add', '10.91.1.0/24', 'via', '10.91.2.1']);
    await h.run(r, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);

    const relay = h.spawn(r, process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/tsplane.ts'), 'derp', '--listen', RELAY, '--no-stun', '--log-level', 'warn']);
    relay.stdout?.resume();
    relay.stderr?.resume();
    expect(await waitFor(async () => (await h.exec(r, 'curl', ['-s', '-o', '/dev/null', '--max-time', '2', `http://${RELAY}/derp/probe`])).code === 0, 30_000, 250)).toBe(true);

    const env = { ...process.env, TSPLANE_DERP_URL: `http://${RELAY}/derp` };
    for (const [me, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const started = await h.exec(me.ns, join(binDir, 'tsplane-wg'), [me.ifname], { env, timeoutMs: 30_000 });
      if (started.code !== 0) throw new Error(`tsplane-wg ${me.ifname}: ${started.stderr}`);
      const keyFile = join(keyDir, `${me.ifname}.key`);
      writeFileSync(keyFile, me.key.privateKey, { mode: 0o600 });
      await h.run(me.ns, 'wg', ['set', me.ifname, 'private-key', keyFile, 'listen-port', String(WG_PORT), 'peer', peer.key.publicKey, 'endpoint', `${peer.outer}:${WG_PORT}`, 'allowed-ips', `${peer.inner}/32`]);
      await h.run(me.ns, 'ip', ['addr', 'add', `${me.inner}/24`, 'dev', me.ifname]);
      await h.run(me.ns, 'ip', ['link', 'set', me.ifname, 'up']);
    }
  }, 90_000);
  afterAll(() => h.cleanup());

  it('carries pings both ways through the relay while direct UDP is blocked', async () => {
    expect(await ping(a, b.outer, 2)).toBe(0); // the direct path really is blocked
    const before = await relayPackets();
    // Fallback needs two unanswered direct initiations (2 x REKEY_TIMEOUT = 10 s, plus jitter).
    let up = false;
    for (let i = 0; i < 15 && !up; i++) up = (await ping(a, b.inner, 1)) === 1;
    expect(up).toBe(true);
    expect(await ping(a, b.inner, 5)).toBe(5);
    expect(await ping(b, a.inner, 5)).toBe(5);
    const after = await relayPackets();
    expect(after - before).toBeGreaterThanOrEqual(20); // 10 echo requests and 10 replies at least
    expect(await ping(a, b.outer, 1)).toBe(0);
    // UAPI still shows the direct endpoint, not the relay.
    const dump = (await h.run(a.ns, 'wg', ['show', a.ifname, 'endpoints'])).trim();
    expect(dump).toBe(`${b.key.publicKey}\t${b.outer}:${WG_PORT}`);
  }, 120_000);

  it('moves back to direct UDP once it works again: pings continue and the relay goes quiet', async () => {
    await h.run(r, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    expect(await ping(a, b.outer, 2)).toBe(2);
    // The relayed peers probe the direct path every DIRECT_PROBE_INTERVAL (10 s) while traffic flows.
    let direct = false;
    for (let i = 0; i < 12 && !direct; i++) {
      const r0 = await relayPackets();
      const got = (await ping(a, b.inner, 5)) + (await ping(b, a.inner, 5));
      const r1 = await relayPackets();
      expect(got).toBeGreaterThanOrEqual(9); // pings continue across the switch
      direct = r1 === r0;
    }
    expect(direct).toBe(true);
    const r0 = await relayPackets();
    expect(await ping(a, b.inner, 10)).toBe(10);
    expect(await ping(b, a.inner, 10)).toBe(10);
    expect(await relayPackets()).toBe(r0);
  }, 180_000);
});
