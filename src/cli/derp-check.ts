/**
 * `tsplane derp check URL [--ws] [--mesh-key-file F] [--ca-file F] [--insecure] [--count N]
 * [--timeout-ms N]`: probes a DERP server the way Tailscale's derpprobe does. Two fresh clients
 * connect, exchange packets both ways, measure the packet round trip through the relay, check
 * Ping/Pong, and (with the mesh key) check that WatchConns reports both clients present and
 * one of them gone after it leaves. One PASS/FAIL line per check, then `N passed, N failed`;
 * exit status 0 only when nothing failed.
 */
import { readFileSync } from 'node:fs';
import { stdout } from 'node:process';
import { SystemRng } from '../runtime/rng.js';
import { toHex } from '../runtime/bytes.js';
import { generateNodePrivateKey, parseMeshKey } from '../derp/protocol.js';
import type { ClientMessage } from '../derp/client.js';
import { DerpClient } from '../derp/io/client.js';
import type { DerpTlsOptions } from '../derp/io/client-transport.js';

const USAGE = `usage: tsplane derp check URL [--ws] [--mesh-key-file FILE] [--ca-file PEM] [--insecure]
                          [--count N] [--timeout-ms MS]

  URL               http(s)://host[:port][/derp] (Upgrade: DERP) or ws(s)://… (WebSocket)
  --ws              use WebSocket (subprotocol "derp") even for an http(s) URL
  --mesh-key-file   64-hex mesh key file: also check WatchConns (PeerPresent / PeerGone)
  --ca-file         extra trusted CA certificate (PEM) for https/wss
  --insecure        do not verify the TLS certificate
  --count           packet round trips to time (default 20)
  --timeout-ms      per-check timeout (default 5000)
`;

interface CheckArgs {
  url: string;
  ws: boolean;
  meshKey?: Uint8Array;
  tls: DerpTlsOptions;
  count: number;
  timeoutMs: number;
}

/** Parses arguments; returns an error text for bad usage. */
export function parseCheckArgs(args: readonly string[]): CheckArgs | string {
  let url: string | undefined;
  let ws = false;
  let meshKey: Uint8Array | undefined;
  const tls: { ca?: string; insecureSkipVerify?: boolean } = {};
  let count = 20;
  let timeoutMs = 5000;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string | undefined => args[++i];
    if (a === '--ws') ws = true;
    else if (a === '--insecure') tls.insecureSkipVerify = true;
    else if (a === '--mesh-key-file') {
      const f = value();
      if (!f) return '--mesh-key-file needs a file';
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        return `--mesh-key-file: ${(e as Error).message}`;
      }
      meshKey = parseMeshKey(text);
      if (!meshKey) return `--mesh-key-file ${f}: not 64 hex digits`;
    } else if (a === '--ca-file') {
      const f = value();
      if (!f) return '--ca-file needs a file';
      try {
        tls.ca = readFileSync(f, 'utf8');
      } catch (e) {
        return `--ca-file: ${(e as Error).message}`;
      }
    } else if (a === '--count' || a === '--timeout-ms') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1 || n > 1_000_000) return `${a} needs a positive integer`;
      if (a === '--count') count = n;
      else timeoutMs = n;
    } else if (a === '-h' || a === '--help') return '';
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (url === undefined) url = a;
    else return `unexpected argument ${a}`;
  }
  if (!url) return 'missing URL';
  return { url, ws, tls, count, timeoutMs, ...(meshKey ? { meshKey } : {}) };
}

/** Resolves when `pred` returns a value, or rejects after `timeoutMs`. */
function waitFor<T>(client: DerpClient, timeoutMs: number, pred: (m: ClientMessage) => T | undefined, packets = false): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const check = (m: ClientMessage): void => {
      const v = pred(m);
      if (v !== undefined) {
        clearTimeout(t);
        unsubscribe();
        resolve(v);
      }
    };
    const unsubscribe = packets ? client.onPacket((source, data) => check({ type: 'receivedPacket', source, data })) : client.onMessage(check);
    const t = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

function ms(n: number): string {
  return `${n.toFixed(2)} ms`;
}

