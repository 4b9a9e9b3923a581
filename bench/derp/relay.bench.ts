/**
 * DERP relay macro benchmark on loopback (relay in a child process, clients here):
 *  1. throughput between two clients at 1200-byte packets, Upgrade: DERP and WebSocket, with a
 *     window of packets in flight (the relay's per-recipient queue is 32 packets, head drop);
 *  2. packet round trip A → relay → B → relay → A, p50/p99, and DERP Ping/Pong to the relay.
 * Memory per idle connection at 10,000 connections is the long bench/e2e/derp-idle-conns.bench.ts.
 *
 * Run: `npm run bench derp/relay` (or `node --import tsx bench/derp/relay.bench.ts`).
 * Knobs: DERP_BENCH_SECONDS (throughput seconds per transport, default 3), DERP_BENCH_WINDOW
 * (packets in flight, default 32). The machine is shared: quote medians of several runs.
 */
import { crossValidate } from '../harness.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { DerpClient } from '../../src/derp/io/client.js';
import type { DerpTransportKind } from '../../src/derp/io/client-transport.js';
import { line, startChild } from './support.js';

const SECONDS = Number(process.env.DERP_BENCH_SECONDS ?? 3);
const WINDOW = Number(process.env.DERP_BENCH_WINDOW ?? 32);
const PACKET_BYTES = 1200;
const rng = new SystemRng();

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

const child = await startChild();
try {
  for (const transport of ['upgrade', 'websocket'] as const) await throughput(child.url, transport);
  for (const transport of ['upgrade', 'websocket'] as const) await latency(child.url, transport);
} finally {
  child.proc.stdin.end();
  await new Promise((r) => child.proc.once('exit', r));
}
