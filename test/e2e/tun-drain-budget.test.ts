/**
 * The TUN drain gives the event loop back often (issue 6): a burst that fills the TUN queue is
 * read in chunks of at most TUN_READ_BATCH packets, one chunk per loop turn, so a DNS datagram
 * waiting in the same loop sits behind at most one chunk of tunnel work (~10 µs per packet
 * through the WireGuard send path, so ≤ 32 packets ≈ 0.3-0.5 ms) instead of 128 (1.3-1.7 ms
 * measured in bench/e2e/shared-loop with its callback probe).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { missing } from '../support/prereq.js';
import { Netns, waitFor } from '../support/netns.js';
import { ROOT } from '../support/tsplane-wg.js';

/** The most packets one readiness callback may drain before the loop runs other callbacks. */
const MAX_PACKETS_PER_TURN = 32;
const BURST = 300;

describe.skipIf(missing('netns').length > 0)('TUN drain budget (tun.ts) in a network namespace', () => {
  const h = new Netns('wgio');
  let ns = '';
  let ifname = '';
  let child: ChildProcess;
  let output = '';

  beforeAll(async () => {
    ns = h.add('drn');
    ifname = h.ifname('d');
    child = h.spawn(ns, process.execPath, ['--import', 'tsx', join(ROOT, 'test/e2e/fixtures/tun-drain.ts'), ifname]);
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    expect(await waitFor(() => output.includes('ready mtu=') || output.includes('Error'), 15_000), output).toBe(true);
    await h.run(ns, 'ip', ['addr', 'add', '10.87.0.1/24', 'dev', ifname]);
    await h.run(ns, 'ip', ['link', 'set', ifname, 'up']);
  });
  afterAll(async () => {
    child?.stdin?.end();
    await h.cleanup();
  });

  it(`drains a ${BURST}-packet burst in chunks of at most ${MAX_PACKETS_PER_TURN}, one per loop turn`, async () => {
    child.stdin!.write(`burst ${BURST}\n`);
    expect(await waitFor(() => output.includes('drained '), 15_000), output).toBe(true);
    const line = output.split('\n').find((l) => l.startsWith('drained '))!;
    const r = JSON.parse(line.slice('drained '.length)) as { reads: number[]; turns: number[]; batch: number };
    expect(r.reads.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(BURST);
    expect(Math.max(...r.reads)).toBeLessThanOrEqual(MAX_PACKETS_PER_TURN);
    // Between two chunks the loop ran other callbacks (the fixture's setImmediate ticker).
    for (let i = 1; i < r.turns.length; i++) expect(r.turns[i]!).toBeGreaterThan(r.turns[i - 1]!);
  });
});
