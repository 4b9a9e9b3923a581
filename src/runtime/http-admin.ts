/**
 * The admin HTTP listener of `tsplane run`: `GET /metrics` (Prometheus text of every service's
 * registry plus the process registry, concatenated) and `GET /healthz` (JSON, one entry per
 * service; 200 only when all are healthy, 503 otherwise). Anything else is 404; only GET and
 * HEAD are served. Meant for loopback or a cluster-internal address: it has no auth.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import type { Registry } from './metrics.js';

/** One service's health as /healthz reports it. */
export interface ServiceHealth {
  readonly healthy: boolean;
  /** Short, log-safe facts (addresses, counts, the reason when unhealthy). */
  readonly detail?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

export interface AdminHttpOptions {
  readonly listen: { readonly host: string; readonly port: number };
  /** The registries to serve, asked on every scrape (services replace theirs on restart). */
  readonly registries: () => readonly Registry[];
  readonly health: () => Readonly<Record<string, ServiceHealth>>;
  readonly logger: Logger;
}

export interface AdminHttp {
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

/** Scrapes that take longer than this are answered 503 (a collector stuck on I/O must not pile up requests). */
const SCRAPE_TIMEOUT_MS = 10_000;

/** Starts the admin listener; resolves once it is bound. */
export async function startAdminHttp(opts: AdminHttpOptions): Promise<AdminHttp> {
  const server: Server = createServer((req, res) => handle(req, res, opts));
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.logger.error({ err: err.message }, 'admin http: listener error'));
  const a = server.address() as AddressInfo;
  const address = { host: a.address, port: a.port };
  opts.logger.info({ address: `${a.address}:${a.port}` }, 'admin http: serving /metrics and /healthz');
  return {
    address,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, opts: AdminHttpOptions): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') {
    const services = opts.health();
    const healthy = Object.values(services).every((s) => s.healthy);
    res.writeHead(healthy ? 200 : 503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : `${JSON.stringify({ healthy, services })}\n`);
    return;
  }
  if (path === '/metrics') {
    const registries = opts.registries();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('scrape timed out')), SCRAPE_TIMEOUT_MS);
    });
    Promise.race([Promise.all(registries.map((r) => r.metrics())), timeout]).then(
      (texts) => {
        clearTimeout(timer);
        res.writeHead(200, { 'Content-Type': registries[0]?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(req.method === 'HEAD' ? undefined : texts.filter((t) => t !== '').map((t) => (t.endsWith('\n') ? t : `${t}\n`)).join(''));
      },
      (err: unknown) => {
        clearTimeout(timer);
        opts.logger.warn({ err: (err as Error).message }, 'admin http: /metrics failed');
        if (!res.headersSent) res.writeHead(503, { 'Content-Type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
    return;
  }
  if (path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('tsplane: /metrics /healthz\n');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
}
