/**
 * `tsplane run`'s supervisor: starts the services of one validated `TsplaneConfig` on this
 * process's single event loop — one Scheduler, one logger, one admin HTTP listener — and
 * applies a reloaded config (SIGHUP) with the least disruption each service allows:
 *   - DNS: `local` records/zones are swapped in place (answers change at once, the cache and
 *     in-flight queries stay); any other change (routes, upstreams, lists, listeners) restarts
 *     the DNS service; blocklist files are re-read on every reload;
 *   - DERP: the verify-clients allow-list is re-read by the relay's own SIGHUP hook; other
 *     changes restart the relay (clients get `restarting` and reconnect), keeping its key;
 *   - WireGuard: peers are diffed and applied with Device.configure (unchanged peers keep
 *     their sessions); see wireguard-runner.ts;
 *   - metrics listener and log level are applied too.
 * Each service owns a prom-client registry; /metrics concatenates them with the process one,
 * so a restarted service starts from fresh counters instead of colliding with its old ones.
 */
import { readFileSync } from 'node:fs';
import type { DerpSectionConfig, TsplaneConfig } from '../config.js';
import { magicDnsPeers } from '../config-wireguard.js';
import { reconfigurable, startDnsService, type DnsService } from '../cli/dns.js';
import { createLocalStore } from '../dns/io/filtering.js';
import { peerRecords } from '../dns/local-records.js';
import { generateNodePrivateKey, type NodePrivateKey } from '../derp/keys.js';
import { loadOrCreateKeyFile } from '../derp/io/key-file.js';
import { startDerpServer, type DerpServiceOptions, type RunningDerpServer } from '../derp/io/service.js';
import type { Clock } from './clock.js';
import { TsplaneError } from './errors.js';
import { startAdminHttp, type AdminHttp, type ServiceHealth } from './http-admin.js';
import type { Logger } from './log.js';
import type { Scheduler } from './loop.js';
import { createRegistry, type Registry } from './metrics.js';
import type { Rng } from './rng.js';
import { startWireguard, type WireguardRunner } from './wireguard-runner.js';

export interface RuntimeDeps {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
}

