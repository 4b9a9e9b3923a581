/**
 * dnsperf against tsplane, dnsmasq and unbound (as forwarders) in one run, with the same local
 * unbound as upstream (dns.md §6 layout: servers pinned to CPU 1, dnsperf and the upstream to
 * CPU 0). Two workloads:
 *   - cache hit: 10 000 names, warmed once, then `-c 10 -T 1 -l SECONDS -v` (all answers cached);
 *   - cache miss: every query a name never asked before (NXDOMAIN from the upstream's static
 *     zone), so each one is forwarded.
 * Prints q/s, latency percentiles (from dnsperf -v per-query latencies) and the ratio to dnsmasq.
 * Each server's answer is cross-validated with dig before timing. Loopback only.
 *
 * `tsplane-nobatch` is the same build with `--no-udp-batch` (one dgram event and one sendto per
 * datagram instead of recvmmsg/sendmmsg batches): the same-run A/B of the batched UDP edge.
 * `tsplane-dgramup` (misses only) is the same build with `--no-upstream-batch`: upstream queries
 * through dgram sends and one 'message' event per reply, the A/B of the owned-fd upstream path.
 *
 * A third workload, `rate` (not run by default), offers a fixed DNS_BENCH_RATE q/s (default
 * 20 000, `-Q`) of cache hits: every server keeps up, so latency percentiles compare servers
 * below saturation instead of measuring dnsperf's queue (dns.md §6.3, second table).
 *
 * `npm run bench dns-dnsperf` (env DNS_BENCH_SECONDS=5, DNS_BENCH_RUNS=3, DNS_BENCH_WORKLOADS=hit,miss[,rate]).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dig, freePort, sleep, startUnbound, type Unbound } from '../../test/e2e/dns-support.js';

const SECONDS = Number(process.env.DNS_BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.DNS_BENCH_RUNS ?? 3);
const NAMES = 10_000;
const WORKLOADS = (process.env.DNS_BENCH_WORKLOADS ?? 'hit,miss').split(',');
const RATE = Number(process.env.DNS_BENCH_RATE ?? 20_000);
const root = new URL('../..', import.meta.url).pathname;

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface RunResult { qps: number; lost: number; p50: number; p90: number; p99: number; p999: number; cpuUs: number }

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (100 Hz ticks); NaN if unknown. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 1000;
}

/**
 * Runs dnsperf pinned to CPU 0 and parses q/s, lost queries and per-query latencies; with the
 * server's pid, also the server CPU time per completed query (µs) — less sensitive than q/s to
 * load from other work on a shared machine, since time spent descheduled is not counted.
 */
