/**
 * Shared by the DERP macro benchmarks: a relay in its own process (relay-child.ts) so its CPU
 * and memory are measured apart from the clients, and one output line format.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Prints a human line and a BENCH_JSON line (the harness format). */
export function line(name: string, value: string, json: Record<string, unknown>): void {
  process.stdout.write(`${name.padEnd(52)} ${value}\n`);
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ name, ...json })}\n`);
}

export interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly wsUrl: string;
  next(): Promise<Record<string, unknown>>;
}

export async function startChild(): Promise<Child> {
  const script = new URL('./relay-child.ts', import.meta.url).pathname;
  // Raise the fd limit for 10k sockets (root may raise the hard limit; otherwise keep the soft one).
  const proc = spawn('sh', ['-c', `ulimit -n 65536 2>/dev/null || true; exec "${process.execPath}" --expose-gc --import tsx "${script}"`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  const lines = createInterface({ input: proc.stdout });
  const queue: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  lines.on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else queue.push(l);
  });
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const l = queue.shift();
      if (l !== undefined) resolve(JSON.parse(l) as Record<string, unknown>);
      else waiters.push((x) => resolve(JSON.parse(x) as Record<string, unknown>));
    });
  const hello = await next();
  return { proc, url: String(hello.url), wsUrl: String(hello.wsUrl), next };
}

