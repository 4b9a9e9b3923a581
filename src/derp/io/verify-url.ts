/**
 * derper's `-verify-client-url` admission controller (derp.md §3.6): POST
 * `{"NodePublic":"nodekey:<hex>","Source":"<client IP>"}` (tailcfg.DERPAdmitClientRequest) and
 * admit only on 200 with `{"Allow":true}`; 5 s timeout, at most 4 KiB of answer read. When the
 * URL cannot be reached, fail open (default, as derper) or closed.
 */
import type { Logger } from '../../runtime/log.js';
import { formatNodePublicKey, type NodePublicKey } from '../keys.js';
import type { Endpoint } from '../protocol.js';
import type { VerifyResult } from '../server.js';

export const VERIFY_URL_TIMEOUT_MS = 5_000;
export const VERIFY_URL_MAX_RESPONSE_BYTES = 4 * 1024;

export interface UrlVerifierOptions {
  url: string;
  /** Admit clients when the controller is unreachable or answers garbage. Default true. */
  failOpen?: boolean;
  timeoutMs?: number;
  logger?: Logger;
}

async function readBounded(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** `::ffff:a.b.c.d` (a dual-stack socket's view of IPv4) as plain `a.b.c.d`, as Go's Unmap. */
function unmapIp(ip: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** An asynchronous admission check for DerpServer's `verifyClient`. */
export function createUrlVerifier(opts: UrlVerifierOptions): (key: NodePublicKey, remote: Endpoint | undefined) => Promise<VerifyResult> {
  const failOpen = opts.failOpen ?? true;
  const timeoutMs = opts.timeoutMs ?? VERIFY_URL_TIMEOUT_MS;
  const unreachable = (why: string): VerifyResult => {
    opts.logger?.warn({ url: opts.url, why, failOpen }, 'admission controller unreachable');
    return failOpen ? { allow: true } : { allow: false, reason: `admission controller unreachable: ${why}` };
  };
  return async (key, remote) => {
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ NodePublic: formatNodePublicKey(key), Source: unmapIp(remote?.ip ?? '') }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return unreachable((err as Error).message);
    }
    let text: string | undefined;
    try {
      text = await readBounded(res, VERIFY_URL_MAX_RESPONSE_BYTES);
    } catch (err) {
      return unreachable((err as Error).message);
    }
    if (res.status !== 200) return unreachable(`HTTP ${res.status}`);
    if (text === undefined) return unreachable('response over 4 KiB');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return unreachable('response is not JSON');
    }
    const allow = typeof body === 'object' && body !== null && (body as { Allow?: unknown }).Allow === true;
    return allow ? { allow: true } : { allow: false, reason: 'admission controller said no' };
  };
}
