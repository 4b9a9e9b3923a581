/**
 * The WireGuard runtime: one sans-IO `DeviceCore` wired to its edges (TUN, UDP, the UAPI
 * socket) and to the process scheduler (src/runtime/loop.ts), which owns the only timer.
 *
 * With `derpUrl`, the node also keeps a DERP relay connection authenticated with the device's
 * WireGuard key (derp-relay.ts): `toRelay` outputs go out as DERP SendPackets, and RecvPackets
 * come into the core as datagrams from `{ family: 'derp', publicKey: source }` (path.ts decides
 * when a peer uses the relay).
 *
 * Every input is handled to completion synchronously: bytes in, `DeviceOutput`s out, each
 * output carried out before the next input (the core may reuse its output buffers). Drops are
 * counted per reason; nothing here awaits per packet.
 */
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import { TsplaneError } from '../../runtime/errors.js';
import { Scheduler, type DeadlineSource } from '../../runtime/loop.js';
import type { DeviceConfigChange, DeviceCore, DeviceOutput, DropReason, Endpoint } from '../device-api.js';
import { UAPI_ERRNO, renderGetResponse } from '../uapi.js';
import { TUN_READ_BATCH, TunDevice } from './tun.js';
import { parseTunOffload, type TunOffload, type TunOffloadStats } from './tun-offload.js';
import { openUdpBind, type UdpBind } from './udp.js';
import { UapiServer } from './uapi-server.js';
import { WgDerpRelay } from './derp-relay.js';

/**
 * Held-back sends that force a flush mid-drain. One sendFromTun can emit up to 128 staged
 * packets on top of these, and 64 + 129 stays below the core's 256-entry output ring.
 */
const SEND_BATCH_FLUSH = 64;

export interface WgNodeOptions {
  readonly ifname: string;
  readonly device: DeviceCore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Directory of the UAPI socket (default /var/run/wireguard). */
  readonly uapiDir?: string;
  /** Initial TUN MTU (default 1420, as wireguard-go). */
  readonly mtu?: number;
  /**
   * DERP relay URL (`http(s)://host[:port]/derp` or `ws(s)://…`) to fall back to when direct UDP
   * to a peer fails; tsplane-wg reads it from TSPLANE_DERP_URL. Absent: plain WireGuard.
   */
  readonly derpUrl?: string | readonly string[];
  /**
   * TUN offloads (tun.ts): 'tso+gro' (default), 'tso' or 'off'. Absent: TSPLANE_TUN_OFFLOAD
   * (`on`, `tso`, `off`; unset = on). The kernel may still refuse, and then the mode is 'off'.
   */
  readonly tunOffload?: TunOffload;
  /** Called once when the node stops by itself (TUN deleted, socket file removed). */
  readonly onStopped?: (reason: string) => void;
  /** The process scheduler (`tsplane run`); a private one is made (and stopped) when absent. */
  readonly scheduler?: Scheduler;
}

/** Counters a test or a metrics exporter can read. Bigint: they only grow. */
export interface WgNodeStats {
  readonly tunPacketsRead: bigint;
  readonly tunPacketsWritten: bigint;
  readonly udpDatagramsReceived: bigint;
  readonly udpDatagramsSent: bigint;
  /** WireGuard datagrams sent and received through the DERP relay. */
  readonly relayPacketsSent: bigint;
  readonly relayPacketsReceived: bigint;
  readonly drops: ReadonlyMap<NodeDropReason, bigint>;
  /** The TUN offload mode in force and its superpacket counters. */
  readonly tunOffload: TunOffloadStats;
}

/** `relay-unavailable`: a `toRelay` output while the relay connection is down (or not configured). */
export type NodeDropReason = DropReason | 'tun-write' | 'udp-no-socket' | 'relay-unavailable';

