/**
 * Mesh connections of a relay (derp.md §6): for each `--mesh-with` URL, a `DerpClient` that
 * authenticates with the relay's own private key and the mesh key, sends WatchConns after
 * every (re)connect, and feeds PeerPresent/PeerGone to a `MeshPeerTable` that registers
 * forwarders with the local relay core. Packets the core hands to a forwarder go out as
 * ForwardPacket frames on that connection. Reconnects back off up to 5 s, as derper retries
 * every 5 s; a self-connect (the URL is this relay) stops that watcher.
 */
import type { Logger } from '../../runtime/log.js';
import type { Clock } from '../../runtime/clock.js';
import type { Rng } from '../../runtime/rng.js';
import type { Scheduler } from '../../runtime/loop.js';
import { shortKey, publicKeyOf, type NodePrivateKey, type NodePublicKey } from '../protocol.js';
import { MeshPeerTable, type ForwarderRegistry, type PacketForwarder } from '../mesh.js';
import { DerpClient } from './client.js';
import type { DerpTlsOptions, DerpTransportKind } from './client-transport.js';

/** derper retries a broken mesh connection every 5 s. */
export const MESH_RETRY_MAX_MS = 5_000;

export interface MeshOptions {
  /** The local relay core (DerpServer). */
  readonly server: ForwarderRegistry;
  /** The relay's own private key: mesh clients authenticate with it. */
  readonly serverPrivateKey: NodePrivateKey;
  /** The shared mesh key (32 bytes). */
  readonly meshKey: Uint8Array;
  /** Sibling URLs (`https://host/derp`, …). Our own URL may be listed; it is detected and skipped. */
  readonly urls: readonly string[];
  readonly transport?: DerpTransportKind;
  readonly tls?: DerpTlsOptions;
  readonly log?: Logger;
  readonly clock?: Clock;
  readonly rng?: Rng;
  readonly scheduler?: Scheduler;
  /** First retry delay; default 250 ms, doubling up to 5 s. */
  readonly retryInitialMs?: number;
}

/** One sibling: its connection and the peers it announced. */
export class MeshWatcher {
  readonly url: string;
  readonly client: DerpClient;
  readonly table: MeshPeerTable;
  /** True once the URL turned out to be this relay. */
  selfConnect = false;

  constructor(url: string, opts: MeshOptions) {
    this.url = url;
    const log = opts.log?.child({ mesh: url });
    this.client = new DerpClient({
      url,
      privateKey: opts.serverPrivateKey,
      meshKey: opts.meshKey,
      ...(opts.transport ? { transport: opts.transport } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.rng ? { rng: opts.rng } : {}),
      ...(opts.scheduler ? { scheduler: opts.scheduler } : {}),
      backoff: { initialMs: opts.retryInitialMs ?? 250, maxMs: MESH_RETRY_MAX_MS },
    });
    const client = this.client;
    const forwarder: PacketForwarder = {
      forwardPacket(src: NodePublicKey, dst: NodePublicKey, packet: Uint8Array): void {
        client.forwardPacket(src, dst, packet);
      },
    };
    this.table = new MeshPeerTable(opts.server, forwarder, publicKeyOf(opts.serverPrivateKey));
    client.onMessage((m) => {
      const u = this.table.handle(m);
      if (u.type === 'selfConnect') {
        this.selfConnect = true;
        log?.info('detected self-connect; ignoring host');
        void client.close();
      } else if (u.type === 'connected') {
        if (u.cleared > 0) log?.info({ cleared: u.cleared }, 'reconnected; clearing forwarding mappings');
        client.watchConns();
        log?.info('connected; watching');
      } else if (u.type === 'added' || u.type === 'removed') {
        log?.debug({ peer: shortKey(u.peer) }, u.type === 'added' ? 'peer present' : 'peer gone');
      }
    });
    client.onDisconnected((reason) => {
      const n = this.table.clear();
      log?.info({ reason, cleared: n }, 'mesh connection lost');
    });
  }

  /** Connects in the background and keeps reconnecting until `close()`. */
  start(): void {
    this.client.start();
  }

  async close(): Promise<void> {
    await this.client.close();
    this.table.clear();
  }
}

/** Starts one watcher per URL; close them all with the returned function. */
export function startMesh(opts: MeshOptions): { readonly watchers: MeshWatcher[]; close(): Promise<void> } {
  const watchers = opts.urls.map((u) => new MeshWatcher(u, opts));
  for (const w of watchers) w.start();
  return {
    watchers,
    async close(): Promise<void> {
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}
