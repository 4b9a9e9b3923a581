/**
 * WireGuard interfaces inside `tsplane run`: one `Device` core per interface on a TUN, a UDP
 * bind and a UAPI socket (src/wireguard/io/node.ts, so `wg show` works), all on the process
 * scheduler. After the node is up the interface gets its addresses, MTU and a route per allowed
 * IP (`ip`, as wg-quick does; default routes are left to wg-quick because a full tunnel needs
 * policy routing). Reloads apply a computed diff (config-wireguard.ts `peerDiff`) through
 * `WgNode.configure`, so unchanged peers keep their sessions; addresses and routes are diffed too.
 */
import { execFile } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns/promises';
import { fullDeviceConfig, peerDiff, type WgInterfaceConfig, type WireguardConfig } from '../config-wireguard.js';
import { Device } from '../wireguard/device.js';
import { EndpointReresolver, type HostPeer } from '../wireguard/endpoint-reresolve.js';
import { WgNode } from '../wireguard/io/node.js';
import type { Clock } from './clock.js';
import { TsplaneError } from './errors.js';
import type { ServiceHealth } from './http-admin.js';
import type { Logger } from './log.js';
import type { DeadlineSource, Scheduler } from './loop.js';
import { Counter, Gauge, createRegistry, type Registry } from './metrics.js';
import type { Rng } from './rng.js';

