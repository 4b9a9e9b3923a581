/**
 * DERP relay macro benchmark on loopback (relay in a child process, clients here):
 *  1. throughput between two clients at 1200-byte packets, Upgrade: DERP and WebSocket, with a
 *     window of packets in flight (the relay's per-recipient queue is 32 packets, head drop);
 *  2. packet round trip A → relay → B → relay → A, p50/p99, and DERP Ping/Pong to the relay;
 *  3. relay RSS per idle connection at DERP_BENCH_CONNS (default 10,000) connections.
 *
 * Run: `ulimit -n 65536; npm run bench derp/relay` (or `node --import tsx bench/derp/relay.bench.ts`).
 * Knobs: DERP_BENCH_SECONDS (throughput seconds per transport, default 3), DERP_BENCH_CONNS,
 * DERP_BENCH_WINDOW (packets in flight, default 32).
 * The machine is shared: quote medians of several runs and say so.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { crossValidate } from '../harness.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { DerpClient } from '../../src/derp/io/client.js';
import { DerpClientCore } from '../../src/derp/client.js';
import { dialDerp, type DerpStream, type DerpTransportKind } from '../../src/derp/io/client-transport.js';

const SECONDS = Number(process.env.DERP_BENCH_SECONDS ?? 3);
const CONNS = Number(process.env.DERP_BENCH_CONNS ?? 10_000);
const WINDOW = Number(process.env.DERP_BENCH_WINDOW ?? 32);
const PACKET_BYTES = 1200;
const CONNECT_BUDGET_MS = 240_000;
const rng = new SystemRng();
const clock = new SystemClock();

function line(name: string, value: string, json: Record<string, unknown>): void {
  process.stdout.write(`${name.padEnd(52)} ${value}\n`);
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ name, ...json })}\n`);
}

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly wsUrl: string;
  next(): Promise<Record<string, unknown>>;
}

async function startChild(): Promise<Child> {
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

async function pair(url: string, transport: DerpTransportKind): Promise<[DerpClient, DerpClient]> {
  const mk = (): DerpClient => new DerpClient({ url, transport, privateKey: generateNodePrivateKey(rng), reconnect: false, maxBufferedBytes: 64 * 1024 * 1024 });
  const a = mk();
  const b = mk();
  await Promise.all([a.connect(), b.connect()]);
  return [a, b];
}

async function throughput(url: string, transport: DerpTransportKind): Promise<void> {
  const [a, b] = await pair(url, transport);
  const payload = rng.fill(new Uint8Array(PACKET_BYTES));
  // Cross-validate before timing: one packet arrives intact with the sender's key.
  const first = new Promise<Uint8Array>((resolve) => {
    const off = b.onPacket((src, data) => {
      off();
      crossValidate('source key', new Uint8Array(src), a.publicKey);
      resolve(new Uint8Array(data));
    });
  });
  a.sendPacket(b.publicKey, payload);
  crossValidate(`${transport} relayed payload`, await first, payload);

  let sent = 0;
  let received = 0;
  let lost = 0;
  let running = true;
  const pump = (): void => {
    while (running && sent - received - lost < WINDOW) {
      if (!a.sendPacket(b.publicKey, payload)) break;
      sent++;
    }
  };
  b.onPacket(() => {
    received++;
    pump();
  });
  // A window slot whose packet the relay dropped (queue head drop) is reclaimed after a quiet spell.
  let lastReceived = 0;
  const reclaim = setInterval(() => {
    if (received === lastReceived && sent - received - lost > 0) lost = sent - received;
    lastReceived = received;
    pump();
  }, 20);
  pump();
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  const r0 = received;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const n = received - r0;
  const secs = (performance.now() - t0) / 1000;
  running = false;
  clearInterval(reclaim);
  const pps = n / secs;
  const mbit = (pps * PACKET_BYTES * 8) / 1e6;
  line(`relay ${transport} ${PACKET_BYTES}B window ${WINDOW}`, `${Math.round(pps).toLocaleString('en-US')} packets/s  ${mbit.toFixed(0)} Mbit/s  (sent ${sent}, delivered ${received})`, {
    transport, packetBytes: PACKET_BYTES, window: WINDOW, packetsPerSec: pps, mbitPerSec: mbit, sent, received,
  });
  await Promise.all([a.close(), b.close()]);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function latency(url: string, transport: DerpTransportKind, samples = 2000): Promise<void> {
  const [a, b] = await pair(url, transport);
  b.onPacket((src, data) => b.sendPacket(src, data));
  const rtts: number[] = [];
  const payload = new Uint8Array(PACKET_BYTES);
  for (let i = 0; i < samples; i++) {
    new DataView(payload.buffer).setUint32(0, i);
    const back = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('round trip timed out')), 5000);
      const off = a.onPacket((_s, data) => {
        if (new DataView(data.buffer, data.byteOffset).getUint32(0) !== i) return;
        clearTimeout(t);
        off();
        resolve();
      });
    });
    const t0 = performance.now();
    a.sendPacket(b.publicKey, payload);
    await back;
    rtts.push(performance.now() - t0);
  }
  rtts.sort((x, y) => x - y);
  const pings: number[] = [];
  for (let i = 0; i < 200; i++) pings.push(await a.ping());
  pings.sort((x, y) => x - y);
  line(`relay ${transport} round trip A->B->A ${PACKET_BYTES}B`, `p50 ${percentile(rtts, 0.5).toFixed(3)} ms  p99 ${percentile(rtts, 0.99).toFixed(3)} ms`, {
    transport, p50Ms: percentile(rtts, 0.5), p99Ms: percentile(rtts, 0.99), samples,
  });
  line(`relay ${transport} ping/pong to relay`, `p50 ${percentile(pings, 0.5).toFixed(3)} ms  p99 ${percentile(pings, 0.99).toFixed(3)} ms`, {
    transport, p50Ms: percentile(pings, 0.5), p99Ms: percentile(pings, 0.99), samples: pings.length,
  });
  await Promise.all([a.close(), b.close()]);
}

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
  for (const transport of ['upgrade', 'websocket'] as const) await throughput(child.url, transport);
  for (const transport of ['upgrade', 'websocket'] as const) await latency(child.url, transport);
  if (CONNS > 0) await rssPerConnection(child);
} finally {
  child.proc.stdin.end();
  await new Promise((r) => child.proc.once('exit', r));
}
