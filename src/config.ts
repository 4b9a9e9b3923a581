/**
 * The tsplane config file (`tsplane run CONFIG`, `tsplane check CONFIG`) → one typed, validated
 * `TsplaneConfig`. Sections: `wireguard:` (src/config-wireguard.ts), `derp:` (the options of
 * `tsplane derp`), `dns:` (exactly the schema of src/dns/config.ts, reused on the sub-node),
 * `metrics:`, `log:`. Everything is checked before anything starts; every mistake is a
 * ConfigError naming file, line and key. Secrets (WireGuard keys, the DERP mesh key) follow the
 * NAME / NAME_file / NAME_env convention of runtime/config-file.ts and are never quoted.
 */
import { ConfigError, type ConfigNode } from './runtime/config-file.js';
import { parseDnsConfig, type DnsConfig } from './dns/config.js';
import { parseMeshKey, parseNodePrivateKey, type NodePrivateKey } from './derp/keys.js';
import { bootstrapNameError } from './derp/bootstrap-dns.js';
import { parseWireguardConfig, type ReadText, type WireguardConfig } from './config-wireguard.js';

export type { WireguardConfig, WgInterfaceConfig, WgPeerConfig } from './config-wireguard.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface HostPortConfig {
  readonly host: string;
  readonly port: number;
}

/** The `derp:` section: the same settings as `tsplane derp` flags (flag names in comments). */
export interface DerpSectionConfig {
  /** --listen */
  readonly listen: HostPortConfig;
  /** --stun-listen; undefined = no STUN (--no-stun / `stun_listen: false`). */
  readonly stunListen: HostPortConfig | undefined;
  /** --key-file (derper JSON format; created 0600 when missing). */
  readonly keyFile?: string;
  /** Inline/env/file `private_key` (`privkey:<hex>`), for mounted secrets. */
  readonly privateKey?: NodePrivateKey;
  /** --mesh-psk-file, as the `mesh_key` secret (64 hex). */
  readonly meshKey?: Uint8Array;
  readonly meshWith: readonly string[];
  readonly meshCaFile?: string;
  /** --verify-clients: allow-list file, reloaded on change and SIGHUP. */
  readonly verifyClients?: string;
  readonly verifyClientUrl?: string;
  readonly verifyClientUrlFailOpen: boolean;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly hostname?: string;
  /** --http-port (captive portal /generate_204). */
  readonly httpPort?: number;
  readonly acceptRatePerSec?: number;
  readonly acceptBurst?: number;
  /** Names resolved and served at /bootstrap-dns (derper -bootstrap-dns-names / -unpublished-…). */
  readonly bootstrapDnsNames: readonly string[];
  readonly unpublishedBootstrapDnsNames: readonly string[];
}

export interface MetricsConfig {
  /** The admin HTTP listener: /metrics and /healthz. Port 0 picks a free port. */
  readonly listen: HostPortConfig;
  /** RSS, heap, event-loop lag and the other prom-client process defaults. */
  readonly processMetrics: boolean;
}

export interface LogConfig {
  readonly level: LogLevel;
  /** auto: pretty on a TTY, JSON lines otherwise. */
  readonly format: LogFormat;
}

