/**
 * Prometheus export of the DERP relay's counters and gauges, read from the core at scrape time.
 * Names mirror derper's `derp_*` metrics (derp.md §7) under the process-wide `tsplane_` prefix.
 */
import { Counter, Gauge, type Registry } from '../../runtime/metrics.js';
import type { DerpServer } from '../server.js';
import { DROP_REASONS, type DerpServerGauges, type DerpServerStats } from '../server-stats.js';
import type { DerpHttpStats } from './http.js';
import type { StunCounters } from './stun.js';

type StatCounter = { [K in keyof DerpServerStats]: DerpServerStats[K] extends bigint ? K : never }[keyof DerpServerStats];
type HttpCounter = keyof DerpHttpStats;

const CORE_COUNTERS: [string, StatCounter, string][] = [
  ['accepts', 'accepts', 'DERP connections accepted'],
  ['handshake_failures', 'handshakeFailures', 'handshakes that failed (bad first frame, box or JSON)'],
  ['handshake_timeouts', 'handshakeTimeouts', 'clients dropped for not sending ClientInfo within 10 s'],
  ['rejected_clients', 'rejectedClients', 'clients refused by verify-clients'],
  ['bytes_received', 'bytesReceived', 'packet bytes received from clients'],
  ['bytes_sent', 'bytesSent', 'packet bytes sent to clients'],
  ['packets_received', 'packetsReceived', 'packets received from clients'],
  ['packets_received_disco', 'packetsReceivedDisco', 'disco packets received from clients'],
  ['packets_sent', 'packetsSent', 'packets sent to clients'],
  ['packets_forwarded_in', 'packetsForwardedIn', 'ForwardPacket frames received from mesh peers'],
  ['packets_forwarded_out', 'packetsForwardedOut', 'packets forwarded to mesh peers'],
  ['got_ping', 'gotPing', 'Ping frames received'],
  ['sent_pong', 'sentPong', 'Pong frames sent'],
  ['peer_gone_disconnected_frames', 'peerGoneDisconnectedFrames', 'PeerGone(Disconnected) frames sent'],
  ['peer_gone_not_here_frames', 'peerGoneNotHereFrames', 'PeerGone(NotHere) frames sent'],
  ['home_moves_in', 'homeMovesIn', 'clients that made this server their home'],
  ['home_moves_out', 'homeMovesOut', 'clients that stopped using this server as home'],
  ['unknown_frames', 'unknownFrames', 'frames of unknown type skipped'],
  ['total_dup_client_conns', 'totalDupClientConns', 'connections that duplicated a connected key'],
  ['sclient_write_timeouts', 'writeTimeouts', 'clients closed for not draining writes in time'],
  ['protocol_errors', 'protocolErrors', 'connections closed for malformed frames'],
  ['bytes_dropped', 'bytesDropped', 'packet bytes dropped'],
];

const GAUGES: [string, keyof DerpServerGauges, string][] = [
  ['current_connections', 'currentConnections', 'authenticated DERP connections'],
  ['current_home_connections', 'currentHomeConnections', 'connections whose client calls this server home'],
  ['current_notideal_connections', 'currentNotIdealConnections', 'connections from clients not on their ideal node'],
  ['clients_total', 'clientsTotal', 'distinct keys reachable (local + via mesh)'],
  ['clients_local', 'clientsLocal', 'distinct keys connected here'],
  ['clients_remote', 'clientsRemote', 'distinct keys reachable only via a mesh peer'],
  ['current_dup_client_keys', 'currentDupClientKeys', 'keys with more than one connection'],
  ['current_dup_client_conns', 'currentDupClientConns', 'connections belonging to duplicated keys'],
  ['watchers', 'watchers', 'mesh peers watching connections'],
  ['handshakes_in_progress', 'handshakesInProgress', 'connections waiting for ClientInfo'],
  ['queued_packets', 'queuedPackets', 'packets waiting in per-client send queues'],
];

const HTTP_COUNTERS: [string, HttpCounter, string][] = [
  ['upgrade_accepts', 'upgradeAccepts', 'Upgrade: DERP connections'],
  ['websocket_accepts', 'websocketAccepts', 'WebSocket (subprotocol derp) connections'],
  ['fast_start_accepts', 'fastStarts', 'connections that used Derp-Fast-Start'],
  ['accept_rate_limited', 'rejectedConnections', 'TCP connections closed by the accept rate limit'],
  ['upgrade_refused', 'upgradeRefused', '/derp requests answered 426'],
];

/** Registers `tsplane_derp_*` collectors for `server` (and the HTTP edge) on `registry`. */
export function registerDerpMetrics(registry: Registry, server: DerpServer, http?: DerpHttpStats, stun?: StunCounters): void {
  const prefix = 'tsplane_derp_';
  for (const [name, field, help] of CORE_COUNTERS) {
    new Counter({
      name: `${prefix}${name}_total`, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(Number(server.stats[field]));
      },
    });
  }
  new Counter({
    name: `${prefix}packets_dropped_total`, help: 'packets dropped, by reason and kind', labelNames: ['reason', 'kind'], registers: [registry],
    collect() {
      this.reset();
      for (const reason of DROP_REASONS) {
        const r = server.stats.packetsDropped[reason];
        this.inc({ reason, kind: 'disco' }, Number(r.disco));
        this.inc({ reason, kind: 'other' }, Number(r.other));
      }
    },
  });
  for (const [name, field, help] of GAUGES) {
    new Gauge({
      name: `${prefix}${name}`, help, registers: [registry],
      collect() {
        this.set(server.gauges()[field]); // O(connections); cheap next to a scrape
      },
    });
  }
  if (http) {
    for (const [name, field, help] of HTTP_COUNTERS) {
      new Counter({
        name: `${prefix}${name}_total`, help, registers: [registry],
        collect() {
          this.reset();
          this.inc(Number(http[field]));
        },
      });
    }
  }
  if (stun) {
    // derper: stun_requests{disposition} and stun_addrfamily{family}.
    new Counter({
      name: 'tsplane_stun_requests_total', help: 'STUN datagrams by disposition', labelNames: ['disposition'], registers: [registry],
      collect() {
        this.reset();
        this.inc({ disposition: 'success' }, Number(stun.success));
        this.inc({ disposition: 'not_stun' }, Number(stun.notStun));
        this.inc({ disposition: 'read_error' }, Number(stun.readError));
        this.inc({ disposition: 'write_error' }, Number(stun.writeError));
      },
    });
    new Counter({
      name: 'tsplane_stun_addrfamily_total', help: 'answered STUN requests by address family', labelNames: ['family'], registers: [registry],
      collect() {
        this.reset();
        this.inc({ family: 'ipv4' }, Number(stun.ipv4));
        this.inc({ family: 'ipv6' }, Number(stun.ipv6));
      },
    });
  }
}
