/**
 * The contract between the sans-IO WireGuard `Device` core and its edges (TUN, UDP, UAPI).
 * The UAPI edge parses `set=1` text into a `DeviceConfigChange` (validated, all or nothing) and
 * renders `get=1` from a `DeviceStatus`; the data-path edges feed bytes in and carry out the
 * `DeviceOutput`s that come back.
 */
import type { MonotonicMs } from '../runtime/clock.js';

/** An outer UDP endpoint. `address` is numeric text ("192.0.2.1", "2001:db8::1"). */
export interface Endpoint {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

/**
 * A peer reached through a DERP relay (derp.md §3.4). The DERP node key *is* the WireGuard
 * public key, so the relay endpoint of a peer is just its 32-byte public key. Never a UDP
 * endpoint: the core hands relayed datagrams out as `toRelay` outputs, and UAPI shows only
 * direct endpoints.
 */
export interface DerpEndpoint {
  readonly family: 'derp';
  readonly publicKey: Uint8Array;
}

/** Where a datagram came from: a UDP endpoint, or a relay source key. */
export type PathEndpoint = Endpoint | DerpEndpoint;

/** An IP prefix: 4 or 16 address bytes (host bits may be set; the trie masks them). */
export interface IpPrefix {
  readonly family: 4 | 6;
  readonly address: Uint8Array;
  readonly bits: number;
}

export interface PeerConfigChange {
  readonly publicKey: Uint8Array;
  /** `remove=true`: delete the peer and ignore the rest of its section. */
  readonly remove: boolean;
  /** `update_only=true`: do not create the peer if it does not exist. */
  readonly updateOnly: boolean;
  /** All-zero means "no preshared key". Absent: unchanged. */
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  /** Seconds, 0 = off. Absent: unchanged. */
  readonly persistentKeepaliveIntervalS?: number;
  /** `replace_allowed_ips=true`: clear before adding `allowedIps`. */
  readonly replaceAllowedIps: boolean;
  readonly allowedIps: readonly IpPrefix[];
  /** `allowed_ip=-PREFIX` (wg-go 2025): remove just these prefixes. */
  readonly removedAllowedIps: readonly IpPrefix[];
}

export interface DeviceConfigChange {
  /** All-zero removes the key. Absent: unchanged. */
  readonly privateKey?: Uint8Array;
  /** 0 = pick a random port. Absent: unchanged. Applied by the UDP edge. */
  readonly listenPort?: number;
  /** 0 = off. Absent: unchanged. Applied by the UDP edge (SO_MARK). */
  readonly fwmark?: number;
  readonly replacePeers: boolean;
  readonly peers: readonly PeerConfigChange[];
}

export interface PeerStatus {
  readonly publicKey: Uint8Array;
  readonly presharedKey: Uint8Array;
  /** The direct UDP endpoint (configured or last roamed to), also while the peer is relayed. */
  readonly endpoint: Endpoint | undefined;
  /** True while the peer's datagrams go through the DERP relay (path.ts). Absent: false. */
  readonly relayed?: boolean;
  /** Wall-clock time of the last completed handshake in ms since the epoch, 0 = never. */
  readonly lastHandshakeWallMs: number;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
  readonly persistentKeepaliveIntervalS: number;
  readonly allowedIps: readonly IpPrefix[];
}

export interface DeviceStatus {
  readonly privateKey: Uint8Array | undefined;
  readonly publicKey: Uint8Array | undefined;
  readonly peers: readonly PeerStatus[];
}

/** Why a packet was dropped. A closed union: the runtime counts each reason. */
export type DropReason =
  | 'short-packet'
  | 'unknown-type'
  | 'bad-length'
  | 'bad-mac1'
  | 'bad-mac2'
  | 'under-load-no-cookie'
  | 'rate-limited'
  | 'unknown-peer'
  | 'decrypt-failed'
  | 'stale-timestamp'
  | 'unknown-index'
  | 'replayed-counter'
  | 'expired-keypair'
  | 'no-private-key'
  | 'no-route'
  | 'no-endpoint'
  | 'disallowed-source'
  | 'bad-inner-packet'
  | 'queue-full'
  | 'low-order-key'
  /** A relayed datagram authenticated as a peer whose key is not the DERP source key, or arriving while no relay is enabled. */
  | 'relay-source-mismatch'
  /** Staged packets dropped because the handshake gave up after REKEY_ATTEMPT_TIME (20 attempts). */
  | 'handshake-timeout';

export type DeviceOutput =
  /** Send `datagram` over UDP to `endpoint`. The array may be a view of a reused buffer: send before the next call. */
  | { readonly type: 'toNetwork'; readonly datagram: Uint8Array; readonly endpoint: Endpoint }
  /** Write `packet` (a whole inner IP packet) to the TUN device. */
  /** Send `datagram` through the DERP relay to the node whose key is `publicKey` (same buffer rule as toNetwork). */
  | { readonly type: 'toRelay'; readonly datagram: Uint8Array; readonly publicKey: Uint8Array }
  | { readonly type: 'toTun'; readonly packet: Uint8Array }
  | { readonly type: 'drop'; readonly reason: DropReason };

/** What the edges need from the WireGuard core. `Device` in device.ts implements it. */
export interface DeviceCore {
  /** Applies a validated config change atomically. */
  configure(change: DeviceConfigChange, now: MonotonicMs): void;
  status(now: MonotonicMs): DeviceStatus;
  /** An IP packet read from the TUN device. */
  sendFromTun(packet: Uint8Array, now: MonotonicMs, out: DeviceOutput[]): void;
  /** A datagram received from `from`: by UDP, or through the DERP relay (`family: 'derp'`, the source key). */
  receiveFromNetwork(datagram: Uint8Array, from: PathEndpoint, now: MonotonicMs, out: DeviceOutput[]): void;
  /**
   * Tells the core whether a DERP relay is available (the runtime has one configured): only
   * then does it emit `toRelay` outputs and accept relayed datagrams. Default: off.
   */
  setRelayEnabled(enabled: boolean): void;
  /** Runs due timers (retransmits, keepalives, rekeys, expiry). */
  poll(now: MonotonicMs, out: DeviceOutput[]): void;
  nextDeadline(): MonotonicMs | undefined;
}
