/**
 * A/B macro benchmark for data-path changes: the current build (dist/, rebuilt first) against a
 * baseline build of tsplane-wg in another directory, in the same run, on the same noisy machine.
 * All pairs stay up for the whole run and the iperf3 TCP runs are interleaved round-robin
 * (wg-go ↔ wg-go, base ↔ base, new ↔ new, base ↔ wg-go, new ↔ wg-go, then again), so a burst of
 * load from other work hits every variant alike. Reports medians and ratios to wg-go ↔ wg-go.
 *
 * Make a baseline: `git archive <commit> | tar -x -C /tmp/base && ln -s $PWD/node_modules
 * /tmp/base/ && (cd /tmp/base && npx tsc -p tsconfig.build.json)`.
 * Run: `WGP_BASE=/tmp/base npm run bench e2e/wireguard-ab`.
 * Env: WGP_BASE (required), WGP_SECONDS (default 10), WGP_ROUNDS (default 3),
 * WGP_PROF_DIR (write `--cpu-prof` profiles of the new build's daemons there).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Netns } from '../../test/support/netns.js';
import { ROOT } from '../../test/support/tsplane-wg.js';
import { WgPair, type Impl } from '../../test/support/wg-pair.js';

const SECONDS = Number(process.env.WGP_SECONDS ?? 10);
const ROUNDS = Number(process.env.WGP_ROUNDS ?? 3);
const BASE = process.env.WGP_BASE;
const PROF_DIR = process.env.WGP_PROF_DIR;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** A `tsplane-wg` wrapper running `root`'s build, optionally under the CPU profiler. */
function wrapper(h: Netns, root: string, prof: string | undefined): string {
  const dir = mkdtempSync('/tmp/tsp-wgp-bin-');
  h.removeLater(dir);
  chmodSync(dir, 0o755);
  const flags = prof ? `--cpu-prof --cpu-prof-dir='${prof}' ` : '';
  writeFileSync(join(dir, 'tsplane-wg'), `#!/bin/sh\ncd '${root}' && exec '${process.execPath}' ${flags}'${join(root, 'dist/src/cli/tsplane-wg.js')}' "$@"\n`);
  chmodSync(join(dir, 'tsplane-wg'), 0o755);
  return dir;
}

async function main(): Promise<void> {
  if (!BASE || !existsSync(join(BASE, 'dist/src/cli/tsplane-wg.js'))) throw new Error('WGP_BASE must name a directory with a built dist/');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const h = new Netns('wgp');
  const onSignal = () => void h.cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results = new Map<string, number[]>();
  try {
    const baseBin = wrapper(h, BASE, undefined);
    const newBin = wrapper(h, ROOT, PROF_DIR);
    const specs: [string, string, Impl, Impl][] = [
      ['wg-go ↔ wg-go', baseBin, 'wireguard-go', 'wireguard-go'],
      ['base ↔ base', baseBin, 'tsplane-wg', 'tsplane-wg'],
      ['new ↔ new', newBin, 'tsplane-wg', 'tsplane-wg'],
      ['base ↔ wg-go', baseBin, 'tsplane-wg', 'wireguard-go'],
      ['new ↔ wg-go', newBin, 'tsplane-wg', 'wireguard-go'],
    ];
    const pairs: { name: string; p: WgPair }[] = [];
    for (const [i, [name, bin, a, b]] of specs.entries()) {
      const p = await WgPair.create(h, bin, 50 + i, String.fromCharCode(0x70 + i), a, b);
      if (!(await p.pingUntilUp(p.a, p.b.inner4))) throw new Error(`${name}: tunnel did not come up`);
      await h.run(p.b.ns, 'iperf3', ['-s', '-B', p.b.inner4, '-p', '5202', '-D']);
      pairs.push({ name, p });
      results.set(name, []);
    }
    await new Promise((r) => setTimeout(r, 300));
    for (let round = 0; round < ROUNDS; round++) {
      for (const { name, p } of pairs) {
        const out = await h.run(p.a.ns, 'iperf3', ['-c', p.b.inner4, '-p', '5202', '-t', String(SECONDS), '-J'], { timeoutMs: (SECONDS + 30) * 1000 });
        const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
        const mbit = j.end.sum_received.bits_per_second / 1e6;
        results.get(name)!.push(mbit);
        process.stdout.write(`round ${round + 1} ${name.padEnd(14)} ${mbit.toFixed(0)} Mbit/s\n`);
      }
    }
  } finally {
    await h.cleanup();
  }
  const base = median(results.get('wg-go ↔ wg-go') ?? []);
  process.stdout.write(`\nTCP ${ROUNDS} × ${SECONDS} s interleaved, median Mbit/s (ratio to wg-go ↔ wg-go) — noisy 2-vCPU VM\n`);
  for (const [name, xs] of results) {
    process.stdout.write(`${name.padEnd(14)} ${median(xs).toFixed(0).padStart(5)} (${(median(xs) / base).toFixed(2)}×)  runs ${xs.map((x) => x.toFixed(0)).join('/')}\n`);
  }
}

void main();
