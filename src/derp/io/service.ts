/**
 * Starts a DERP relay: the sans-IO core, its deadlines on the process scheduler, the HTTP(S)
 * edge, Prometheus metrics and the optional verify-clients allow-list. `tsplane derp` uses it;
 * `tsplane run` can embed it with its own clock, logger, registry and scheduler.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import type { Registry } from '../../runtime/metrics.js';
import type { Rng } from '../../runtime/rng.js';
import { Scheduler, type DeadlineSource } from '../../runtime/loop.js';
import { TsplaneError } from '../../runtime/errors.js';
import { formatNodePublicKey, keyHex, shortKey, type NodePrivateKey, type NodePublicKey } from '../keys.js';
import { createUrlVerifier } from './verify-url.js';
import { DerpServer, type DerpServerEvent } from '../server.js';
import { attachCaptivePortalHttp, attachDerpHttp, type DerpHttpHandle } from './http.js';
import { registerDerpMetrics } from './metrics.js';
import { watchAllowList } from './allow-list.js';
import { startMesh } from './mesh.js';
import { StunListener } from './stun.js';
import { buildMetaCert, certificatePem } from '../meta-cert.js';
import { BootstrapDns, type BootstrapDnsNames } from '../bootstrap-dns.js';
import type { DerpTlsOptions } from './client-transport.js';

export interface DerpServiceOptions {
  /** Listen address; port 0 picks a free port (see `address`). */
  listen: { host: string; port: number };
  privateKey: NodePrivateKey;
  /** Mesh pre-shared key, 32 bytes. */
  meshKey?: Uint8Array;
  /**
   * PEM certificate chain and key; without them the listener speaks plain HTTP. Unless
   * `metaCert` is false, derper's meta certificate is appended to the chain (fast start, §2.4).
   */
  tls?: { cert: string | Buffer; key: string | Buffer; metaCert?: boolean };
  hostname?: string;
  /** Allow-list file of node keys (`--verify-clients`), reloaded on change or SIGHUP. */
  verifyClientsFile?: string;
  /** Admission controller URL (`--verify-client-url`), asked after the allow-list. */
  verifyClientUrl?: string;
  /** Admit clients when the URL is unreachable (default true, as derper). */
  verifyClientUrlFailOpen?: boolean;
  acceptRatePerSec?: number;
  acceptBurst?: number;
  /** Plain-HTTP captive-portal listener (derper `-http-port`): serves only /generate_204. */
  captivePortalListen?: { host: string; port: number };
  /** STUN responder address (derper `-stun`, same IP as the HTTP listener by default). */
  stun?: { host: string; port: number };
  /** Names served at /bootstrap-dns (`--bootstrap-dns-names`, `--unpublished-bootstrap-dns-names`). */
  bootstrapDnsNames?: BootstrapDnsNames;
  /** Resolver for those names (default: the system's, dns.lookup); tests inject one. */
  bootstrapDnsLookup?: (name: string) => Promise<readonly string[]>;
  /** Sibling relays to mesh with (`--mesh-with`); needs `meshKey`. */
  meshWith?: readonly string[];
  /** TLS trust for dialling mesh siblings (e.g. their self-signed CA). */
  meshTls?: DerpTlsOptions;
  /** ClientInfo deadline in ms (default 10 s, as derper). */
  handshakeTimeoutMs?: number;
  /** Restarting frame sent on close: when to reconnect and for how long to try (ms). */
  restartReconnectInMs?: number;
  restartTryForMs?: number;
}

export interface DerpServiceDeps {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  /** Registry for /metrics and the derp collectors; none disables /metrics. */
  registry?: Registry;
  /** The process scheduler; a private one is made (and stopped on close) when absent. */
  scheduler?: Scheduler;
}

export interface RunningDerpServer {
  readonly address: { host: string; port: number };
  /** `http://host:port` or `https://…`, for clients and tests. */
  readonly url: string;
  readonly publicKey: NodePublicKey;
  readonly core: DerpServer;
  readonly http: DerpHttpHandle;
  readonly httpServer: HttpServer;
  /** The STUN responder, when enabled. */
  readonly stun: StunListener | undefined;
  /** The captive-portal listener's address, when enabled. */
  readonly captivePortalAddress: { host: string; port: number } | undefined;
  /** Sends Restarting to every client, closes everything; resolves when the listener is closed. */
  close(): Promise<void>;
}

/** How long close() lets goodbye frames drain before destroying sockets. */
const CLOSE_GRACE_MS = 1_000;

