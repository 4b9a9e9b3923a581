/**
 * `tsplane derp …`: run a DERP relay (derper-compatible), print a DERP map for it, or probe one.
 *
 *   tsplane derp [--listen HOST:PORT] [--stun-listen HOST:PORT | --no-stun] [--key-file F]
 *                [--mesh-psk-file F] [--mesh-with URL[,URL]] [--mesh-ca-file PEM]
 *                [--verify-clients FILE] [--verify-client-url URL] [--verify-client-url-fail-open B]
 *                [--tls-cert PEM --tls-key PEM] [--hostname H]
 *                [--accept-rate N] [--accept-burst N] [--log-level L]
 *   tsplane derp map --region-id N --region-code C --hostname H [--stun-port N] [--derp-port N] …
 *   tsplane derp check URL …   (src/cli/derp-check.ts)
 */
import { readFileSync } from 'node:fs';
import { stderr, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { SystemClock } from '../runtime/clock.js';
import { createLogger } from '../runtime/log.js';
import { createRegistry } from '../runtime/metrics.js';
import { SystemRng } from '../runtime/rng.js';
import { generateNodePrivateKey, parseMeshKey, type NodePrivateKey } from '../derp/keys.js';
import { loadOrCreateKeyFile } from '../derp/io/key-file.js';
import { startDerpServer, type DerpServiceOptions } from '../derp/io/service.js';
import { buildDerpMap, formatDerpMapYaml, type DerpMapOptions } from '../derp/derp-map.js';
import { runDerpCheck } from './derp-check.js';
import { bootstrapNameError } from '../derp/bootstrap-dns.js';

const USAGE = `usage: tsplane derp [options]            run a DERP relay (Upgrade: DERP and WebSocket on /derp)
       tsplane derp map [options]        print DERP map JSON for a relay
       tsplane derp check URL [options]  probe a DERP relay (tsplane derp check --help)

relay options:
  --listen HOST:PORT       HTTP(S) listen address (default 127.0.0.1:3340)
  --stun-listen HOST:PORT  STUN (UDP) listen address (default 127.0.0.1:3478)
  --no-stun                do not run the STUN responder
  --key-file FILE          server key, derper format {"PrivateKey":"privkey:…"}; created 0600 if
                           missing (default: a random key for this run only)
  --mesh-psk-file FILE     mesh key (64 hex); clients presenting it may watch/forward/close peers
  --mesh-with URL[,URL]    sibling relays to mesh with (https://host/derp); needs --mesh-psk-file
  --mesh-ca-file PEM       extra CA to trust when dialling mesh siblings
  --verify-clients FILE    allow-list of nodekey:… lines; reloaded on change and on SIGHUP
  --verify-client-url URL  admission controller: POST {"NodePublic","Source"}, admit on {"Allow":true}
  --verify-client-url-fail-open true|false   admit when the URL is unreachable (default true)
  --tls-cert PEM, --tls-key PEM   serve HTTPS (Tailscale clients require TLS)
  --hostname H             name shown on the status page
  --http-port N            also serve /generate_204 on plain HTTP port N (derper -http-port)
  --accept-rate N, --accept-burst N   new connections per second (default unlimited)
  --bootstrap-dns-names H[,H]   resolve these names every 10 min and serve them at /bootstrap-dns
  --unpublished-bootstrap-dns-names H[,H]   same, but only answered for /bootstrap-dns?q=H
  --log-level L            trace|debug|info|warn|error|silent (default info)

map options:
  --region-id N (900–999 are for your own relays)  --region-code C  --hostname H
  [--region-name S] [--node-name S] [--stun-port N] [--derp-port N] [--ipv4 A] [--ipv6 A]
  [--cert-name S] [--can-port80] [--omit-default-regions]
  [--format json|yaml]   yaml: lower-case keys for Headscale's derp.paths file (default json)
`;

/** Parses `HOST:PORT` or `[V6]:PORT`. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 0 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

export async function runDerp(args: string[]): Promise<number> {
  if (args[0] === 'check') return runDerpCheck(args.slice(1));
  if (args[0] === 'map') return runDerpMap(args.slice(1));
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        listen: { type: 'string', default: '127.0.0.1:3340' },
        'stun-listen': { type: 'string', default: '127.0.0.1:3478' },
        'no-stun': { type: 'boolean', default: false },
        'key-file': { type: 'string' },
        'mesh-psk-file': { type: 'string' },
        'mesh-with': { type: 'string' },
        'mesh-ca-file': { type: 'string' },
        'verify-clients': { type: 'string' },
        'verify-client-url': { type: 'string' },
        'verify-client-url-fail-open': { type: 'string', default: 'true' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        hostname: { type: 'string' },
        'http-port': { type: 'string' },
        'accept-rate': { type: 'string' },
        'accept-burst': { type: 'string' },
        'bootstrap-dns-names': { type: 'string' },
        'unpublished-bootstrap-dns-names': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    stderr.write(`tsplane derp: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    stdout.write(USAGE);
    return 0;
  }
  const usage = (msg: string): number => {
    stderr.write(`tsplane derp: ${msg}\n`);
    return 2;
  };
  const listen = parseHostPort(v.listen!);
  if (!listen) return usage(`--listen: want HOST:PORT, got ${v.listen}`);
  const stunAt = v['no-stun'] ? undefined : parseHostPort(v['stun-listen']!);
  if (!v['no-stun'] && !stunAt) return usage(`--stun-listen: want HOST:PORT, got ${v['stun-listen']}`);
  if ((v['tls-cert'] === undefined) !== (v['tls-key'] === undefined)) return usage('--tls-cert and --tls-key go together');
  const numberFlag = (text: string | undefined): number | undefined | null => {
    if (text === undefined) return undefined;
    const n = Number(text);
    return Number.isFinite(n) && n > 0 ? n : null;
  };
  const acceptRate = numberFlag(v['accept-rate']);
  const acceptBurst = numberFlag(v['accept-burst']);
  if (acceptRate === null || acceptBurst === null) return usage('--accept-rate/--accept-burst: want a positive number');
  if (v['verify-client-url-fail-open'] !== 'true' && v['verify-client-url-fail-open'] !== 'false') return usage('--verify-client-url-fail-open: want true or false');
  let httpPort: number | undefined;
  if (v['http-port'] !== undefined) {
    httpPort = Number(v['http-port']);
    if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) return usage('--http-port: want 0–65535');
  }
  const meshWith = v['mesh-with']?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
  const bootstrapNames = (flag: 'bootstrap-dns-names' | 'unpublished-bootstrap-dns-names'): string[] =>
    v[flag]?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
  const published = bootstrapNames('bootstrap-dns-names');
  const unpublished = bootstrapNames('unpublished-bootstrap-dns-names');
  for (const name of [...published, ...unpublished]) {
    const problem = bootstrapNameError(name);
    if (problem !== undefined) return usage(`--bootstrap-dns-names: ${problem}`);
  }

  const logger = createLogger({ level: v['log-level'] as LevelWithSilent });
  const rng = new SystemRng();
  const clock = new SystemClock();
  let privateKey: NodePrivateKey;
  if (v['key-file']) {
    const k = loadOrCreateKeyFile(v['key-file'], rng);
    privateKey = k.privateKey;
    if (k.created) logger.info({ path: v['key-file'] }, 'derp: created a new server key file (mode 0600)');
  } else {
    privateKey = generateNodePrivateKey(rng);
    logger.warn('derp: no --key-file: using a random server key for this run only');
  }
  let meshKey: Uint8Array | undefined;
  if (v['mesh-psk-file']) {
    meshKey = parseMeshKey(readFileSync(v['mesh-psk-file'], 'utf8'));
    if (!meshKey) return usage(`--mesh-psk-file ${v['mesh-psk-file']}: want exactly 64 hex digits`);
    logger.info('DERP mesh key configured');
  } else {
    logger.info('No mesh key configured');
  }
  if (meshWith.length > 0 && !meshKey) return usage('--mesh-with needs --mesh-psk-file');

  const options: DerpServiceOptions = {
    listen,
    privateKey,
    ...(meshKey ? { meshKey } : {}),
    ...(v['tls-cert'] && v['tls-key'] ? { tls: { cert: readFileSync(v['tls-cert']), key: readFileSync(v['tls-key']) } } : {}),
    ...(v.hostname ? { hostname: v.hostname } : {}),
    ...(v['verify-clients'] ? { verifyClientsFile: v['verify-clients'] } : {}),
    ...(v['verify-client-url'] ? { verifyClientUrl: v['verify-client-url'], verifyClientUrlFailOpen: v['verify-client-url-fail-open'] === 'true' } : {}),
    ...(acceptRate !== undefined ? { acceptRatePerSec: acceptRate } : {}),
    ...(acceptBurst !== undefined ? { acceptBurst } : {}),
    ...(stunAt ? { stun: stunAt } : {}),
    ...(httpPort !== undefined ? { captivePortalListen: { host: listen.host, port: httpPort } } : {}),
    ...(meshWith.length > 0 ? { meshWith } : {}),
    ...(v['mesh-ca-file'] ? { meshTls: { ca: readFileSync(v['mesh-ca-file']) } } : {}),
    bootstrapDnsNames: { published, unpublished },
  };
  const registry = createRegistry({ processMetrics: true });
  const running = await startDerpServer(options, { clock, rng, logger, registry });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'derp: shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

function runDerpMap(args: string[]): number {
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        'region-id': { type: 'string' },
        'region-code': { type: 'string' },
        'region-name': { type: 'string' },
        hostname: { type: 'string' },
        'node-name': { type: 'string' },
        'stun-port': { type: 'string' },
        'derp-port': { type: 'string' },
        ipv4: { type: 'string' },
        ipv6: { type: 'string' },
        'cert-name': { type: 'string' },
        'can-port80': { type: 'boolean', default: false },
        'omit-default-regions': { type: 'boolean', default: false },
        format: { type: 'string', default: 'json' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    stderr.write(`tsplane derp map: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const opts: Partial<DerpMapOptions> = {
    regionId: v['region-id'] === undefined ? undefined : Number(v['region-id']),
    regionCode: v['region-code'],
    hostName: v.hostname,
    ...(v['region-name'] ? { regionName: v['region-name'] } : {}),
    ...(v['node-name'] ? { nodeName: v['node-name'] } : {}),
    ...(v['stun-port'] !== undefined ? { stunPort: Number(v['stun-port']) } : {}),
    ...(v['derp-port'] !== undefined ? { derpPort: Number(v['derp-port']) } : {}),
    ...(v.ipv4 ? { ipv4: v.ipv4 } : {}),
    ...(v.ipv6 ? { ipv6: v.ipv6 } : {}),
    ...(v['cert-name'] ? { certName: v['cert-name'] } : {}),
    canPort80: v['can-port80'],
    omitDefaultRegions: v['omit-default-regions'],
  };
  if (v.format !== 'json' && v.format !== 'yaml') {
    stderr.write('tsplane derp map: --format: want json (Tailscale, derp.urls) or yaml (Headscale derp.paths)\n');
    return 2;
  }
  const r = buildDerpMap(opts);
  if (!r.ok) {
    stderr.write(`tsplane derp map: ${r.problem}\n`);
    return 2;
  }
  stdout.write(v.format === 'yaml' ? formatDerpMapYaml(r.map) : `${JSON.stringify(r.map, null, 2)}\n`);
  return 0;
}