export class WgNode {
  readonly ifname: string;
  readonly #device: DeviceCore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #scheduler: Scheduler;
  readonly #ownScheduler: boolean;
  #source: DeadlineSource | undefined;
  readonly #out: DeviceOutput[] = [];
  /**
   * `toNetwork` outputs held back during a TUN drain and sent as one batch (UDP GSO). Their
   * datagrams may be views of the core's output ring (256 entries), so the batch is flushed
   * well before the ring could wrap: at SEND_BATCH_FLUSH, and at the end of every drain.
   */
  readonly #sendBatch: { readonly datagram: Uint8Array; readonly endpoint: Endpoint }[] = [];
  #batching = false;
  readonly #onStopped: ((reason: string) => void) | undefined;
  #tun!: TunDevice;
  #udp: UdpBind | undefined;
  #uapi: UapiServer | undefined;
  #relay: WgDerpRelay | undefined;
  #fwmark = 0;
  #stopping: Promise<void> | undefined;
  #stats = {
    tunPacketsRead: 0n,
    udpDatagramsReceived: 0n,
    udpDatagramsSent: 0n,
    relayPacketsSent: 0n,
    relayPacketsReceived: 0n,
    drops: new Map<NodeDropReason, bigint>(),
  };

  private constructor(opts: WgNodeOptions) {
    this.ifname = opts.ifname;
    this.#device = opts.device;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#onStopped = opts.onStopped;
    this.#ownScheduler = opts.scheduler === undefined;
    this.#scheduler = opts.scheduler ?? new Scheduler(opts.clock);
  }

  /**
   * Creates the TUN interface, binds UDP on a random port (as wireguard-go does until a
   * listen_port is set) and opens the UAPI socket. On failure everything opened is closed.
   */
  static async start(opts: WgNodeOptions): Promise<WgNode> {
    const node = new WgNode(opts);
    const envOffload = process.env.TSPLANE_TUN_OFFLOAD;
    const offload = opts.tunOffload ?? parseTunOffload(envOffload);
    if (offload === undefined) throw new TsplaneError('WG_ERR_TUN_OFFLOAD', `TSPLANE_TUN_OFFLOAD: expected on, tso or off, not "${envOffload}"`);
    node.#tun = TunDevice.open(
      opts.ifname,
      { onReadable: () => node.#readTun(), onGone: (why) => node.#stopBecause(`interface ${opts.ifname} is gone (${why})`) },
      { mtu: opts.mtu ?? 1420, offload },
    );
    if (node.#tun.offload !== offload) node.#log.warn({ asked: offload }, 'the kernel refused TUN offloads: one packet per read and write');
    try {
      node.#udp = await openUdpBind(0, 0, node.#udpCallbacks());
      node.#uapi = await UapiServer.open(
        opts.ifname,
        {
          get: () => node.#uapiGet(),
          set: (change) => node.#uapiSet(change),
          onBadRequest: (errno, reason) => node.#log.warn({ errno, reason }, 'UAPI request rejected'),
        },
        { ...(opts.uapiDir ? { dir: opts.uapiDir } : {}), onSocketGone: () => node.#stopBecause('UAPI socket file removed') },
      );
    } catch (err) {
      await node.#udp?.close();
      await node.#tun.close();
      throw err;
    }
    const source: DeadlineSource = {
      nextDeadline: () => node.#device.nextDeadline(),
      onDeadline: (now) => {
        node.#device.poll(now, node.#out);
        node.#dispatch();
      },
    };
    node.#source = source;
    node.#scheduler.add(source);
    if (opts.derpUrl !== undefined) {
      node.#relay = new WgDerpRelay({
        url: opts.derpUrl,
        clock: opts.clock,
        log: opts.log,
        scheduler: node.#scheduler,
        onPacket: (src, data) => node.#receiveRelayed(src, data),
      });
      node.#device.setRelayEnabled(true);
      node.#followPrivateKey();
    }
    node.#log.info({ ifname: opts.ifname, port: node.#udp.port, uapi: node.#uapi.path, tunOffload: node.#tun.offload }, 'interface up');
    return node;
  }

  get listenPort(): number {
    return this.#udp?.port ?? 0;
  }

  get uapiPath(): string | undefined {
    return this.#uapi?.path;
  }

  stats(): WgNodeStats {
    const drops = new Map(this.#stats.drops);
    if (this.#tun.writeErrors > 0n) drops.set('tun-write', this.#tun.writeErrors);
    return { ...this.#stats, tunPacketsWritten: this.#tun.packetsWritten, drops, tunOffload: this.#tun.offloadStats() };
  }

  #udpCallbacks() {
    return {
      onDatagram: (datagram: Uint8Array, from: Endpoint) => {
        this.#stats.udpDatagramsReceived++;
        this.#device.receiveFromNetwork(datagram, from, this.#clock.monotonicMs(), this.#out);
        this.#dispatch();
        this.#scheduler.kick();
      },
      onError: (err: Error) => this.#log.debug({ err: err.message }, 'UDP socket error'),
    };
  }

  #receiveRelayed(source: Uint8Array, data: Uint8Array): void {
    this.#stats.relayPacketsReceived++;
    this.#device.receiveFromNetwork(data, { family: 'derp', publicKey: source }, this.#clock.monotonicMs(), this.#out);
    this.#dispatch();
    this.#scheduler.kick();
  }

  /** The relay client speaks for the device's current key (the DERP node key is the WireGuard key). */
  #followPrivateKey(): void {
    const key = this.#device.status(this.#clock.monotonicMs()).privateKey;
    this.#relay?.setPrivateKey(key);
    if (key !== undefined) key.fill(0);
  }

  #readTun(): void {
    const now = this.#clock.monotonicMs();
    this.#batching = true;
    let n: number;
    try {
      n = this.#tun.readBatch(TUN_READ_BATCH, (packet) => {
        this.#device.sendFromTun(packet, now, this.#out);
        this.#dispatch();
        if (this.#sendBatch.length >= SEND_BATCH_FLUSH) this.#flushSends();
      });
    } finally {
      this.#batching = false;
      this.#flushSends();
    }
    if (n > 0) {
      this.#stats.tunPacketsRead += BigInt(n);
      this.#scheduler.kick();
    }
  }

  #dispatch(): void {
    const out = this.#out;
    for (let i = 0; i < out.length; i++) {
      const o = out[i]!;
      switch (o.type) {
        case 'toNetwork':
          if (this.#batching) this.#sendBatch.push(o);
          else if (this.#udp?.send(o.datagram, o.endpoint, false)) this.#stats.udpDatagramsSent++;
          else this.#count('udp-no-socket');
          break;
        case 'toRelay':
          if (this.#relay?.send(o.publicKey, o.datagram)) this.#stats.relayPacketsSent++;
          else this.#count('relay-unavailable');
          break;
        case 'toTun':
          // Written (and counted) by the TUN edge, possibly joined with the next few (tun.ts queue).
          this.#tun.queue(o.packet);
          break;
        case 'drop':
          this.#count(o.reason);
          if (this.#log.isLevelEnabled('debug')) this.#log.debug({ reason: o.reason }, 'packet dropped');
          break;
      }
    }
    out.length = 0;
  }

  #flushSends(): void {
    const batch = this.#sendBatch;
    if (batch.length === 0) return;
    const sent = this.#udp ? this.#udp.sendBatch(batch, false) : 0;
    this.#stats.udpDatagramsSent += BigInt(sent);
    for (let i = sent; i < batch.length; i++) this.#count('udp-no-socket');
    batch.length = 0;
  }

  #count(reason: NodeDropReason): void {
    this.#stats.drops.set(reason, (this.#stats.drops.get(reason) ?? 0n) + 1n);
  }

  #uapiGet(): string {
    return renderGetResponse(this.#device.status(this.#clock.monotonicMs()), { listenPort: this.listenPort, fwmark: this.#fwmark });
  }

  /** Applies a config change as a UAPI `set` would (for `tsplane run` reloads); resolves with the UAPI errno (0 = ok). */
  configure(change: DeviceConfigChange): Promise<number> {
    return this.#uapiSet(change);
  }

  /**
   * Applies a `set` atomically: socket changes that can fail (a new port, a mark) are done
   * first, into new state; only when they succeed does the core see the change.
   */
  async #uapiSet(change: DeviceConfigChange): Promise<number> {
    if (this.#stopping) return UAPI_ERRNO.EIO;
    const fwmark = change.fwmark ?? this.#fwmark;
    let newBind: UdpBind | undefined;
    if (change.listenPort !== undefined && change.listenPort !== this.listenPort) {
      try {
        newBind = await openUdpBind(change.listenPort, fwmark, this.#udpCallbacks());
      } catch (err) {
        this.#log.error({ port: change.listenPort, err: (err as Error).message }, 'cannot bind listen port');
        return UAPI_ERRNO.EADDRINUSE;
      }
    } else if (fwmark !== this.#fwmark && this.#udp) {
      const r = this.#udp.setFwmark(fwmark);
      if (r < 0) {
        this.#log.error({ fwmark, errno: r }, 'cannot set fwmark');
        return UAPI_ERRNO.EADDRINUSE;
      }
    }
    try {
      this.#device.configure(change, this.#clock.monotonicMs());
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'device rejected the configuration');
      await newBind?.close();
      // The core validates before applying: an invalid change (too many peers, …) left it untouched.
      return err instanceof TsplaneError && err.code === 'WG_ERR_INVALID_CONFIG' ? UAPI_ERRNO.EINVAL : UAPI_ERRNO.EIO;
    }
    if (newBind) {
      const old = this.#udp;
      this.#udp = newBind;
      void old?.close();
      this.#log.info({ port: newBind.port }, 'listening');
    }
    this.#fwmark = fwmark;
    if (change.privateKey !== undefined) this.#followPrivateKey();
    // A change can arm timers or queue packets (a new endpoint with a keepalive): run them now.
    this.#device.poll(this.#clock.monotonicMs(), this.#out);
    this.#dispatch();
    this.#scheduler.kick();
    return UAPI_ERRNO.OK;
  }

  #stopBecause(reason: string): void {
    if (this.#stopping) return;
    this.#log.info({ reason }, 'stopping');
    void this.stop().then(() => this.#onStopped?.(reason));
  }

  /** Closes everything: the UAPI socket file is removed and the TUN interface disappears. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#relay?.close(); // removes the relay client from the scheduler
      if (this.#ownScheduler) this.#scheduler.stop();
      else if (this.#source) this.#scheduler.remove(this.#source);
      await this.#uapi?.close();
      await this.#udp?.close();
      await this.#tun.close();
    })();
    return this.#stopping;
  }
}