export async function startDerpServer(options: DerpServiceOptions, deps: DerpServiceDeps): Promise<RunningDerpServer> {
  const { clock, rng, logger } = deps;
  if (options.meshWith && options.meshWith.length > 0 && !options.meshKey) {
    throw new TsplaneError('DERP_ERR_MESH', '--mesh-with needs a mesh key (--mesh-psk-file)');
  }
  const log = logger.child({ svc: 'derp' });
  const core = new DerpServer({
    privateKey: options.privateKey,
    clock,
    rng,
    ...(options.meshKey ? { meshKey: options.meshKey } : {}),
    ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
    onEvent: (e) => logEvent(log, e),
  });
  const ownScheduler = deps.scheduler === undefined;
  const scheduler = deps.scheduler ?? new Scheduler(clock);
  const source: DeadlineSource = { nextDeadline: () => core.nextDeadline(), onDeadline: (now) => core.poll(now) };
  scheduler.add(source);

  let stopWatching: (() => void) | undefined;
  let allowList: ReadonlySet<string> | undefined;
  const urlVerifier = options.verifyClientUrl
    ? createUrlVerifier({ url: options.verifyClientUrl, logger: log, ...(options.verifyClientUrlFailOpen !== undefined ? { failOpen: options.verifyClientUrlFailOpen } : {}) })
    : undefined;
  if (options.verifyClientsFile) {
    stopWatching = watchAllowList(options.verifyClientsFile, log, (list) => {
      allowList = list.keys;
    });
  }
  if (allowList || urlVerifier) {
    core.setVerifyClient((key, _info, remote) => {
      if (allowList && !allowList.has(keyHex(key))) return { allow: false, reason: 'not in verify-clients allow-list' };
      return urlVerifier ? urlVerifier(key, remote) : { allow: true };
    });
  }

  const bootstrapDns = startBootstrapDns(options, scheduler, clock, log);
  const startedMs = clock.monotonicMs();
  // Declared before the HTTP edge: /debug/varz reads it from the first request on.
  let stun: StunListener | undefined;

  let certChain = options.tls?.cert;
  if (options.tls && options.tls.metaCert !== false) {
    // One chain: the real certificates, then the meta certificate (derper's order).
    const meta = certificatePem(buildMetaCert(core.publicKey, clock.wallTimeMs(), rng));
    certChain = `${String(options.tls.cert).trimEnd()}\n${meta}`;
  }
  const httpServer: HttpServer = options.tls
    ? (createHttpsServer({ cert: certChain, key: options.tls.key, minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }) as unknown as HttpServer)
    : createHttpServer();
  const http = attachDerpHttp(httpServer, {
    server: core,
    logger: log,
    clock,
    kick: () => scheduler.kick(),
    ...(deps.registry ? { registry: deps.registry } : {}),
    ...(options.acceptRatePerSec !== undefined ? { acceptRatePerSec: options.acceptRatePerSec } : {}),
    ...(options.acceptBurst !== undefined ? { acceptBurst: options.acceptBurst } : {}),
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
    ...(bootstrapDns ? { bootstrapDns: bootstrapDns.core } : {}),
    varz: () => ({
      stats: core.stats,
      gauges: core.gauges(),
      websocketAccepts: http.stats.websocketAccepts,
      ...(stun ? { stun: stun.counters } : {}),
      uptimeSeconds: (clock.monotonicMs() - startedMs) / 1000,
    }),
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.listen.port, options.listen.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  httpServer.on('error', (err) => log.error({ err: err.message }, 'derp: listener error'));
  const bound = httpServer.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  const hostForUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
  const url = `${options.tls ? 'https' : 'http'}://${hostForUrl}:${address.port}`;
  log.info({ address: url, publicKey: formatNodePublicKey(core.publicKey), tls: options.tls !== undefined, meshKey: core.hasMeshKey }, `derper: serving on ${address.host}:${address.port}${options.tls ? ' with TLS' : ''}`);

  try {
    stun = options.stun ? await StunListener.listen({ host: options.stun.host, port: options.stun.port }) : undefined;
  } catch (err) {
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    scheduler.remove(source);
    if (bootstrapDns) scheduler.remove(bootstrapDns.source);
    if (ownScheduler) scheduler.stop();
    stopWatching?.();
    throw new TsplaneError('DERP_ERR_STUN', `STUN listen on ${options.stun!.host}:${options.stun!.port}: ${(err as Error).message}`, { cause: err });
  }
  if (stun) log.info({ address: stun.address() }, `STUN server listening on ${stun.address().address}:${stun.address().port}`);
  if (deps.registry) registerDerpMetrics(deps.registry, core, http.stats, stun?.counters);
  let portal: HttpServer | undefined;
  let captivePortalAddress: { host: string; port: number } | undefined;
  if (options.captivePortalListen) {
    const p = createHttpServer();
    attachCaptivePortalHttp(p);
    await new Promise<void>((resolve, reject) => {
      p.once('error', reject);
      p.listen(options.captivePortalListen!.port, options.captivePortalListen!.host, () => resolve());
    }).catch(async (err: unknown) => {
      await stun?.close();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      scheduler.remove(source);
      if (bootstrapDns) scheduler.remove(bootstrapDns.source);
      if (ownScheduler) scheduler.stop();
      stopWatching?.();
      throw new TsplaneError('DERP_ERR_HTTP_PORT', `captive-portal listen: ${(err as Error).message}`, { cause: err });
    });
    portal = p;
    const a = p.address() as AddressInfo;
    captivePortalAddress = { host: a.address, port: a.port };
    log.info({ address: captivePortalAddress }, 'derp: serving /generate_204 on plain HTTP');
  }
  const mesh = options.meshWith && options.meshWith.length > 0 && options.meshKey
    ? startMesh({
      server: core, serverPrivateKey: options.privateKey, meshKey: options.meshKey, urls: options.meshWith,
      log, clock, rng, scheduler, ...(options.meshTls ? { tls: options.meshTls } : {}),
    })
    : undefined;
  if (mesh) log.info({ siblings: options.meshWith }, 'DERP mesh key configured; meshing');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching?.();
      await mesh?.close();
      await stun?.close();
      if (portal) {
        const p = portal;
        await new Promise<void>((resolve) => {
          p.close(() => resolve());
          p.closeAllConnections();
        });
      }
      core.shutdown(options.restartReconnectInMs ?? 1_000, options.restartTryForMs ?? 60_000);
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await http.waitForSockets(CLOSE_GRACE_MS);
      http.destroyAll();
      await closed;
      scheduler.remove(source);
      if (bootstrapDns) scheduler.remove(bootstrapDns.source);
      if (ownScheduler) scheduler.stop();
    })();
    return closing;
  };

  return { address, url, publicKey: core.publicKey, core, http, httpServer, stun, captivePortalAddress, close };
}

