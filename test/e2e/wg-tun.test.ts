/**
 * The TUN edge against the real kernel: packets routed into the interface come out of
 * readBatch, replies written back reach `ping`, MTU is set by ioctl, and deleting the
 * interface is noticed (as `wg-quick down` deletes it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { missing } from '../support/prereq.js';
import { Netns, processGone, waitFor } from '../support/netns.js';
import { ROOT } from '../support/tsplane-wg.js';

describe.skipIf(missing('netns', { command: 'ping' }).length > 0)('TUN device (tun.ts) in a network namespace', () => {
  const h = new Netns('wgio');
  let ns = '';
  let ifname = '';
  let echo: ChildProcess;
  let output = '';

  beforeAll(async () => {
    ns = h.add('tun');
    ifname = h.ifname('t');
    echo = h.spawn(ns, process.execPath, ['--import', 'tsx', join(ROOT, 'test/e2e/fixtures/tun-echo.ts'), ifname]);
    echo.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    echo.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    expect(await waitFor(() => output.includes('ready mtu=') || output.includes('Error'), 15_000), output).toBe(true);
    expect(output).toContain('ready mtu=');
    await h.run(ns, 'ip', ['addr', 'add', '10.88.0.1/24', 'dev', ifname]);
    await h.run(ns, 'ip', ['addr', 'add', 'fd88::1/64', 'dev', ifname, 'nodad']);
    await h.run(ns, 'ip', ['link', 'set', ifname, 'up']);
  });
  afterAll(() => h.cleanup());

  it('sets the MTU it was asked for with SIOCSIFMTU', async () => {
    expect(output).toContain('ready mtu=1400');
    expect(await h.run(ns, 'ip', ['link', 'show', ifname])).toContain('mtu 1400');
  });

  it('carries IPv4 and IPv6 echo through readBatch and write', async () => {
    const v4 = await h.run(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.88.0.2']);
    expect(v4).toMatch(/3 packets transmitted, 3 received/);
    const v6 = await h.run(ns, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd88::2']);
    expect(v6).toMatch(/3 packets transmitted, 3 received/);
  });

  it('keeps up with a flood of 2000 pings without losing any', async () => {
    const r = await h.run(ns, 'ping', ['-f', '-c', '2000', '-w', '20', '-s', '1300', '10.88.0.2'], { timeoutMs: 30_000 });
    expect(r).toMatch(/2000 packets transmitted, 2000 received/);
  });

  it('survives a write while the interface is down (EIO) and works again once it is up', async () => {
    await h.run(ns, 'ip', ['link', 'set', ifname, 'down']);
    echo.stdin?.write('write\n');
    expect(await waitFor(() => output.includes('wrote'), 5000)).toBe(true);
    expect(output).toContain('wrote refused');
    await h.run(ns, 'ip', ['link', 'set', ifname, 'up']);
    expect(output).not.toContain('gone');
    expect(await h.run(ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.88.0.2'])).toMatch(/2 received/);
  });

  it('reports the interface gone when it is deleted, and the process can exit', async () => {
    await h.run(ns, 'ip', ['link', 'del', ifname]);
    expect(await waitFor(() => output.includes('gone'), 5000), output).toBe(true);
    expect(await waitFor(() => echo.exitCode !== null || processGone(echo.pid!), 5000)).toBe(true);
  });
});
