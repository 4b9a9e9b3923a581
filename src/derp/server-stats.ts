/**
 * Counters of the DERP relay core, named after derper's `derp_*` metrics (derp.md §7) so that
 * dashboards carry over. Plain bigint counters: the core stays free of any metrics library, and
 * io/metrics.ts exports them to Prometheus at scrape time.
 */

/** Why a packet was not delivered (derper's `dropReason*`, derp.md §7). */
export const DropReason = {
  /** No local client and no mesh forwarder for the destination. */
  UnknownDest: 'unknown_dest',
  /** A ForwardPacket from a mesh peer for a key that is not local. */
  UnknownDestOnFwd: 'unknown_dest_on_fwd',
  /** Still queued when the recipient disconnected. */
  GoneDisconnected: 'gone_disconnected',
  /** The oldest packet of a full queue, dropped to make room. */
  QueueHead: 'queue_head',
  /** The new packet, when a full queue could not make room. */
  QueueTail: 'queue_tail',
  /** Lost with a connection closed by a write error or write timeout. */
  WriteError: 'write_error',
  /** Sent by or to a duplicate connection that is not active. */
  DupClient: 'dup_client',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Packet kind label: disco (NAT traversal) or everything else (WireGuard). */
export type PacketKind = 'disco' | 'other';

export const DROP_REASONS: readonly DropReason[] = Object.values(DropReason);

/** Monotonic counters; 64-bit (bigint) as the house rules require. */
export class DerpServerStats {
  accepts = 0n;
  handshakeFailures = 0n;
  handshakeTimeouts = 0n;
  rejectedClients = 0n;
  bytesReceived = 0n;
  bytesSent = 0n;
  packetsReceived = 0n;
  packetsReceivedDisco = 0n;
  packetsSent = 0n;
  packetsForwardedIn = 0n;
  packetsForwardedOut = 0n;
  gotPing = 0n;
  sentPong = 0n;
  peerGoneDisconnectedFrames = 0n;
  peerGoneNotHereFrames = 0n;
  homeMovesIn = 0n;
  homeMovesOut = 0n;
  unknownFrames = 0n;
  totalDupClientConns = 0n;
  writeTimeouts = 0n;
  protocolErrors = 0n;
  bytesDropped = 0n;
  readonly packetsDropped: Record<DropReason, Record<PacketKind, bigint>>;

  constructor() {
    this.packetsDropped = Object.fromEntries(DROP_REASONS.map((r) => [r, { disco: 0n, other: 0n }])) as Record<DropReason, Record<PacketKind, bigint>>;
  }

  /** Counts one dropped packet of `bytes` bytes. */
  drop(reason: DropReason, kind: PacketKind, bytes: number): void {
    this.packetsDropped[reason][kind] += 1n;
    this.bytesDropped += BigInt(bytes);
  }

  /** Total drops for one reason, both kinds. */
  dropped(reason: DropReason): bigint {
    const r = this.packetsDropped[reason];
    return r.disco + r.other;
  }
}

/** Point-in-time gauges (derper's `derp_current_*`, `derp_clients_*`, `derp_watchers`). */
export interface DerpServerGauges {
  currentConnections: number;
  currentHomeConnections: number;
  currentNotIdealConnections: number;
  clientsTotal: number;
  clientsLocal: number;
  clientsRemote: number;
  currentDupClientKeys: number;
  currentDupClientConns: number;
  watchers: number;
  handshakesInProgress: number;
  queuedPackets: number;
}
