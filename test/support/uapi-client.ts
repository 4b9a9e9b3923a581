/**
 * A client for a WireGuard UAPI socket (wireguard.md §2.2) as the e2e suites use it against
 * wireguard-go: one request, the reply text up to its `errno=N` line, bounded in time.
 */
import { createConnection } from 'node:net';

/** Sends `request` to the socket at `path`; resolves with the reply text, rejects unless errno=0 or on timeout. */
export function uapiRequest(path: string, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('uapi timeout'));
    }, timeoutMs);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d) => {
      text += d.toString('utf8');
      if (/errno=-?\d+\n\n$/.test(text)) {
        clearTimeout(timer);
        sock.end();
        if (!text.includes('errno=0\n')) reject(new Error(`uapi: ${text}`));
        else resolve(text);
      }
    });
    sock.write(request);
  });
}

/** `key=value` reply lines as key → values in order (keys repeat once per peer and per allowed IP). */
export function uapiValues(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** Per-peer values of a `get=1` reply, keyed by public key hex. */
export function uapiPeers(text: string): Map<string, Map<string, string>> {
  const peers = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n').filter(Boolean)) {
    const [k, v] = [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)];
    if (k === 'public_key') peers.set(v, (current = new Map()));
    else current?.set(k, v);
  }
  return peers;
}
