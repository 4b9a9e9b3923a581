/**
 * Macro benchmark: the same two-namespace veth topology as the interop tests (wireguard.md §6.1),
 * with three pairs: wireguard-go ↔ wireguard-go (the baseline), tsplane-wg ↔ wireguard-go and
 * tsplane-wg ↔ tsplane-wg. For each: iperf3 TCP, median of 3 × 10 s (receiver bits/s); ping RTT
 * (100 × 10 ms); CPU seconds of both daemons over one TCP run; RSS after the runs. Every line also
 * gives the ratio to the baseline pair.
 *
 * Needs root, ip netns, wireguard-go, wg, iperf3, ping. Builds dist/ first (tsplane-wg runs
 * from the build, as an installed binary would). Run: `npm run bench e2e/wireguard-iperf`.
 * Env: WGIO_BENCH_SECONDS (default 10), WGIO_BENCH_RUNS (default 3).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Netns } from '../../test/support/netns.js';
import { ROOT, installWrapper } from '../../test/support/tsplane-wg.js';
import { WgPair, type Impl } from '../../test/support/wg-pair.js';

const SECONDS = Number(process.env.WGIO_BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.WGIO_BENCH_RUNS ?? 3);
const CLK_TCK = 100;

interface PairResult {
  readonly name: string;
  readonly tcpMbit: number[];
  readonly retransmits: number[];
  readonly rttAvgMs: number;
  readonly cpuSecondsPerRun: number;
  readonly rssMb: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function measure(h: Netns, binDir: string, n: number, letter: string, a: Impl, b: Impl): Promise<PairResult> {
  const p = await WgPair.create(h, binDir, n, letter, a, b);
  if (!(await p.pingUntilUp(p.a, p.b.inner4))) throw new Error(`${a} ↔ ${b}: tunnel did not come up`);
  const pids = [p.daemonPid(p.a), p.daemonPid(p.b)].filter((x): x is number => x !== undefined);
  await h.run(p.b.ns, 'iperf3', ['-s', '-B', p.b.inner4, '-p', '5202', '-D']);
  await new Promise((r) => setTimeout(r, 300));
  const tcp: number[] = [];
  const retr: number[] = [];
  let cpu = 0;
  for (let i = 0; i < RUNS; i++) {
    const before = pids.map(cpuTicks);
    const out = await h.run(p.a.ns, 'iperf3', ['-c', p.b.inner4, '-p', '5202', '-t', String(SECONDS), '-J'], { timeoutMs: (SECONDS + 30) * 1000 });
    const after = pids.map(cpuTicks);
    cpu += after.reduce((s, t, j) => s + t - before[j]!, 0) / CLK_TCK;
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    tcp.push(j.end.sum_received.bits_per_second / 1e6);
    retr.push(j.end.sum_sent.retransmits ?? 0);
  }
  const ping = await h.run(p.a.ns, 'ping', ['-c', '100', '-i', '0.01', '-q', p.b.inner4], { timeoutMs: 30_000 });
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping);
  return { name: `${a} ↔ ${b}`, tcpMbit: tcp, retransmits: retr, rttAvgMs: rtt ? Number(rtt[1]) : NaN, cpuSecondsPerRun: cpu / RUNS, rssMb: pids.map(rssMb) };
}

async function main(): Promise<void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const h = new Netns('wgio');
  const onSignal = () => void h.cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: PairResult[] = [];
  try {
    const binDir = installWrapper(h, { dist: true });
    const pairs: [Impl, Impl][] = [
      ['wireguard-go', 'wireguard-go'],
      ['tsplane-wg', 'wireguard-go'],
      ['tsplane-wg', 'tsplane-wg'],
    ];
    for (const [i, [a, b]] of pairs.entries()) {
      try {
        results.push(await measure(h, binDir, 40 + i, String.fromCharCode(0x70 + i), a, b));
      } catch (err) {
        process.stdout.write(`${a} ↔ ${b}: FAILED: ${(err as Error).message}\n`);
      }
    }
  } finally {
    await h.cleanup();
  }
  const base = results.find((r) => r.name === 'wireguard-go ↔ wireguard-go');
  process.stdout.write(`\nTCP ${RUNS} × ${SECONDS} s (median Mbit/s), ping avg RTT, CPU s of both daemons per run, RSS MB — noisy 2-vCPU VM shared with other work\n`);
  for (const r of results) {
    const tcp = median(r.tcpMbit);
    const ratio = base ? ` (${(tcp / median(base.tcpMbit)).toFixed(2)}× wg-go)` : '';
    process.stdout.write(
      `${r.name.padEnd(30)} TCP ${tcp.toFixed(0).padStart(5)} Mbit/s${ratio}  runs ${r.tcpMbit.map((x) => x.toFixed(0)).join('/')}` +
        `  retr ${r.retransmits.join('/')}  RTT ${r.rttAvgMs.toFixed(3)} ms  CPU ${r.cpuSecondsPerRun.toFixed(1)} s/run  RSS ${r.rssMb.map((x) => x.toFixed(0)).join('+')} MB\n`,
    );
    process.stdout.write(`BENCH_JSON ${JSON.stringify({ ...r, name: `wireguard-iperf ${r.name}`, tcpMedianMbit: tcp })}\n`);
  }
}

void main();
