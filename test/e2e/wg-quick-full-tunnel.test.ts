/**
 * wg-quick full tunnel (AllowedIPs = 0.0.0.0/0, ::/0) with tsplane-wg as the userspace
 * implementation: wg-quick sets an fwmark (51820) and policy-routes everything unmarked into the
 * tunnel, so the daemon's own UDP must carry SO_MARK or it would loop into itself
 * (wireguard.md §2.3). The far side is wireguard-go with a "remote" address on its
 * loopback that A can reach only through the tunnel.
 *
 * WGIO_FULL_TUNNEL_IMPL overrides the implementation under test (wireguard-go as a control).
 * Firewall rules on B use nft when installed, else iptables/ip6tables (.ci/run installs iptables).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { missing, type Prerequisite } from '../support/prereq.js';
import { Netns, processGone, waitFor } from '../support/netns.js';
import { daemonPid, genKeyPair, installWrapper } from '../support/tsplane-wg.js';

const IMPL = process.env.WGIO_FULL_TUNNEL_IMPL ?? 'tsplane-wg';
const PORT = 51820;

/** B's "drop un-tunnelled pings" rules: nft where it is installed, iptables otherwise (wg-quick uses either). */
const HAVE_NFT = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v nft'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const FIREWALL: Prerequisite[] = HAVE_NFT ? [] : [{ command: 'iptables' }, { command: 'ip6tables' }];

describe.skipIf(missing('netns', { command: 'wg' }, { command: 'wg-quick' }, { command: 'wireguard-go' }, ...FIREWALL).length > 0)(
  `wg-quick full tunnel with ${IMPL}`,
  () => {
    const h = new Netns('wgio');
    let nsA = '';
    let nsB = '';
    let ifA = '';
    let ifB = '';
    let conf = '';
    let env: NodeJS.ProcessEnv = {};
    const a = genKeyPair();
    const b = genKeyPair();

    beforeAll(async () => {
      const binDir = installWrapper(h);
      env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, WG_QUICK_USERSPACE_IMPLEMENTATION: IMPL, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };
      nsA = h.add('fta');
      nsB = h.add('ftb');
      ifA = h.ifname('fa');
      ifB = h.ifname('fb');
      h.veth({ ns: nsA, ifname: 'vfa', addrs: ['10.66.30.1/24', 'fd66:30::1/64'] }, { ns: nsB, ifname: 'vfb', addrs: ['10.66.30.2/24', 'fd66:30::2/64'] });
      // A reaches B's endpoint (10.67.0.2, on B's loopback) only through its default route via B.
      // That matters: wg-quick's `suppress_prefixlength 0` rule lets a more specific main-table
      // route win, so only an endpoint behind the default route depends on the fwmark.
      await h.run(nsA, 'ip', ['route', 'add', 'default', 'via', '10.66.30.2']);
      await h.run(nsB, 'ip', ['addr', 'add', '10.67.0.2/32', 'dev', 'lo']);
      // B: wireguard-go plus a "remote" address (on B's loopback), reachable only through the tunnel.
      await h.run(nsB, 'ip', ['addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
      await h.run(nsB, 'ip', ['addr', 'add', 'fd99::1/128', 'dev', 'lo']);
      // B drops anything from the veth that is not WireGuard, so a ping that skipped the tunnel fails.
      if (HAVE_NFT) {
        await h.run(nsB, 'nft', ['-f', '-'], {
          input: [
            'table inet tspwgio {',
            '  chain in {',
            '    type filter hook input priority 0;',
            `    iifname "vfb" udp dport ${PORT} accept`,
            '    iifname "vfb" ip protocol icmp drop',
            '    iifname "vfb" icmpv6 type echo-request drop',
            '  }',
            '}',
            '',
          ].join('\n'),
        });
      } else {
        await h.run(nsB, 'iptables', ['-A', 'INPUT', '-i', 'vfb', '-p', 'icmp', '-j', 'DROP']);
        await h.run(nsB, 'ip6tables', ['-A', 'INPUT', '-i', 'vfb', '-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request', '-j', 'DROP']);
      }
      const rb = await h.exec(nsB, 'wireguard-go', [ifB], { env });
      expect(rb.code, rb.stderr).toBe(0);
      const dir = mkdtempSync('/tmp/tsp-wgio-ft-');
      h.removeLater(dir);
      writeFileSync(join(dir, 'b.key'), b.privateKey);
      await h.run(nsB, 'wg', ['set', ifB, 'private-key', join(dir, 'b.key'), 'listen-port', String(PORT), 'peer', a.publicKey, 'allowed-ips', '10.78.0.1/32,fd78::1/128']);
      await h.run(nsB, 'ip', ['addr', 'add', '10.78.0.2/24', 'dev', ifB]);
      await h.run(nsB, 'ip', ['addr', 'add', 'fd78::2/64', 'dev', ifB, 'nodad']);
      await h.run(nsB, 'ip', ['link', 'set', ifB, 'up']);
      await h.run(nsB, 'ip', ['route', 'add', '10.78.0.1/32', 'dev', ifB]);
      conf = join(dir, `${ifA}.conf`);
      writeFileSync(
        conf,
        `[Interface]\nPrivateKey = ${a.privateKey}\nAddress = 10.78.0.1/24, fd78::1/64\n\n` +
          `[Peer]\nPublicKey = ${b.publicKey}\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 10.67.0.2:${PORT}\n`,
        { mode: 0o600 },
      );
    }, 60_000);
    afterAll(() => h.cleanup());

    it('comes up under wg-quick with the fwmark set on the interface', async () => {
      const r = await h.exec(nsA, 'wg-quick', ['up', conf], { env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect((await h.run(nsA, 'wg', ['show', ifA, 'fwmark'])).trim()).toBe('0xca6c');
      expect(await h.run(nsA, 'ip', ['rule', 'show'])).toMatch(/not from all fwmark 0xca6c lookup 51820/);
    }, 70_000);

    it('reaches a remote address only through the tunnel, over IPv4 and IPv6, without looping', async () => {
      const v4 = await h.exec(nsA, 'ping', ['-c', '3', '-i', '0.3', '-W', '3', '10.99.0.1'], { timeoutMs: 30_000 });
      expect(v4.stdout).toMatch(/3 received/);
      const v6 = await h.exec(nsA, 'ping', ['-6', '-c', '3', '-i', '0.3', '-W', '3', 'fd99::1'], { timeoutMs: 30_000 });
      expect(v6.stdout).toMatch(/3 received/);
      const dump = (await h.run(nsA, 'wg', ['show', ifA, 'dump'])).trim().split('\n')[1]!.split('\t');
      // A handful of pings is a few kB; a routing loop would have pushed far more through the tunnel.
      expect(BigInt(dump[6]!)).toBeLessThan(64_000n);
      expect(Number(dump[4])).toBeGreaterThan(0);
    }, 60_000);

    it('goes down under wg-quick: rules removed, daemon gone', async () => {
      const pid = daemonPid(h, nsA, IMPL, ifA);
      const r = await h.exec(nsA, 'wg-quick', ['down', conf], { env, timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(await h.run(nsA, 'ip', ['rule', 'show'])).not.toMatch(/51820/);
      if (pid !== undefined) expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    }, 40_000);
  },
);
