/**
 * Starts a real DERP relay on loopback for client tests — the project's own service
 * (src/derp/io/service.ts: relay core + HTTP edge), optionally over TLS, always on port 0
 * unless a test restarts a relay on the port it had. Also makes a self-signed certificate
 * with openssl in a temp dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../../src/runtime/clock.js';
import { SystemRng } from '../../../src/runtime/rng.js';
import { createLogger } from '../../../src/runtime/log.js';
import type { DerpServer } from '../../../src/derp/server.js';
import { generateNodePrivateKey, type NodePrivateKey } from '../../../src/derp/protocol.js';
import { startDerpServer } from '../../../src/derp/io/service.js';

export interface TestRelay {
  readonly server: DerpServer;
  readonly privateKey: NodePrivateKey;
  readonly port: number;
  /** `http(s)://127.0.0.1:PORT/derp`. */
  readonly url: string;
  /** `ws(s)://127.0.0.1:PORT/derp`. */
  readonly wsUrl: string;
  close(): Promise<void>;
}

export interface SelfSignedCert {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed EC certificate for 127.0.0.1/localhost, made with openssl in a temp dir. */
export function makeSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), 'tsp-derpc-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startRelay(opts: { tls?: SelfSignedCert; meshKey?: Uint8Array; privateKey?: NodePrivateKey; port?: number; host?: '127.0.0.1' | '::1' } = {}): Promise<TestRelay> {
  const rng = new SystemRng();
  const privateKey = opts.privateKey ?? generateNodePrivateKey(rng);
  const running = await startDerpServer(
    {
      listen: { host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 },
      privateKey,
      ...(opts.meshKey ? { meshKey: opts.meshKey } : {}),
      ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    },
    { clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }) },
  );
  const port = running.address.port;
  const s = opts.tls ? 's' : '';
  const host = opts.host === '::1' ? '[::1]' : '127.0.0.1';
  return {
    server: running.core,
    privateKey,
    port,
    url: `http${s}://${host}:${port}/derp`,
    wsUrl: `ws${s}://${host}:${port}/derp`,
    close: () => running.close(),
  };
}