export interface WireguardRunnerDeps {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Resolves a host-name endpoint to its first address (default: the system's getaddrinfo). */
  readonly lookup?: (host: string) => Promise<{ address: string; family: 4 | 6 }>;
}

interface Running {
  config: WgInterfaceConfig;
  readonly node: WgNode;
  readonly device: Device;
  /** Host-name endpoints of this interface (`Endpoint = host:port`). */
  readonly endpoints: EndpointReresolver;
  stoppedBecause: string | undefined;
}

function hostPeers(c: WgInterfaceConfig): HostPeer[] {
  return c.peers.flatMap((p) => (p.endpointHost ? [{ key: p.publicKeyText, endpoint: p.endpointHost }] : []));
}

async function systemLookup(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const a = await dnsLookup(host);
  return { address: a.address, family: a.family === 6 ? 6 : 4 };
}

/** How long one `ip` command may take. */
const IP_COMMAND_TIMEOUT_MS = 10_000;

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_COMMAND_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new TsplaneError('WG_ERR_IP_COMMAND', `ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

/** Routes wg-quick would add for this interface, minus default routes (see the module comment). */
function routesOf(c: WgInterfaceConfig): Set<string> {
  const out = new Set<string>();
  for (const p of c.peers) for (const r of p.allowedIpsText) if (r !== '0.0.0.0/0' && r !== '::/0') out.add(r);
  return out;
}

/** The running interfaces of `tsplane run`. */
export class WireguardRunner {
  readonly registry: Registry;
  readonly #deps: WireguardRunnerDeps;
  readonly #log: Logger;
  readonly #running = new Map<string, Running>();
  /** Host-name endpoint lookups of every interface, on the process scheduler. */
  readonly #endpointSource: DeadlineSource;

  private constructor(deps: WireguardRunnerDeps) {
    this.#deps = deps;
    this.#log = deps.logger;
    this.registry = createRegistry();
    this.#registerMetrics();
    this.#endpointSource = {
      nextDeadline: () => {
        let min: number | undefined;
        for (const r of this.#running.values()) {
          const d = r.endpoints.nextDeadline();
          if (d !== undefined && (min === undefined || d < min)) min = d;
        }
        return min;
      },
      onDeadline: (now) => {
        for (const [name, r] of this.#running) if (r.stoppedBecause === undefined) this.#resolveEndpoints(name, r, now);
      },
    };
    deps.scheduler.add(this.#endpointSource);
  }

  /** Starts every interface of `config`; on failure stops those already up and rethrows. */
  static async start(config: WireguardConfig, deps: WireguardRunnerDeps): Promise<WireguardRunner> {
    const r = new WireguardRunner(deps);
    try {
      for (const iface of config.interfaces) await r.#startInterface(iface);
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  /** Health per interface, keyed `wireguard:<ifname>`. */
  health(): Record<string, ServiceHealth> {
    const out: Record<string, ServiceHealth> = {};
    const now = this.#deps.clock.wallTimeMs();
    for (const [name, r] of this.#running) {
      if (r.stoppedBecause !== undefined) {
        out[`wireguard:${name}`] = { healthy: false, detail: { reason: r.stoppedBecause } };
        continue;
      }
      const status = r.node.uapiPath !== undefined;
      out[`wireguard:${name}`] = {
        healthy: status,
        detail: { listenPort: r.node.listenPort, peers: r.config.peers.length, uapi: r.node.uapiPath ?? '', checkedAtMs: now },
      };
    }
    return out;
  }

  /** Applies `next`: interfaces added or removed, peers/addresses/routes diffed per interface. */
  async reload(next: WireguardConfig): Promise<void> {
    const wanted = new Map(next.interfaces.map((i) => [i.name, i]));
    for (const [name, r] of [...this.#running]) {
      if (!wanted.has(name) || r.stoppedBecause !== undefined) {
        this.#log.info({ ifname: name }, 'wireguard: interface removed from config; stopping it');
        await r.node.stop();
        this.#running.delete(name);
      }
    }
    for (const iface of next.interfaces) {
      const r = this.#running.get(iface.name);
      if (!r) {
        await this.#startInterface(iface);
        continue;
      }
      const before = r.config;
      if (String(before.derpUrl) !== String(iface.derpUrl)) {
        this.#log.warn({ ifname: iface.name }, 'wireguard: derp_url changed; it takes effect when the interface restarts');
      }
      const change = peerDiff(before, iface);
      if (change) {
        const errno = await r.node.configure(change);
        if (errno !== 0) throw new TsplaneError('WG_ERR_RELOAD', `${iface.name}: the device refused the new configuration (errno ${errno})`);
        this.#log.info({ ifname: iface.name, peersChanged: change.peers.filter((p) => !p.remove).length, peersRemoved: change.peers.filter((p) => p.remove).length }, 'wireguard: peers reloaded');
      }
      r.config = iface;
      r.endpoints.set(hostPeers(iface), this.#deps.clock.monotonicMs());
      this.#deps.scheduler.kick();
      await this.#applyLinkDiff(before, iface);
    }
  }

  /** Stops every interface (UAPI socket removed, TUN deleted). */
  async stop(): Promise<void> {
    this.#deps.scheduler.remove(this.#endpointSource);
    await Promise.allSettled([...this.#running.values()].map((r) => r.node.stop()));
    this.#running.clear();
  }

  async #startInterface(iface: WgInterfaceConfig): Promise<void> {
    const { clock, rng, scheduler } = this.#deps;
    const log = this.#log.child({ ifname: iface.name });
    const device = new Device({ clock, rng, mtu: iface.mtu });
    const holder: { running?: Running } = {};
    const node = await WgNode.start({
      ifname: iface.name, device, clock, log, mtu: iface.mtu, scheduler,
      ...(iface.derpUrl !== undefined ? { derpUrl: iface.derpUrl } : {}),
      onStopped: (reason) => {
        if (holder.running) holder.running.stoppedBecause = reason;
        log.error({ reason }, 'wireguard: interface stopped');
      },
    });
    holder.running = { config: iface, node, device, endpoints: new EndpointReresolver(), stoppedBecause: undefined };
    this.#running.set(iface.name, holder.running);
    const errno = await node.configure(fullDeviceConfig(iface));
    if (errno !== 0) throw new TsplaneError('WG_ERR_CONFIG', `${iface.name}: the device refused the configuration (errno ${errno})`);
    for (const a of iface.addresses) await ip(['address', 'add', a, 'dev', iface.name]);
    await ip(['link', 'set', 'dev', iface.name, 'mtu', String(iface.mtu), 'up']);
    for (const r of routesOf(iface)) await ip(['route', 'replace', r, 'dev', iface.name]);
    holder.running.endpoints.set(hostPeers(iface), clock.monotonicMs());
    scheduler.kick();
    log.info({ listenPort: node.listenPort, peers: iface.peers.length, addresses: iface.addresses, source: iface.source }, 'wireguard: interface up');
  }

  /** Looks up the host-name endpoints that are due and configures each answer on the peer. */
  #resolveEndpoints(name: string, r: Running, now: number): void {
    const { clock } = this.#deps;
    const wallNow = clock.wallTimeMs();
    const lastHandshake = new Map<string, number>();
    if (r.endpoints.size === 0) return;
    for (const p of r.device.status(now).peers) lastHandshake.set(Buffer.from(p.publicKey).toString('base64'), p.lastHandshakeWallMs);
    const lookups = r.endpoints.poll(now, (key) => {
      const t = lastHandshake.get(key);
      return t === undefined || t === 0 ? undefined : Math.max(0, wallNow - t);
    });
    const lookup = this.#deps.lookup ?? systemLookup;
    for (const { key, host } of lookups) {
      const peer = r.config.peers.find((p) => p.publicKeyText === key);
      lookup(host).then(
        async (answer) => {
          const endpoint = r.endpoints.resolved(key, host, answer, clock.monotonicMs());
          this.#deps.scheduler.kick();
          if (!endpoint || !peer || r.stoppedBecause !== undefined || this.#running.get(name) !== r) return;
          const errno = await r.node.configure({
            replacePeers: false,
            peers: [{ publicKey: peer.publicKey, remove: false, updateOnly: true, endpoint, replaceAllowedIps: false, allowedIps: [], removedAllowedIps: [] }],
          });
          if (errno === 0) this.#log.info({ ifname: name, peer: key, host, endpoint: `${endpoint.family === 6 ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}` }, 'wireguard: endpoint host name resolved');
          else this.#log.warn({ ifname: name, peer: key, host, errno }, 'wireguard: the device refused the resolved endpoint');
        },
        (err: unknown) => {
          r.endpoints.resolved(key, host, undefined, clock.monotonicMs());
          this.#deps.scheduler.kick();
          this.#log.warn({ ifname: name, peer: key, host, err: (err as Error).message }, 'wireguard: endpoint host name did not resolve; retrying');
        },
      );
    }
  }

  async #applyLinkDiff(before: WgInterfaceConfig, after: WgInterfaceConfig): Promise<void> {
    const dev = after.name;
    const tasks: Promise<void>[] = [];
    const oldAddrs = new Set(before.addresses);
    const newAddrs = new Set(after.addresses);
    for (const a of oldAddrs) if (!newAddrs.has(a)) tasks.push(ip(['address', 'del', a, 'dev', dev]));
    for (const a of newAddrs) if (!oldAddrs.has(a)) tasks.push(ip(['address', 'add', a, 'dev', dev]));
    if (before.mtu !== after.mtu) tasks.push(ip(['link', 'set', 'dev', dev, 'mtu', String(after.mtu)]));
    const oldRoutes = routesOf(before);
    const newRoutes = routesOf(after);
    for (const r of oldRoutes) if (!newRoutes.has(r)) tasks.push(ip(['route', 'del', r, 'dev', dev]).catch(() => undefined));
    for (const r of newRoutes) if (!oldRoutes.has(r)) tasks.push(ip(['route', 'replace', r, 'dev', dev]));
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') this.#log.warn({ ifname: dev, err: (r.reason as Error).message }, 'wireguard: link change failed');
  }

  #registerMetrics(): void {
    const running = this.#running;
    const registers = [this.registry];
    new Counter({
      name: 'tsplane_wireguard_packets_total', help: 'Packets through the WireGuard edges, by interface and path.',
      labelNames: ['interface', 'path'], registers,
      collect() {
        this.reset();
        for (const [name, r] of running) {
          const s = r.node.stats();
          this.inc({ interface: name, path: 'tun_read' }, Number(s.tunPacketsRead));
          this.inc({ interface: name, path: 'tun_written' }, Number(s.tunPacketsWritten));
          this.inc({ interface: name, path: 'udp_received' }, Number(s.udpDatagramsReceived));
          this.inc({ interface: name, path: 'udp_sent' }, Number(s.udpDatagramsSent));
        }
      },
    });
    new Counter({
      name: 'tsplane_wireguard_tun_offload_total', help: 'TUN offload work: superpackets read and split, segments joined and written.',
      labelNames: ['interface', 'kind'], registers,
      collect() {
        this.reset();
        for (const [name, r] of running) {
          const o = r.node.stats().tunOffload;
          this.inc({ interface: name, kind: 'superpackets_read' }, Number(o.superpacketsRead));
          this.inc({ interface: name, kind: 'segments_split' }, Number(o.segmentsSplit));
          this.inc({ interface: name, kind: 'superpackets_written' }, Number(o.superpacketsWritten));
          this.inc({ interface: name, kind: 'segments_coalesced' }, Number(o.segmentsCoalesced));
        }
      },
    });
    new Counter({
      name: 'tsplane_wireguard_drops_total', help: 'Packets dropped by the WireGuard core or edges, by reason.',
      labelNames: ['interface', 'reason'], registers,
      collect() {
        this.reset();
        for (const [name, r] of running) for (const [reason, n] of r.node.stats().drops) this.inc({ interface: name, reason }, Number(n));
      },
    });
    new Gauge({
      name: 'tsplane_wireguard_peers', help: 'Configured peers per interface.', labelNames: ['interface'], registers,
      collect() {
        this.reset();
        for (const [name, r] of running) this.set({ interface: name }, r.config.peers.length);
      },
    });
  }
}

/** Starts every interface of `config`. */
export function startWireguard(config: WireguardConfig, deps: WireguardRunnerDeps): Promise<WireguardRunner> {
  return WireguardRunner.start(config, deps);
}
