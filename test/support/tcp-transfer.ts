/**
 * Node one-liners for a checked TCP transfer through a tunnel, run with `node -e` inside a
 * namespace: the sink prints "listening", then "<bytes> <sha256>" when the sender closes; the
 * source sends 20 MiB of random bytes and prints "<bytes> <sha256>" once everything is written.
 * Both exit on their own after 60 s at the latest.
 */

/** Receiver on `addr`:5201. */
export const TCP_SINK = (addr: string) => `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let n = 0;
setTimeout(() => process.exit(3), 60000).unref();
net.createServer((s) => { s.on('data', (d) => { h.update(d); n += d.length; }); s.on('end', () => { console.log(n + ' ' + h.digest('hex')); process.exit(0); }); })
  .listen(5201, '${addr}', () => console.log('listening'));`;

/** Sender to `addr`:5201. */
export const TCP_SOURCE = (addr: string) => `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let i = 0; const MB = 20;
setTimeout(() => process.exit(3), 60000).unref();
const s = net.connect(5201, '${addr}', () => { const w = () => { while (i < MB) { const b = crypto.randomBytes(1 << 20); h.update(b); i++; if (!s.write(b)) { s.once('drain', w); return; } } s.end(() => console.log((MB << 20) + ' ' + h.digest('hex'))); }; w(); });`;