/** Runs the checks against `args`; prints results; returns the exit status. */
export async function runDerpCheck(args: string[]): Promise<number> {
  const parsed = parseCheckArgs(args);
  if (typeof parsed === 'string') {
    stdout.write(parsed === '' ? USAGE : `tsplane derp check: ${parsed}\n${USAGE}`);
    return parsed === '' ? 0 : 2;
  }
  const a = parsed;
  const rng = new SystemRng();
  let passed = 0;
  let failed = 0;
  const report = (ok: boolean, name: string, detail: string): void => {
    if (ok) passed++;
    else failed++;
    stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}\n`);
  };
  const check = async (name: string, needs: boolean, fn: () => Promise<string>): Promise<boolean> => {
    if (!needs) {
      report(false, name, 'not run: an earlier check failed');
      return false;
    }
    try {
      report(true, name, await fn());
      return true;
    } catch (e) {
      report(false, name, e instanceof Error ? e.message : String(e));
      return false;
    }
  };
  const common = {
    url: a.url,
    tls: a.tls,
    reconnect: false,
    dialTimeoutMs: a.timeoutMs,
    isProber: true,
    ...(a.ws ? { transport: 'websocket' as const } : {}),
  };
  const clientA = new DerpClient({ ...common, privateKey: generateNodePrivateKey(rng) });
  const clientB = new DerpClient({ ...common, privateKey: generateNodePrivateKey(rng) });
  const watcher = a.meshKey ? new DerpClient({ ...common, privateKey: generateNodePrivateKey(rng), meshKey: a.meshKey }) : undefined;
  try {
    const connect = async (c: DerpClient): Promise<string> => {
      const t0 = performance.now();
      await c.connect();
      return `connected in ${ms(performance.now() - t0)} (server nodekey:${toHex(c.serverKey!)})`;
    };
    const okA = await check('connect client A', true, () => connect(clientA));
    const okB = await check('connect client B', true, () => connect(clientB));
    const both = okA && okB;

    const oneWay = async (from: DerpClient, to: DerpClient): Promise<string> => {
      const payload = rng.fill(new Uint8Array(1200));
      const hex = toHex(payload);
      const got = waitFor(to, a.timeoutMs, (m) => (m.type === 'receivedPacket' && toHex(m.data) === hex ? toHex(m.source) : undefined), true);
      // The relay drops packets for keys it has not registered yet; resend until one arrives.
      const resend = setInterval(() => from.sendPacket(to.publicKey, payload), 100);
      from.sendPacket(to.publicKey, payload);
      try {
        const src = await got;
        if (src !== toHex(from.publicKey)) throw new Error('packet arrived with the wrong source key');
        return '1200-byte packet delivered with the right source key';
      } finally {
        clearInterval(resend);
      }
    };
    await check('packet A -> B', both, () => oneWay(clientA, clientB));
    await check('packet B -> A', both, () => oneWay(clientB, clientA));

    await check('packet round trip A -> B -> A', both, async () => {
      clientB.onPacket((src, data) => {
        if (data[0] === 0x52) clientB.sendPacket(src, data);
      });
      const samples: number[] = [];
      for (let i = 0; i < a.count; i++) {
        const payload = rng.fill(new Uint8Array(64));
        payload[0] = 0x52; // 'R': echo me
        const hex = toHex(payload);
        const back = waitFor(clientA, a.timeoutMs, (m) => (m.type === 'receivedPacket' && toHex(m.data) === hex ? true : undefined), true);
        const t0 = performance.now();
        clientA.sendPacket(clientB.publicKey, payload);
        await back;
        samples.push(performance.now() - t0);
      }
      samples.sort((x, y) => x - y);
      const p50 = samples[Math.floor(samples.length / 2)]!;
      const p99 = samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))]!;
      return `${a.count} round trips, p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(samples.at(-1)!)}`;
    });

    await check('ping/pong', okA, async () => `round trip ${ms(await clientA.ping(a.timeoutMs))}`);

    if (watcher) {
      let okW = false;
      await check('connect mesh watcher', both, async () => {
        const r = await connect(watcher);
        okW = true;
        return r;
      });
      await check('watch conns: peer present', okW, async () => {
        const want = new Set([toHex(clientA.publicKey), toHex(clientB.publicKey)]);
        const seen = waitFor(watcher, a.timeoutMs, (m) => {
          if (m.type === 'peerPresent') want.delete(toHex(m.peer));
          return want.size === 0 ? true : undefined;
        });
        if (!watcher.watchConns()) throw new Error('could not send WatchConns');
        await seen;
        return 'both clients announced';
      });
      await check('watch conns: peer gone', okW, async () => {
        const gone = waitFor(watcher, a.timeoutMs, (m) => (m.type === 'peerGone' && toHex(m.peer) === toHex(clientB.publicKey) ? m.reason : undefined));
        await clientB.close();
        return `client B reported gone (reason ${String(await gone)})`;
      });
    }
  } finally {
    await Promise.all([clientA.close(), clientB.close(), watcher?.close()]);
  }
  stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
