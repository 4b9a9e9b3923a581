/**
 * Diagnostics preload for bench/e2e/shared-loop.bench.ts (SHARED_BENCH_PROBE=1), loaded into the
 * tsplane process with `--import`. It measures where a DNS datagram can wait inside the process:
 *   - event-loop delay at 1 ms resolution (perf_hooks monitorEventLoopDelay), not prom-client's 10 ms;
 *   - every GC pause (PerformanceObserver 'gc': scavenge / mark-compact, with durations);
 *   - every top-level callback the loop runs (async_hooks before/after), by resource type
 *     (UDPWRAP = dgram reads, TCPWRAP = DERP/HTTP socket reads, Immediate = TUN drain
 *     continuations, Timeout = the scheduler and prom-client, …): count, total, p99, max;
 *   - busy stretches: runs of callbacks with less than STRETCH_GAP_US between them, i.e. how long
 *     the loop went without getting back to epoll for a new datagram.
 * On SIGUSR2 it appends one JSON line with the figures since the last SIGUSR2 to
 * $TSPLANE_PROBE_OUT and starts again, so the bench can bracket each phase. The async_hooks part
 * costs about 1-2 µs per callback: compare its figures with each other, not with a run without it.
 */
import { createHook } from 'node:async_hooks';
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';
import { PerformanceObserver, monitorEventLoopDelay, performance, type PerformanceEntry } from 'node:perf_hooks';

const OUT = process.env.TSPLANE_PROBE_OUT ?? '/tmp/tsplane-probe.jsonl';
// V8 flags are refused in NODE_OPTIONS (e.g. --trace-gc); TSPLANE_PROBE_V8_FLAGS sets them here.
if (process.env.TSPLANE_PROBE_V8_FLAGS) setFlagsFromString(process.env.TSPLANE_PROBE_V8_FLAGS);
/** A gap shorter than this between two callbacks means the loop did not block in between. */
const STRETCH_GAP_US = 30;
const MAX_SAMPLES = 400_000;

const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

interface Series {
  n: number;
  total: number;
  samples: Float64Array;
  len: number;
}
const series = (): Series => ({ n: 0, total: 0, samples: new Float64Array(MAX_SAMPLES), len: 0 });
const add = (s: Series, v: number): void => {
  s.n++;
  s.total += v;
  if (s.len < MAX_SAMPLES) s.samples[s.len++] = v;
};
const summary = (s: Series) => {
  const sorted = s.samples.slice(0, s.len).sort();
  const q = (p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  return { n: s.n, totalMs: +s.total.toFixed(1), p50Ms: +q(0.5).toFixed(3), p99Ms: +q(0.99).toFixed(3), p999Ms: +q(0.999).toFixed(3), maxMs: +q(1).toFixed(3) };
};

let gc = new Map<string, Series>();
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor-mark-sweep', 4: 'mark-compact', 8: 'incremental', 16: 'weakcb' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = GC_KINDS[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
    let s = gc.get(kind);
    if (!s) gc.set(kind, (s = series()));
    add(s, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

const types = new Map<number, string>();
let cbs = new Map<string, Series>();
let stretches = series();
let depth = 0;
let cbStart = 0;
let cbType = '';
let stretchStart = -1;
let lastEnd = 0;
// Per-callback timing costs ~1-2 µs per callback: only with TSPLANE_PROBE_CALLBACKS=1.
if (process.env.TSPLANE_PROBE_CALLBACKS === '1') createHook({
  init(id, type) {
    types.set(id, type);
  },
  destroy(id) {
    types.delete(id);
  },
  before(id) {
    if (depth++ !== 0) return;
    const now = performance.now();
    if (stretchStart < 0 || now - lastEnd > STRETCH_GAP_US / 1000) {
      if (stretchStart >= 0) add(stretches, lastEnd - stretchStart);
      stretchStart = now;
    }
    cbStart = now;
    cbType = types.get(id) ?? 'unknown';
  },
  after() {
    if (--depth !== 0) return;
    const now = performance.now();
    let s = cbs.get(cbType);
    if (!s) cbs.set(cbType, (s = series()));
    add(s, now - cbStart);
    lastEnd = now;
  },
}).enable();

// TSPLANE_PROBE_HEAP=DIR: a sampling heap profile of every allocation (collected ones included)
// per SIGUSR2 interval, written as DIR/phase-N.heapprofile (open in Chrome DevTools).
const heapDir = process.env.TSPLANE_PROBE_HEAP;
const inspector = heapDir ? new Session() : undefined;
let heapN = 0;
const startHeap = (): void => {
  inspector?.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
};
if (inspector) {
  inspector.connect();
  startHeap();
}

let since = performance.now();
let cpu = process.cpuUsage();
process.on('SIGUSR2', () => {
  const now = performance.now();
  const c = process.cpuUsage(cpu);
  const line = {
    wallMs: +(now - since).toFixed(0),
    cpuUserMs: c.user / 1000,
    cpuSystemMs: c.system / 1000,
    eldMs: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, p999: eld.percentile(99.9) / 1e6, max: eld.max / 1e6, mean: eld.mean / 1e6 },
    gc: Object.fromEntries([...gc].map(([k, s]) => [k, summary(s)])),
    callbacks: Object.fromEntries([...cbs].map(([k, s]) => [k, summary(s)])),
    stretches: summary(stretches),
  };
  appendFileSync(OUT, `${JSON.stringify(line)}\n`);
  if (inspector && heapDir) {
    const n = heapN++;
    inspector.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(`${heapDir}/phase-${n}.heapprofile`, JSON.stringify(r.profile));
      startHeap();
    });
  }
  eld.reset();
  gc = new Map();
  cbs = new Map();
  stretches = series();
  stretchStart = -1;
  since = now;
  cpu = process.cpuUsage();
});
