/**
 * DERP relay memory per idle connection (long: about a minute or two on this machine): opens
 * DERP_BENCH_CONNS (default 10,000) handshaken, idle Upgrade: DERP connections to a relay in its
 * own process and reports the relay's RSS growth per connection after a full GC, and the
 * client side's. Run: `npm run bench e2e/derp` (bench/run.ts runs bench/e2e only when named).
 * Needs ~10k file descriptors in each process; the relay child raises its own limit if allowed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SystemRng } from '../../src/runtime/rng.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { DerpClientCore } from '../../src/derp/client.js';
import { dialDerp, type DerpStream } from '../../src/derp/io/client-transport.js';
import { line, startChild, type Child } from '../derp/support.js';

const CONNS = Number(process.env.DERP_BENCH_CONNS ?? 10_000);
const CONNECT_BUDGET_MS = 240_000;
const rng = new SystemRng();
const clock = new SystemClock();

/** One idle connection: transport + sans-IO core, nothing else (no per-client timers). */
async function idleConnection(url: string): Promise<DerpStream> {
  const stream = await dialDerp(url, { transport: 'upgrade' });
  const core = new DerpClientCore({ privateKey: generateNodePrivateKey(rng), rng, now: clock.monotonicMs() });
  await new Promise<void>((resolve, reject) => {
    stream.onData((bytes) => {
      const ms = core.receive(bytes, clock.monotonicMs());
      for (const b of core.takeOutgoing()) stream.write(b);
      for (const m of ms) {
        if (m.type === 'serverInfo') resolve();
        if (m.type === 'closed') reject(new Error(m.message));
      }
    });
    stream.onClose((e) => reject(e ?? new Error('closed during handshake')));
  });
  return stream;
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  const g = runInNewContext('gc') as () => void;
  g();
  g();
}

async function rssPerConnection(child: Child): Promise<void> {
  child.proc.stdin.write('rss\n');
  const before = await child.next();
  gc();
  const clientBefore = process.memoryUsage().rss;
  const streams: DerpStream[] = [];
  const t0 = performance.now();
  const BATCH = 100;
  try {
    while (streams.length < CONNS && performance.now() - t0 < CONNECT_BUDGET_MS) {
      const n = Math.min(BATCH, CONNS - streams.length);
      streams.push(...(await Promise.all(Array.from({ length: n }, () => idleConnection(child.url)))));
    }
  } catch (e) {
    process.stdout.write(`connect stopped at ${streams.length}: ${(e as Error).message}\n`);
  }
  const connectSecs = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  child.proc.stdin.write('rss\n');
  const after = await child.next();
  gc();
  const clientAfter = process.memoryUsage().rss;
  const n = streams.length;
  const serverPer = ((after.rss as number) - (before.rss as number)) / n;
  const clientPer = (clientAfter - clientBefore) / n;
  const gauges = after.gauges as { currentConnections: number };
  line(`relay RSS per idle connection at ${n} conns`, `${(serverPer / 1024).toFixed(1)} KiB/conn (relay RSS ${((after.rss as number) / 2 ** 20).toFixed(0)} MiB, ${gauges.currentConnections} conns)`, {
    connections: n, relayRssBefore: before.rss, relayRssAfter: after.rss, relayBytesPerConn: serverPer, connectSeconds: connectSecs,
  });
  line(`client RSS per idle connection at ${n} conns`, `${(clientPer / 1024).toFixed(1)} KiB/conn (connect took ${connectSecs.toFixed(1)} s)`, {
    connections: n, clientBytesPerConn: clientPer,
  });
  for (const s of streams) s.close();
}

const child = await startChild();
try {
  await rssPerConnection(child);
} finally {
  child.proc.stdin.end();
  await new Promise((r) => child.proc.once('exit', r));
}