export interface TsplaneConfig {
  /** The file this came from (for logs and reload). */
  readonly file: string;
  readonly wireguard: WireguardConfig | undefined;
  readonly derp: DerpSectionConfig | undefined;
  readonly dns: DnsConfig | undefined;
  readonly metrics: MetricsConfig | undefined;
  readonly log: LogConfig;
  /** Upper bound on a graceful stop (SIGTERM/SIGINT) before the process exits anyway. */
  readonly stopTimeoutMs: number;
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Validates a whole tsplane config file. `readText` reads wg-quick files named by `config_file`. */
export function parseTsplaneConfig(root: ConfigNode, readText?: ReadText): TsplaneConfig {
  root.expectKeys(['wireguard', 'derp', 'dns', 'metrics', 'log', 'stop_timeout']);
  const present = (k: string): ConfigNode | undefined => {
    const n = root.get(k);
    return n === undefined || n.kind === 'null' ? undefined : n;
  };
  const wg = present('wireguard');
  const derp = present('derp');
  const dns = present('dns');
  const metrics = present('metrics');
  const config: TsplaneConfig = {
    file: root.file,
    wireguard: wg ? parseWireguardConfig(wg, readText) : undefined,
    derp: derp ? parseDerpSection(derp) : undefined,
    dns: dns ? parseDnsConfig(dns) : undefined,
    metrics: metrics ? parseMetrics(metrics) : undefined,
    log: parseLog(root.get('log')),
    stopTimeoutMs: root.get('stop_timeout')?.duration({ minMs: 100, maxMs: 300_000 }) ?? DEFAULT_STOP_TIMEOUT_MS,
  };
  if (!config.wireguard && !config.derp && !config.dns) {
    throw new ConfigError(root.file, 1, '(top level)', 'no service configured: give at least one of wireguard:, derp:, dns:');
  }
  if (config.wireguard?.magicDns && !config.dns) {
    root.require('wireguard').require('magic_dns').fail('MagicDNS names are answered by the DNS forwarder: add a dns: section');
  }
  return config;
}

function hostPort(n: ConfigNode): HostPortConfig {
  const hp = n.hostPort({ requireIp: true, allowZeroPort: true });
  return { host: hp.host, port: hp.port };
}

function parseDerpSection(n: ConfigNode): DerpSectionConfig {
  n.expectKeys([
    'listen', 'stun_listen', 'key_file', 'mesh_with', 'mesh_ca_file', 'verify_clients', 'verify_client_url',
    'verify_client_url_fail_open', 'tls', 'hostname', 'http_port', 'accept_rate', 'accept_burst',
    'bootstrap_dns_names', 'unpublished_bootstrap_dns_names',
  ], { secrets: ['private_key', 'mesh_key'] });
  const stunNode = n.get('stun_listen');
  let stunListen: HostPortConfig | undefined;
  if (stunNode === undefined) stunListen = { host: '127.0.0.1', port: 3478 };
  else if (stunNode.kind === 'boolean') {
    if (stunNode.bool()) stunNode.fail('write an address (e.g. 127.0.0.1:3478) or false');
    stunListen = undefined;
  } else stunListen = hostPort(stunNode);

  let privateKey: NodePrivateKey | undefined;
  const pk = n.secret('private_key');
  if (pk) {
    privateKey = parseNodePrivateKey(pk.reveal()) ?? secretNode(n, 'private_key').fail('not privkey:<64 hex> (value not shown: secret)');
    if (n.has('key_file')) n.require('key_file').fail('give either key_file or private_key, not both');
  }
  const mk = n.secret('mesh_key');
  const meshKey = mk ? (parseMeshKey(mk.reveal()) ?? secretNode(n, 'mesh_key').fail('want exactly 64 hex digits (value not shown: secret)')) : undefined;
  const meshWith = n.get('mesh_with')?.listOrOne().map((u) => u.url(['http', 'https']).toString()) ?? [];
  if (meshWith.length > 0 && !meshKey) n.require('mesh_with').fail('meshing needs mesh_key (or mesh_key_file / mesh_key_env)');
  const tlsNode = n.get('tls');
  let tls: DerpSectionConfig['tls'];
  if (tlsNode) {
    tlsNode.expectKeys(['cert_file', 'key_file']);
    tls = { certFile: tlsNode.require('cert_file').filePath(), keyFile: tlsNode.require('key_file').filePath() };
  }
  const positive = (k: string): number | undefined => {
    const v = n.get(k);
    if (!v) return undefined;
    return v.int({ min: 1, max: 1_000_000 });
  };
  const verifyUrl = n.get('verify_client_url');
  const hostnames = (k: string): string[] => n.get(k)?.listOrOne().map((h) => {
    const name = h.string({ maxLength: 253 });
    const problem = bootstrapNameError(name);
    return problem === undefined ? name : h.fail(problem);
  }) ?? [];
  return {
    listen: n.get('listen') ? hostPort(n.require('listen')) : { host: '127.0.0.1', port: 3340 },
    stunListen,
    ...(n.has('key_file') ? { keyFile: n.require('key_file').filePath() } : {}),
    ...(privateKey ? { privateKey } : {}),
    ...(meshKey ? { meshKey } : {}),
    meshWith,
    ...(n.has('mesh_ca_file') ? { meshCaFile: n.require('mesh_ca_file').filePath() } : {}),
    ...(n.has('verify_clients') ? { verifyClients: n.require('verify_clients').filePath() } : {}),
    ...(verifyUrl ? { verifyClientUrl: verifyUrl.url(['http', 'https']).toString() } : {}),
    verifyClientUrlFailOpen: n.get('verify_client_url_fail_open')?.bool() ?? true,
    ...(tls ? { tls } : {}),
    ...(n.has('hostname') ? { hostname: n.require('hostname').string({ maxLength: 253 }) } : {}),
    ...(n.has('http_port') ? { httpPort: n.require('http_port').port({ allowZero: true }) } : {}),
    ...(positive('accept_rate') !== undefined ? { acceptRatePerSec: positive('accept_rate')! } : {}),
    ...(positive('accept_burst') !== undefined ? { acceptBurst: positive('accept_burst')! } : {}),
    bootstrapDnsNames: hostnames('bootstrap_dns_names'),
    unpublishedBootstrapDnsNames: hostnames('unpublished_bootstrap_dns_names'),
  };
}

function secretNode(n: ConfigNode, name: string): ConfigNode {
  return n.get(name) ?? n.get(`${name}_file`) ?? n.require(`${name}_env`);
}

function parseMetrics(n: ConfigNode): MetricsConfig {
  n.expectKeys(['listen', 'process_metrics']);
  return {
    listen: hostPort(n.require('listen')),
    processMetrics: n.get('process_metrics')?.bool() ?? true,
  };
}

function parseLog(n: ConfigNode | undefined): LogConfig {
  if (n === undefined || n.kind === 'null') return { level: 'info', format: 'auto' };
  n.expectKeys(['level', 'format']);
  return {
    level: n.get('level')?.oneOf(LOG_LEVELS) ?? 'info',
    format: n.get('format')?.oneOf(LOG_FORMATS) ?? 'auto',
  };
}