/** A running set of services. */
export class Runtime {
  readonly #deps: RuntimeDeps;
  readonly #log: Logger;
  readonly #processRegistry: Registry;
  #config: TsplaneConfig;
  #derp: RunningDerpServer | undefined;
  #derpRegistry: Registry | undefined;
  #derpKey: NodePrivateKey | undefined;
  #dns: DnsService | undefined;
  #dnsRegistry: Registry | undefined;
  #wg: WireguardRunner | undefined;
  #admin: AdminHttp | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(config: TsplaneConfig, deps: RuntimeDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger;
    this.#processRegistry = createRegistry({ processMetrics: config.metrics?.processMetrics ?? true });
  }

  /** Starts every configured service; on failure stops what started and rethrows. */
  static async start(config: TsplaneConfig, deps: RuntimeDeps): Promise<Runtime> {
    const rt = new Runtime(config, deps);
    config = withoutOptionalInterfaces(config, rt.#log);
    rt.#config = config;
    try {
      if (config.wireguard && config.wireguard.interfaces.length > 0) rt.#wg = await startWireguard(config.wireguard, rt.#wgDeps());
      for (const s of config.wireguard?.skipped ?? []) rt.#log.info({ ifname: s.name, reason: s.reason }, 'wireguard: optional interface not started');
      if (config.derp) await rt.#startDerp(config.derp);
      if (config.dns) await rt.#startDns(config);
      if (config.metrics) rt.#admin = await rt.#startAdmin(config);
    } catch (err) {
      await rt.stop();
      throw err;
    }
    return rt;
  }

  get config(): TsplaneConfig {
    return this.#config;
  }
  get derp(): RunningDerpServer | undefined {
    return this.#derp;
  }
  get dns(): DnsService | undefined {
    return this.#dns;
  }
  get admin(): AdminHttp | undefined {
    return this.#admin;
  }

  /** Per-service health for /healthz. */
  health(): Record<string, ServiceHealth> {
    const out: Record<string, ServiceHealth> = {};
    if (this.#config.derp) {
      const d = this.#derp;
      out.derp = d && d.httpServer.listening
        ? { healthy: true, detail: { url: d.url, clients: d.core.gauges().clientsLocal, stun: d.stun !== undefined } }
        : { healthy: false, detail: { reason: 'relay not listening' } };
    }
    if (this.#config.dns) {
      const s = this.#dns;
      out.dns = s
        ? { healthy: true, detail: { listen: s.addresses.map((a) => `${a.host}:${a.port}`), localRecords: s.filtering.local.size } }
        : { healthy: false, detail: { reason: 'forwarder not running' } };
    }
    if (this.#wg) Object.assign(out, this.#wg.health());
    return out;
  }

  /**
   * Applies a new, already validated config. Throws (after logging) only when a service could
   * not be brought up again; the caller keeps running what is left.
   */
  async reload(next: TsplaneConfig): Promise<void> {
    const prev = this.#config;
    next = withoutOptionalInterfaces(next, this.#log);
    this.#config = next;
    this.#log.level = next.log.level;
    // Each service is reloaded on its own: one failing does not keep the others on the old config.
    const failures: string[] = [];
    const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    };
    // WireGuard first: MagicDNS names below come from its peers.
    await step('wireguard', async () => {
      if (next.wireguard && next.wireguard.interfaces.length > 0) {
        if (this.#wg) await this.#wg.reload(next.wireguard);
        else this.#wg = await startWireguard(next.wireguard, this.#wgDeps());
      } else if (this.#wg) {
        await this.#wg.stop();
        this.#wg = undefined;
      }
    });
    await step('derp', async () => {
      if (stableJson(prev.derp) === stableJson(next.derp) && (this.#derp !== undefined) === (next.derp !== undefined)) return;
      if (this.#derp) {
        this.#log.info('derp: settings changed; restarting the relay (clients are told to reconnect)');
        await this.#derp.close();
        this.#derp = undefined;
      }
      if (next.derp) await this.#startDerp(next.derp);
    });
    await step('dns', () => this.#reloadDns(prev, next));
    await step('metrics', async () => {
      if (stableJson(prev.metrics) === stableJson(next.metrics) && (this.#admin !== undefined) === (next.metrics !== undefined)) return;
      await this.#admin?.close();
      this.#admin = undefined;
      if (next.metrics) this.#admin = await this.#startAdmin(next);
    });
    if (failures.length > 0) throw new TsplaneError('RUNTIME_ERR_RELOAD', failures.join('; '));
  }

  /** Stops everything (DERP sends `restarting`, sockets close, TUN and UAPI socket go). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const results = await Promise.allSettled([
        this.#derp?.close(),
        this.#dns?.close(),
        this.#wg?.stop(),
      ]);
      for (const r of results) if (r.status === 'rejected') this.#log.error({ err: String(r.reason) }, 'error while stopping a service');
      await this.#admin?.close();
    })();
    return this.#stopping;
  }

  #wgDeps() {
    return { clock: this.#deps.clock, rng: this.#deps.rng, logger: this.#log.child({ svc: 'wireguard' }), scheduler: this.#deps.scheduler };
  }

  async #startAdmin(config: TsplaneConfig): Promise<AdminHttp> {
    return startAdminHttp({
      listen: config.metrics!.listen,
      logger: this.#log,
      health: () => this.health(),
      registries: () => [this.#processRegistry, this.#derpRegistry, this.#dnsRegistry, this.#wg?.registry]
        .filter((r): r is Registry => r !== undefined),
    });
  }

  async #startDerp(c: DerpSectionConfig): Promise<void> {
    const { clock, rng, scheduler } = this.#deps;
    const log = this.#log;
    let privateKey = c.privateKey;
    if (!privateKey && c.keyFile) {
      const k = loadOrCreateKeyFile(c.keyFile, rng);
      privateKey = k.privateKey;
      if (k.created) log.info({ path: c.keyFile }, 'derp: created a new server key file (mode 0600)');
    }
    if (!privateKey) {
      // Kept across reload restarts so clients see the same relay key.
      this.#derpKey ??= generateNodePrivateKey(rng);
      privateKey = this.#derpKey;
      log.warn('derp: no key_file: using a random server key for this process only');
    }
    const options: DerpServiceOptions = {
      listen: c.listen,
      privateKey,
      ...(c.meshKey ? { meshKey: c.meshKey } : {}),
      ...(c.tls ? { tls: { cert: readFileSync(c.tls.certFile), key: readFileSync(c.tls.keyFile) } } : {}),
      ...(c.hostname ? { hostname: c.hostname } : {}),
      ...(c.verifyClients ? { verifyClientsFile: c.verifyClients } : {}),
      ...(c.verifyClientUrl ? { verifyClientUrl: c.verifyClientUrl, verifyClientUrlFailOpen: c.verifyClientUrlFailOpen } : {}),
      ...(c.acceptRatePerSec !== undefined ? { acceptRatePerSec: c.acceptRatePerSec } : {}),
      ...(c.acceptBurst !== undefined ? { acceptBurst: c.acceptBurst } : {}),
      ...(c.stunListen ? { stun: c.stunListen } : {}),
      ...(c.httpPort !== undefined ? { captivePortalListen: { host: c.listen.host, port: c.httpPort } } : {}),
      ...(c.meshWith.length > 0 ? { meshWith: c.meshWith } : {}),
      ...(c.meshCaFile ? { meshTls: { ca: readFileSync(c.meshCaFile) } } : {}),
      bootstrapDnsNames: { published: c.bootstrapDnsNames, unpublished: c.unpublishedBootstrapDnsNames },
    };
    const registry = createRegistry();
    this.#derp = await startDerpServer(options, { clock, rng, logger: log, registry, scheduler });
    this.#derpRegistry = registry;
  }

  async #startDns(config: TsplaneConfig): Promise<void> {
    const { clock, rng, scheduler } = this.#deps;
    const registry = createRegistry();
    this.#dns = await startDnsService(config.dns!, { clock, rng, logger: this.#log.child({ svc: 'dns' }), registry, scheduler });
    this.#dnsRegistry = registry;
    this.#applyLocal(config);
  }

  /** Configured local records and zones, plus MagicDNS peer names, into the running store. */
  #applyLocal(config: TsplaneConfig): void {
    const dns = this.#dns;
    if (!dns || !config.dns) return;
    const local = dns.filtering.local;
    const md = config.wireguard?.magicDns;
    local.setZones(md ? [...config.dns.local.zones, md.suffix] : config.dns.local.zones);
    local.setGroup('config', config.dns.local.records);
    if (md) {
      const peers = magicDnsPeers(config.wireguard!.interfaces);
      const rejected = local.setGroup('wireguard-peers', peerRecords(peers, md.suffix, md.ttlS));
      if (rejected.length > 0) this.#log.warn({ rejected: rejected.map((r) => `${r.name}: ${r.reason}`) }, 'dns: some MagicDNS names were not added');
      this.#log.info({ suffix: md.suffix, names: peers.map((p) => p.name) }, 'dns: MagicDNS peer names');
    } else {
      local.setGroup('wireguard-peers', []);
    }
  }

  async #reloadDns(prev: TsplaneConfig, next: TsplaneConfig): Promise<void> {
    if (this.#dns && prev.dns && next.dns && reconfigurable(prev.dns, next.dns)) {
      // Same listeners, cache and logging: apply routes, upstreams, lists, access and local data
      // in place, so no query meets a closed socket and the cache survives.
      createLocalStore(next.dns.local); // throws on a bad local record before anything changes
      await this.#dns.reconfigure(next.dns);
      this.#applyLocal(next);
      void this.#dns.filtering.blocklists.refreshDue(true).catch((err: unknown) => this.#log.warn({ err: String(err) }, 'dns: blocklist refresh failed'));
      this.#log.info({ records: next.dns.local.records.length }, 'dns: configuration reloaded in place');
      return;
    }
    if (this.#dns) {
      this.#log.info('dns: listeners, cache or query log changed; restarting the forwarder');
      await this.#dns.close();
      this.#dns = undefined;
    }
    if (next.dns) await this.#startDns(next);
  }
}

/** Optional WireGuard interfaces run only as root (a TUN needs CAP_NET_ADMIN); others are left out with a log line. */
function withoutOptionalInterfaces(config: TsplaneConfig, log: Logger): TsplaneConfig {
  const wg = config.wireguard;
  if (!wg || process.getuid?.() === 0 || !wg.interfaces.some((i) => i.optional)) return config;
  for (const i of wg.interfaces) if (i.optional) log.info({ ifname: i.name }, 'wireguard: optional interface needs root; not started');
  return {
    ...config,
    wireguard: {
      ...wg,
      interfaces: wg.interfaces.filter((i) => !i.optional),
      skipped: [...wg.skipped, ...wg.interfaces.filter((i) => i.optional).map((i) => ({ name: i.name, reason: 'not running as root' }))],
    },
  };
}

/** JSON with sorted keys, Maps as entries and bytes as hex: a cheap structural equality for configs. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Map) return [...v.entries()];
    if (v instanceof Set) return [...v.values()];
    if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
