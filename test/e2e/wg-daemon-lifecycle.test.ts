/**
 * The tsplane-wg daemon driven by the stock tools (wg, wg-quick) in a network namespace: the
 * control plane and the process lifecycle, as wireguard.md §2 describes wireguard-go's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { existsSync, readFileSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { missing } from '../support/prereq.js';
import { Netns, processGone, waitFor } from '../support/netns.js';
import { daemonPid, genKeyPair, genPsk, installWrapper } from '../support/tsplane-wg.js';

const SOCK_DIR = '/var/run/wireguard';

/** Sends raw UAPI text and collects the reply until the server closes or `replies` blank-line-terminated replies arrived. */
function uapiRaw(path: string, text: string, replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(path);
    let got = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve(got);
    }, 5000);
    c.on('connect', () => c.write(text));
    c.on('data', (d) => {
      got += d.toString();
      if (got.split('errno=').length - 1 >= replies && got.endsWith('\n\n')) {
        clearTimeout(timer);
        c.end();
        resolve(got);
      }
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    c.on('error', reject);
  });
}

describe.skipIf(missing('netns', { command: 'wg' }, { command: 'wg-quick' }).length > 0)('tsplane-wg daemon lifecycle', () => {
  const h = new Netns('wgio');
  let ns = '';
  let binDir = '';
  let wrapper = '';
  let ifA = '';
  const wg = (...args: string[]): Promise<string> => h.run(ns, 'wg', args);
  const up = (ifname: string) => h.exec(ns, wrapper, [ifname], { timeoutMs: 30_000 });

  beforeAll(() => {
    ns = h.add('life');
    binDir = installWrapper(h);
    wrapper = join(binDir, 'tsplane-wg');
    ifA = h.ifname('a');
  });
  afterAll(() => h.cleanup());

  it('creates the interface and a mode-0700 control socket before the parent exits 0', async () => {
    const r = await up(ifA);
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(join(SOCK_DIR, `${ifA}.sock`));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    const link = await h.run(ns, 'ip', ['link', 'show', ifA]);
    expect(link).toContain('mtu 1420');
    const pid = daemonPid(h, ns, 'tsplane-wg', ifA);
    expect(pid).toBeGreaterThan(0);
    // The daemon child runs with the small young generation (fewer full GCs, lower RSS).
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=4');
  });

  it('refuses a second daemon on a taken name with a clear message and a non-zero exit', async () => {
    const r = await up(ifA);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already exists|in use/);
  });

  it.skipIf(missing({ command: 'setpriv' }).length > 0)('refuses to start without CAP_NET_ADMIN, saying so', async () => {
    const r = await h.exec(ns, 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', wrapper, h.ifname('n')], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not permitted \(need root or CAP_NET_ADMIN\)/);
  });

  it('answers wg show and wg show dump on a fresh interface (random listen port, no key)', async () => {
    const show = await wg('show', ifA);
    expect(show).toMatch(new RegExp(`interface: ${ifA}\\n\\s+listening port: \\d+`));
    const dump = (await wg('show', ifA, 'dump')).trim().split('\t');
    expect(dump[0]).toBe('(none)');
    expect(Number(dump[2])).toBeGreaterThan(0);
    expect(dump[3]).toBe('off');
  });

  it('applies wg set and shows it back with wg showconf and wg show dump', async () => {
    const me = genKeyPair();
    const p1 = genKeyPair();
    const p2 = genKeyPair();
    const psk = genPsk();
    const dir = mkdtempSync('/tmp/tsp-wgio-keys-');
    h.removeLater(dir);
    writeFileSync(join(dir, 'priv'), me.privateKey);
    writeFileSync(join(dir, 'psk'), psk);
    await wg('set', ifA, 'private-key', join(dir, 'priv'), 'listen-port', '0',
      'peer', p1.publicKey, 'preshared-key', join(dir, 'psk'), 'endpoint', '10.66.0.2:51820', 'allowed-ips', '10.77.0.2/32,fd77::2/128', 'persistent-keepalive', '25',
      'peer', p2.publicKey, 'endpoint', '[fd66::2]:51821', 'allowed-ips', '10.77.1.0/24');
    const conf = await wg('showconf', ifA);
    expect(conf).toContain(`PrivateKey = ${me.privateKey}`);
    expect(conf).toContain(`PublicKey = ${p1.publicKey}`);
    expect(conf).toContain(`PresharedKey = ${psk}`);
    expect(conf).toContain('Endpoint = 10.66.0.2:51820');
    expect(conf).toContain('AllowedIPs = 10.77.0.2/32, fd77::2/128');
    expect(conf).toContain('PersistentKeepalive = 25');
    expect(conf).toContain('Endpoint = [fd66::2]:51821');
    const dump = (await wg('show', ifA, 'dump')).trim().split('\n').map((l) => l.split('\t'));
    expect(dump[0]![0]).toBe(me.privateKey);
    expect(dump[0]![1]).toBe(me.publicKey);
    expect(dump.slice(1).map((d) => d[0]).sort()).toEqual([p1.publicKey, p2.publicKey].sort());
    const row1 = dump.find((d) => d[0] === p1.publicKey)!;
    expect(row1.slice(1, 6)).toEqual([psk, '10.66.0.2:51820', '10.77.0.2/32,fd77::2/128', '0', '0']);
    // A keepalive on a peer with an endpoint makes the core initiate at once (148-byte initiations,
    // unroutable here); nothing can have come back.
    expect(Number(row1[6]) % 148).toBe(0);
    expect(row1[7]).toBe('25');
    // Removing a peer and a key edge: the interface's own public key is never a peer.
    await wg('set', ifA, 'peer', p2.publicKey, 'remove', 'peer', me.publicKey, 'allowed-ips', '10.99.0.0/16');
    const peers = await wg('show', ifA, 'peers');
    expect(peers.trim().split('\n')).toEqual([p1.publicKey]);
  });

  it('replaces with wg setconf, converges with wg syncconf and adds with wg addconf', async () => {
    const me = genKeyPair();
    const a = genKeyPair();
    const b = genKeyPair();
    const dir = mkdtempSync('/tmp/tsp-wgio-conf-');
    h.removeLater(dir);
    const conf = (peers: string) => `[Interface]\nPrivateKey = ${me.privateKey}\nListenPort = 0\n\n${peers}`;
    const peerA = `[Peer]\nPublicKey = ${a.publicKey}\nAllowedIPs = 10.1.0.1/32\nEndpoint = 10.66.0.9:1000\n\n`;
    const peerB = `[Peer]\nPublicKey = ${b.publicKey}\nAllowedIPs = 10.1.0.2/32\n\n`;
    writeFileSync(join(dir, 'a.conf'), conf(peerA));
    writeFileSync(join(dir, 'b.conf'), conf(peerB));
    writeFileSync(join(dir, 'add.conf'), peerA);
    await wg('setconf', ifA, join(dir, 'a.conf'));
    expect((await wg('show', ifA, 'peers')).trim()).toBe(a.publicKey);
    expect(await wg('showconf', ifA)).toContain(`PrivateKey = ${me.privateKey}`);
    await wg('syncconf', ifA, join(dir, 'b.conf'));
    expect((await wg('show', ifA, 'peers')).trim()).toBe(b.publicKey);
    await wg('addconf', ifA, join(dir, 'add.conf'));
    expect((await wg('show', ifA, 'peers')).trim().split('\n').sort()).toEqual([a.publicKey, b.publicKey].sort());
    expect(await wg('show', ifA, 'allowed-ips')).toContain('10.1.0.1/32');
  });

  it('keeps listen-port and fwmark as set, and accepts the fwmark=0 that wg setconf always sends', async () => {
    await wg('set', ifA, 'listen-port', '41999', 'fwmark', '0x1234');
    const dump = (await wg('show', ifA, 'dump')).split('\n')[0]!.split('\t');
    expect(dump[2]).toBe('41999');
    expect(dump[3]).toBe('0x1234');
    await wg('set', ifA, 'fwmark', '0');
    expect((await wg('show', ifA, 'dump')).split('\n')[0]!.split('\t')[3]).toBe('off');
    const udp = await h.run(ns, 'ss', ['-uanp']);
    expect(udp).toMatch(/0\.0\.0\.0:41999/);
    expect(udp).toMatch(/\[::\]:41999/);
  });

  it('answers EADDRINUSE for a taken port and keeps listening where it was', async () => {
    const holder = h.spawn(ns, process.execPath, ['-e', "require('node:dgram').createSocket('udp4').bind(41998, '0.0.0.0', () => console.log('bound'))"]);
    let out = '';
    holder.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    expect(await waitFor(() => out.includes('bound'), 10_000)).toBe(true);
    const r = await h.exec(ns, 'wg', ['set', ifA, 'listen-port', '41998']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Address already in use/i);
    expect((await wg('show', ifA, 'listen-port')).trim()).toBe('41999');
    holder.kill('SIGTERM');
  });

  it('answers malformed UAPI requests with errno=-22/-71 and applies nothing of them', async () => {
    const path = join(SOCK_DIR, `${ifA}.sock`);
    const before = await wg('showconf', ifA);
    expect(await uapiRaw(path, 'set=1\nlisten_port=1\nbogus_key=1\n\n', 1)).toBe('errno=-22\n\n');
    expect(await uapiRaw(path, `set=1\nreplace_peers=true\npublic_key=${'ab'.repeat(32)}\nendpoint=nohost:1\n\n`, 1)).toBe('errno=-22\n\n');
    expect(await uapiRaw(path, 'set=1\nlisten_port\n\n', 1)).toBe('errno=-71\n\n');
    expect(await uapiRaw(path, 'get=1\nx=1\n\n', 1)).toBe('errno=-22\n\n');
    expect(await uapiRaw(path, 'hello\n\n', 1)).toBe('errno=-71\n\n');
    expect(await wg('showconf', ifA)).toBe(before);
    // Several requests on one connection, answered in order.
    const two = await uapiRaw(path, 'get=1\n\nset=1\nbogus=1\n\nget=1\n\n', 3);
    const parts = two.split('\n\n');
    expect(parts[1]).toBe('errno=-22');
    expect(parts[0]).toMatch(/^private_key=[0-9a-f]{64}\n/);
    expect(parts[0]).toMatch(/errno=0$/);
    expect(parts[2]).toBe(parts[0]);
  });

  it('exits and removes its socket when the interface is deleted (ip link del, as wg-quick down)', async () => {
    const pid = daemonPid(h, ns, 'tsplane-wg', ifA)!;
    expect(pid).toBeGreaterThan(0);
    await h.run(ns, 'ip', ['link', 'del', ifA]);
    expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    expect(existsSync(join(SOCK_DIR, `${ifA}.sock`))).toBe(false);
  });

  it('exits cleanly on SIGTERM: socket removed, interface gone', async () => {
    const ifB = h.ifname('b');
    expect((await up(ifB)).code).toBe(0);
    const pid = daemonPid(h, ns, 'tsplane-wg', ifB)!;
    process.kill(pid, 'SIGTERM');
    expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    expect(existsSync(join(SOCK_DIR, `${ifB}.sock`))).toBe(false);
    expect((await h.exec(ns, 'ip', ['link', 'show', ifB])).code).not.toBe(0);
  });

  it('exits when its socket file is deleted, taking the interface down with it', async () => {
    const ifC = h.ifname('c');
    expect((await up(ifC)).code).toBe(0);
    const pid = daemonPid(h, ns, 'tsplane-wg', ifC)!;
    (await import('node:fs')).unlinkSync(join(SOCK_DIR, `${ifC}.sock`));
    expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    expect((await h.exec(ns, 'ip', ['link', 'show', ifC])).code).not.toBe(0);
  });

  it('replaces the stale socket a killed daemon left behind', async () => {
    const ifK = h.ifname('k');
    expect((await up(ifK)).code).toBe(0);
    const pid = daemonPid(h, ns, 'tsplane-wg', ifK)!;
    process.kill(pid, 'SIGKILL');
    expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    expect(existsSync(join(SOCK_DIR, `${ifK}.sock`))).toBe(true);
    expect(await waitFor(async () => (await h.exec(ns, 'ip', ['link', 'show', ifK])).code !== 0, 5000)).toBe(true);
    const r = await up(ifK);
    expect(r.code, r.stderr).toBe(0);
    expect((await wg('show', ifK, 'listen-port')).trim()).toMatch(/^\d+$/);
    await h.run(ns, 'ip', ['link', 'del', ifK]);
  });

  it('comes up and goes down under wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=tsplane-wg', async () => {
    const ifQ = h.ifname('q');
    const me = genKeyPair();
    const peer = genKeyPair();
    const dir = mkdtempSync('/tmp/tsp-wgio-quick-');
    h.removeLater(dir);
    const conf = join(dir, `${ifQ}.conf`);
    writeFileSync(
      conf,
      `[Interface]\nPrivateKey = ${me.privateKey}\nAddress = 10.78.0.1/24, fd78::1/64\nListenPort = 0\nMTU = 1380\n\n` +
        `[Peer]\nPublicKey = ${peer.publicKey}\nAllowedIPs = 10.78.0.2/32, fd78::2/128, 10.79.0.0/16\nEndpoint = 10.66.0.2:51820\n`,
      { mode: 0o600 },
    );
    const env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, WG_QUICK_USERSPACE_IMPLEMENTATION: 'tsplane-wg' };
    const r = await h.exec(ns, 'wg-quick', ['up', conf], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const addr = await h.run(ns, 'ip', ['addr', 'show', ifQ]);
    expect(addr).toContain('10.78.0.1/24');
    expect(addr).toContain('fd78::1/64');
    expect(addr).toContain('mtu 1380');
    expect(addr).toMatch(/state (UNKNOWN|UP)/);
    expect(await h.run(ns, 'ip', ['route', 'show', 'dev', ifQ])).toContain('10.79.0.0/16');
    expect(await wg('showconf', ifQ)).toContain(`PublicKey = ${peer.publicKey}`);
    const pid = daemonPid(h, ns, 'tsplane-wg', ifQ)!;
    expect(pid).toBeGreaterThan(0);
    const d = await h.exec(ns, 'wg-quick', ['down', conf], { env, timeoutMs: 30_000 });
    expect(d.code, d.stderr).toBe(0);
    expect(await waitFor(() => processGone(pid), 5000)).toBe(true);
    expect(existsSync(join(SOCK_DIR, `${ifQ}.sock`))).toBe(false);
  });
});
