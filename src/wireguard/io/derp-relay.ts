/**
 * The WireGuard node's DERP relay link (derp.md §1, §3.4). As in Tailscale, the DERP node key
 * is the WireGuard key: the client authenticates to the relay with the device's private key, so
 * the relay knows this node by its WireGuard public key, and a datagram for peer P is a DERP
 * SendPacket to P's public key. The client is replaced whenever the private key changes (UAPI
 * `private_key=`) and closed when the key is removed.
 */
import type { Clock } from '../../runtime/clock.js';
import type { Logger } from '../../runtime/log.js';
import type { Scheduler } from '../../runtime/loop.js';
import { toHex, wipe } from '../../runtime/bytes.js';
import { DerpClient } from '../../derp/io/client.js';
import { clampPrivateKey, publicKeyOf, shortKey, type NodePublicKey } from '../../derp/keys.js';

export interface WgDerpRelayOptions {
  /** `http(s)://host[:port]/derp` or `ws(s)://…` (DerpClient); several: tried in turn on failure. */
  readonly url: string | readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
  /** The node's scheduler: the client's timeouts share its one timer. */
  readonly scheduler: Scheduler;
  /** A RecvPacket: `data` aliases the transport's buffer, valid only during the call. */
  readonly onPacket: (source: NodePublicKey, data: Uint8Array) => void;
}

/** One reconnecting DerpClient, keyed by the device's current private key. */
export class WgDerpRelay {
  readonly #opts: WgDerpRelayOptions;
  #client: DerpClient | undefined;
  /** Hex of the public key the current client speaks for. */
  #publicKeyHex: string | undefined;

  constructor(opts: WgDerpRelayOptions) {
    this.#opts = opts;
  }

  /** The relay URL in use (the first one before any connect). */
  get url(): string {
    return String(this.#client?.url ?? (typeof this.#opts.url === 'string' ? this.#opts.url : this.#opts.url[0]));
  }

  /** True while the relay connection is up (after ServerInfo). */
  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /**
   * Follows the device's private key: (re)connects under a new key, closes on none. The key is
   * copied (and the copy clamped, as the device stores it); the caller keeps ownership of its array.
   */
  setPrivateKey(privateKey: Uint8Array | undefined): void {
    if (privateKey === undefined) {
      void this.#replace(undefined, undefined);
      return;
    }
    const key = clampPrivateKey(Uint8Array.from(privateKey));
    const pubHex = toHex(publicKeyOf(key));
    if (pubHex === this.#publicKeyHex) {
      wipe(key);
      return;
    }
    const client = new DerpClient({ url: this.#opts.url, privateKey: key, clock: this.#opts.clock, scheduler: this.#opts.scheduler });
    client.onPacket(this.#opts.onPacket);
    const log = this.#opts.log;
    client.onConnected(() => log.info({ url: String(client.url), node: shortKey(client.publicKey) }, 'DERP relay connected'));
    client.onDisconnected((reason) => log.info({ url: String(client.url), reason }, 'DERP relay disconnected'));
    void this.#replace(client, pubHex);
    client.start();
  }

  /** Sends one WireGuard datagram to the node `dst` through the relay; false when it was dropped. */
  send(dst: Uint8Array, datagram: Uint8Array): boolean {
    return this.#client?.sendPacket(dst, datagram) ?? false;
  }

  /** Closes the relay connection for good. */
  close(): Promise<void> {
    return this.#replace(undefined, undefined);
  }

  #replace(client: DerpClient | undefined, pubHex: string | undefined): Promise<void> {
    const old = this.#client;
    this.#client = client;
    this.#publicKeyHex = pubHex;
    return old === undefined ? Promise.resolve() : old.close();
  }
}
