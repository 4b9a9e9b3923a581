/**
 * A relay in its own process for bench/derp/relay.bench.ts, so the relay's CPU and memory are
 * measured apart from the clients. Prints `{"url","wsUrl","pid"}` on start; on stdin, a line
 * `rss` prints `{"rss","heapUsed"}` after a full GC (run with --expose-gc); EOF closes it.
 */
import { startRelay } from '../../test/derp/support/relay.js';

const relay = await startRelay();
process.stdout.write(`${JSON.stringify({ url: relay.url, wsUrl: relay.wsUrl, pid: process.pid })}\n`);
let buf = '';
process.stdin.on('data', (d: Buffer) => {
  buf += d.toString();
  let nl: number;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (line === 'rss') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      process.stdout.write(`${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, gauges: relay.server.gauges() })}\n`);
    }
  }
});
process.stdin.on('end', () => {
  void relay.close().then(() => process.exit(0));
});
