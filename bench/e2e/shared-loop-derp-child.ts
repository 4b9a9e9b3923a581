/**
 * Two DERP clients for bench/e2e/shared-loop.bench.ts, run inside the relay's namespace: A sends
 * 1 KiB packets to B for SECONDS (keeping at most WINDOW in flight, counted by B's receipts),
 * B counts them. Each payload carries a sequence number that B checks, so a corrupted or
 * misrouted packet fails the run rather than counting. Prints one JSON line
 * `{packets, bytes, seconds, mbit, bad}`.
 *   node --import tsx bench/e2e/shared-loop-derp-child.ts URL SECONDS
 */
import { DerpClient } from '../../src/derp/io/client.js';
import { generateNodePrivateKey, publicKeyOf } from '../../src/derp/keys.js';
import { SystemRng } from '../../src/runtime/rng.js';

const [url, secondsText] = process.argv.slice(2);
const SECONDS = Number(secondsText ?? 5);
const PACKET_BYTES = 1024;
/** Packets in flight; below derper's per-client queue (32) so the relay should not need to drop. */
const WINDOW = 24;
/** No receipt for this long: assume the window was dropped and send again (counted as lost). */
const STALL_MS = 200;

const rng = new SystemRng();
const ka = generateNodePrivateKey(rng);
const kb = generateNodePrivateKey(rng);
const a = new DerpClient({ url: url!, privateKey: ka, reconnect: false });
const b = new DerpClient({ url: url!, privateKey: kb, reconnect: false });
let received = 0;
let bad = 0;
let sent = 0;
/** Next sequence number B expects; a gap (a drop) moves it forward. */
let expected = 0;
let lastReceiptMs = performance.now();
let stopped = false;
b.onPacket((_src, bytes) => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seq = bytes.byteLength === PACKET_BYTES ? v.getUint32(0) : -1;
  if (seq !== expected) bad++;
  if (seq >= expected) expected = seq + 1;
  received++;
  lastReceiptMs = performance.now();
  pump();
});
await a.connect();
await b.connect();
const dst = publicKeyOf(kb);
const packet = new Uint8Array(PACKET_BYTES);
const view = new DataView(packet.buffer);

// Warm up: one packet must arrive before timing (B's registration can trail its handshake).
for (let i = 0; i < 50 && received === 0; i++) {
  view.setUint32(0, sent);
  if (a.sendPacket(dst, packet)) sent++;
  await new Promise((r) => setTimeout(r, 100));
}
const base = received;
const badBefore = bad;
const start = performance.now();
const end = start + SECONDS * 1000;
function pump(): void {
  if (sent - expected >= WINDOW && performance.now() - lastReceiptMs > STALL_MS) expected = sent;
  while (!stopped && sent - expected < WINDOW) {
    view.setUint32(0, sent);
    if (!a.sendPacket(dst, packet)) break;
    sent++;
  }
}
pump();
const timer = setInterval(pump, 5); // re-arm after local backpressure
await new Promise((r) => setTimeout(r, end - performance.now()));
stopped = true;
clearInterval(timer);
const seconds = (performance.now() - start) / 1000;
const packets = received - base;
process.stdout.write(`${JSON.stringify({ packets, bytes: packets * PACKET_BYTES, seconds, mbit: (packets * PACKET_BYTES * 8) / seconds / 1e6, bad: bad - badBefore })}\n`);
await a.close();
await b.close();
process.exit(0);