function dnsperf(port: number, file: string, args: string[], pid?: number): Promise<RunResult> {
  const cpu0 = cpuSeconds(pid);
  return new Promise((resolve, reject) => {
    const p = spawn('taskset', ['-c', '0', 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lat = new Float64Array(1 << 16);
    let n = 0;
    let tail = '';
    let summary = '';
    p.stdout.on('data', (c: Buffer) => {
      const text = tail + c.toString('latin1');
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('> ')) {
          const v = Number(line.slice(line.lastIndexOf(' ') + 1));
          if (n === lat.length) {
            const bigger = new Float64Array(lat.length * 2);
            bigger.set(lat);
            lat = bigger;
          }
          lat[n++] = v;
        } else summary += `${line}\n`;
      }
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), (SECONDS + 30) * 1000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      summary += tail;
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(summary)?.[1] ?? NaN);
      const lost = Number(/Queries lost:\s+(\d+)/.exec(summary)?.[1] ?? NaN);
      const completed = Number(/Queries completed:\s+(\d+)/.exec(summary)?.[1] ?? NaN);
      const cpuUs = ((cpuSeconds(pid) - cpu0) / completed) * 1e6;
      const sorted = lat.subarray(0, n).sort();
      resolve({ qps, lost, cpuUs, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const need = ['unbound', 'dnsmasq', 'dnsperf', 'dig', 'taskset'].filter((c) => !have(c));
  if (need.length > 0) {
    process.stdout.write(`dns-dnsperf: skipped, missing ${need.join(', ')}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), `tsp-dnsc-bench-${process.pid}-`));
  const children: ChildProcess[] = [];
  const unbounds: Unbound[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    for (const u of unbounds) await u.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    // Upstream: 10 000 A records in a static zone (TTL 1 day), everything else NXDOMAIN with SOA.
    const names = Array.from({ length: NAMES }, (_, i) => `n${i}.bench.lan`);
    const upstream = await startUnbound('upstream', [
      'local-zone: "bench.lan." static',
      'local-data: "bench.lan. 86400 IN SOA ns.bench.lan. host.bench.lan. 1 3600 600 86400 3600"',
      ...names.map((n, i) => `local-data: "${n}. 86400 IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"`),
    ], undefined, { cpu: 0 });
    unbounds.push(upstream);
    let seed = 1;
    const shuffled = [...names].sort(() => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5);
    const hitFile = join(dir, 'hit.txt');
    writeFileSync(hitFile, shuffled.map((n) => `${n} A`).join('\n') + '\n');

    const servers: { name: string; port: number; missOnly?: boolean; pid?: number | undefined }[] = [];
    // tsplane, compiled (as `npm start` runs it: no tsx transform helpers in the hot path)
    const built = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root }).status === 0;
    const entry = built ? [join(root, 'dist/src/cli/tsplane.js')] : ['--import', 'tsx', join(root, 'src/cli/tsplane.ts')];
    const tsPort = await freePort();
    const ts = spawn('taskset', ['-c', '1', process.execPath, ...entry, 'dns', '--listen', `127.0.0.1:${tsPort}`,
      '--upstream', `127.0.0.1:${upstream.port}`, '--cache-size', '20000', '--log-level', 'warn'], { stdio: 'ignore', cwd: root });
    children.push(ts);
    servers.push({ name: 'tsplane', port: tsPort, pid: ts.pid });
    const tsnbPort = await freePort();
    const tsnb = spawn('taskset', ['-c', '1', process.execPath, ...entry, 'dns', '--listen', `127.0.0.1:${tsnbPort}`,
      '--upstream', `127.0.0.1:${upstream.port}`, '--cache-size', '20000', '--log-level', 'warn', '--no-udp-batch'], { stdio: 'ignore', cwd: root });
    children.push(tsnb);
    servers.push({ name: 'tsplane-nobatch', port: tsnbPort, pid: tsnb.pid });
    // The same with a new UDP socket (new random source port) for every upstream query, to
    // measure what the default rotated pool of connected sockets saves on the miss path.
    const ts1Port = await freePort();
    const ts1 = spawn('taskset', ['-c', '1', process.execPath, ...entry, 'dns', '--listen', `127.0.0.1:${ts1Port}`,
      '--upstream', `127.0.0.1:${upstream.port}`, '--cache-size', '20000', '--log-level', 'warn', '--udp-socket-per-query'], { stdio: 'ignore', cwd: root });
    children.push(ts1);
    servers.push({ name: 'tsplane-1sock', port: ts1Port, missOnly: true, pid: ts1.pid });
    // The upstream side before the owned-fd path: dgram sends and one 'message' event per reply
    // (same-run A/B of sendto + recvmmsg on our own upstream sockets; misses only).
    const tsouPort = await freePort();
    const tsou = spawn('taskset', ['-c', '1', process.execPath, ...entry, 'dns', '--listen', `127.0.0.1:${tsouPort}`,
      '--upstream', `127.0.0.1:${upstream.port}`, '--cache-size', '20000', '--log-level', 'warn', '--no-upstream-batch'], { stdio: 'ignore', cwd: root });
    children.push(tsou);
    servers.push({ name: 'tsplane-dgramup', port: tsouPort, missOnly: true, pid: tsou.pid });
    // dnsmasq
    const dmPort = await freePort();
    const dm = spawn('taskset', ['-c', '1', 'dnsmasq', '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll',
      '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${dmPort}`, `--server=127.0.0.1#${upstream.port}`, '--cache-size=20000',
      '--dns-forward-max=1000', '--user=root', `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--log-facility=${join(dir, 'dnsmasq.log')}`], { stdio: 'ignore' });
    children.push(dm);
    servers.push({ name: 'dnsmasq', port: dmPort, pid: dm.pid });
    // dns.md §6 (d2): dnsmasq as a pure forwarder (cache off), the comparator for the miss path.
    // With --cache-size=20000 dnsmasq slows down badly once its cache is full of unique names
    // (it warns that sizes > 10000 "may cause performance issues"), which the miss series shows.
    const dm0Port = await freePort();
    const dm0 = spawn('taskset', ['-c', '1', 'dnsmasq', '-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll',
      '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${dm0Port}`, `--server=127.0.0.1#${upstream.port}`, '--cache-size=0',
      '--dns-forward-max=1000', '--user=root', `--pid-file=${join(dir, 'dnsmasq0.pid')}`, `--log-facility=${join(dir, 'dnsmasq0.log')}`], { stdio: 'ignore' });
    children.push(dm0);
    servers.push({ name: 'dnsmasq-nocache', port: dm0Port, missOnly: true, pid: dm0.pid });
    // unbound as a caching forwarder
    const ub = await startUnbound('forwarder', ['msg-cache-size: 64m', 'rrset-cache-size: 128m', 'prefetch: no', 'do-not-query-localhost: no'],
      undefined, { cpu: 1, extra: ['forward-zone:', '  name: "."', `  forward-addr: 127.0.0.1@${upstream.port}`] });
    unbounds.push(ub);
    servers.push({ name: 'unbound', port: ub.port, pid: ub.proc.pid });

    // Cross-validate: every server gives the upstream's answer for a sample of names.
    for (const s of servers) {
      for (const i of [0, 4242, NAMES - 1]) {
        let r;
        for (let t = 0; t < 50; t++) {
          r = await dig(s.port, [`n${i}.bench.lan`, 'A', '+time=1']).catch(() => undefined);
          if (r?.status === 'NOERROR') break;
          await sleep(200);
        }
        const want = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        if (r?.answers[0]?.data !== want) throw new Error(`crossValidate: ${s.name} answered ${r?.answers[0]?.data} for n${i}, want ${want}`);
      }
    }
    process.stdout.write(`dnsperf ${SECONDS}s × ${RUNS} runs per series, -c 10 -T 1 (default -q 100); servers on CPU 1, dnsperf+upstream on CPU 0\n`);

    const results: Record<string, Record<string, RunResult[]>> = { hit: {}, miss: {}, rate: {} };
    for (const s of servers) {
      // Warm: JIT for tsplane, and every name into each cache.
      await dnsperf(s.port, hitFile, ['-n', '1', '-Q', '10000']);
      await dnsperf(s.port, hitFile, ['-c', '10', '-T', '1', '-l', '2']);
      results.hit![s.name] = [];
      results.miss![s.name] = [];
      results.rate![s.name] = [];
    }
    // Runs are interleaved across servers so that load from outside (this machine is shared)
    // spreads over every series instead of landing on one.
    for (let r = 0; r < RUNS && WORKLOADS.includes('hit'); r++) {
      for (const s of servers) {
        if (!s.missOnly) results.hit![s.name]!.push(await dnsperf(s.port, hitFile, ['-c', '10', '-T', '1', '-l', String(SECONDS), '-v'], s.pid));
      }
    }
    for (let r = 0; r < RUNS && WORKLOADS.includes('rate'); r++) {
      for (const s of servers) {
        if (!s.missOnly) results.rate![s.name]!.push(await dnsperf(s.port, hitFile, ['-c', '10', '-T', '1', '-l', String(SECONDS), '-v', '-Q', String(RATE)], s.pid));
      }
    }
    for (let r = 0; r < RUNS && WORKLOADS.includes('miss'); r++) {
      for (const s of servers) {
        const missFile = join(dir, `miss-${s.name}-${r}.txt`);
        const lines: string[] = [];
        for (let i = 0; i < 120_000 * SECONDS; i++) lines.push(`m${i}.${s.name}${r}.bench.lan A`);
        writeFileSync(missFile, lines.join('\n') + '\n');
        results.miss![s.name]!.push(await dnsperf(s.port, missFile, ['-c', '10', '-T', '1', '-l', String(SECONDS), '-v'], s.pid));
        rmSync(missFile);
      }
    }

    for (const workload of ['hit', 'rate', 'miss'] as const) {
      if (!WORKLOADS.includes(workload)) continue;
      const baseName = workload === 'miss' ? 'dnsmasq-nocache' : 'dnsmasq';
      const title = workload === 'hit' ? 'cache hit' : workload === 'rate' ? `cache hit at a fixed ${RATE} q/s` : 'cache miss';
      process.stdout.write(`\n${title} (median of ${RUNS}; ratio to ${baseName}):\n`);
      process.stdout.write(`${'server'.padEnd(16)} ${'q/s'.padStart(9)} ${'ratio'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'p99.9 ms'.padStart(9)} ${'lost'.padStart(6)} ${'cpu µs/q'.padStart(9)}  runs q/s\n`);
      const base = median(results[workload]![baseName]!.map((r) => r.qps));
      for (const s of servers) {
        const rs = results[workload]![s.name]!;
        if (rs.length === 0) continue;
        const m = (k: keyof RunResult): number => median(rs.map((r) => r[k]));
        const row = { server: s.name, workload, qps: m('qps'), ratioToBaseline: m('qps') / base, baseline: baseName, p50: m('p50'), p90: m('p90'), p99: m('p99'), p999: m('p999'), lost: m('lost'), cpuUsPerQuery: m('cpuUs'), runs: rs.map((r) => Math.round(r.qps)) };
        process.stdout.write(`${s.name.padEnd(16)} ${Math.round(row.qps).toString().padStart(9)} ${row.ratioToBaseline.toFixed(2).padStart(10)} ${row.p50.toFixed(3).padStart(8)} ${row.p90.toFixed(3).padStart(8)} ${row.p99.toFixed(3).padStart(8)} ${row.p999.toFixed(3).padStart(9)} ${String(row.lost).padStart(6)} ${row.cpuUsPerQuery.toFixed(2).padStart(9)}  ${row.runs.join(' ')}\n`);
        process.stdout.write(`BENCH_JSON ${JSON.stringify({ name: `dns-dnsperf ${workload} ${s.name}`, ...row })}\n`);
      }
    }
  } finally {
    await cleanup();
  }
}

await main();