/** Resolves the bootstrap names now and every refresh period, on the process scheduler. */
function startBootstrapDns(options: DerpServiceOptions, scheduler: Scheduler, clock: Clock, log: Logger): { core: BootstrapDns; source: DeadlineSource } | undefined {
  const names = options.bootstrapDnsNames;
  if (!names || names.published.length + names.unpublished.length === 0) return undefined;
  const lookup = options.bootstrapDnsLookup ?? (async (name: string) => (await dnsLookup(name, { all: true, verbatim: true })).map((a) => a.address));
  const core = new BootstrapDns(names, clock.monotonicMs());
  const source: DeadlineSource = {
    nextDeadline: () => core.nextDeadline(),
    onDeadline(now) {
      for (const name of core.poll(now)) {
        lookup(name).then(
          (addresses) => core.resolved(name, addresses),
          (err: unknown) => log.warn({ name, err: (err as Error).message }, `bootstrap DNS lookup ${JSON.stringify(name)} failed; keeping the last answer`),
        );
      }
    },
  };
  scheduler.add(source);
  return { core, source };
}

function logEvent(log: Logger, e: DerpServerEvent): void {
  switch (e.type) {
    case 'client-connected':
      log.debug({ id: e.id, remote: e.remote, mesh: e.mesh }, `derp client ${shortKey(e.key)}: connected`);
      return;
    case 'client-rejected':
      log.info({ id: e.id }, `derp: client ${formatNodePublicKey(e.key)} rejected: ${e.reason}`);
      return;
    case 'client-closed':
      if (e.reason === 'transport-closed' || e.reason === 'server-shutdown') log.debug({ id: e.id, reason: e.reason }, 'derp: connection closed');
      else log.info({ id: e.id, reason: e.reason, detail: e.detail, key: e.key ? shortKey(e.key) : undefined }, 'derp: connection closed');
      return;
    case 'close-peer':
      log.info({ id: e.id }, `frameClosePeer closing peer ${formatNodePublicKey(e.target)}`);
      return;
  }
}
