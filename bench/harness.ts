/**
 * Tiny benchmark harness: warm up, then time `fn` for at least `minMs`, repeated `runs` times;
 * report the median ops/s. Results print as a line for humans and a JSON line for tools.
 */
export interface BenchResult {
  readonly name: string;
  readonly opsPerSec: number;
  readonly runs: number[];
  readonly bytesPerOp?: number;
}

export function bench(name: string, fn: () => void, opts: { minMs?: number; runs?: number; bytesPerOp?: number } = {}): BenchResult {
  const minMs = opts.minMs ?? 300;
  const runs = opts.runs ?? 5;
  for (let i = 0; i < 200; i++) fn();
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < minMs) {
      for (let i = 0; i < 50; i++) fn();
      n += 50;
      elapsed = performance.now() - start;
    }
    rates.push((n * 1000) / elapsed);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  const result: BenchResult = { name, opsPerSec: median, runs: rates, ...(opts.bytesPerOp ? { bytesPerOp: opts.bytesPerOp } : {}) };
  const mbit = opts.bytesPerOp ? `  ${((median * opts.bytesPerOp * 8) / 1e6).toFixed(0)} Mbit/s` : '';
  process.stdout.write(`${name.padEnd(48)} ${Math.round(median).toLocaleString('en-US').padStart(12)} ops/s${mbit}\n`);
  process.stdout.write(`BENCH_JSON ${JSON.stringify(result)}\n`);
  return result;
}

/** Throws unless `a` and `b` hold the same bytes; benches call this before timing anything. */
export function crossValidate(what: string, a: Uint8Array, b: Uint8Array): void {
  if (a.length !== b.length || !a.every((v, i) => v === b[i])) throw new Error(`crossValidate: ${what}: outputs differ`);
}
