/**
 * A tiny UDP relay to run inside a test's network namespace (this process cannot enter one):
 * `spawnNetnsUdpRelay(ns)` starts `node -e` there, bound to the namespace's 127.0.0.1 on an
 * ephemeral port. Protocol on stdio, one JSON object a line:
 *   stdout `{ bound: port }` once, then `{ hex, port }` per datagram received (port = sender's);
 *   stdin  `{ hex, port, count? }` sends the bytes to 127.0.0.1:port `count` times (≤ 2000).
 * It exits when stdin closes, and after 120 s in any case.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const RELAY_JS = `
const dgram = require('node:dgram');
const rl = require('node:readline').createInterface({ input: process.stdin });
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => process.stdout.write(JSON.stringify({ hex: m.toString('hex'), port: r.port }) + '\\n'));
s.bind(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ bound: s.address().port }) + '\\n'));
rl.on('line', (l) => {
  const j = JSON.parse(l);
  const b = Buffer.from(j.hex, 'hex');
  for (let i = 0; i < Math.min(j.count ?? 1, 2000); i++) s.send(b, j.port, '127.0.0.1');
});
rl.on('close', () => process.exit(0));
setTimeout(() => process.exit(0), 120000).unref();
`;

/** Starts the relay in namespace `ns`; the caller ends it by closing its stdin (or killing its pid). */
export function spawnNetnsUdpRelay(ns: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RELAY_JS], { stdio: ['pipe', 'pipe', 'inherit'] });
}
