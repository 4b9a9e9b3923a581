/**
 * derper's debug pages, for dashboards and scripts written against derper (derp.md §7):
 * `/debug/varz` is Prometheus text under derper's own `derp_*` / `stun_*` names (no `tsplane_`
 * prefix, no `_total` suffix), `/debug/vars` the same values as expvar-style JSON, and `/debug/`
 * a small index. Who may read them follows derper's rule: loopback and Tailscale addresses
 * (100.64.0.0/10, fd7a:115c:a1e0::/48) only, and never a request that came through a proxy
 * (`X-Forwarded-For` present).
 *
 * Pure formatting: counters and gauges in, text out.
 */
import { parseIp } from './ip-address.js';
import { DROP_REASONS, type DerpServerGauges, type DerpServerStats } from './server-stats.js';

/** STUN counters as the STUN edge keeps them. */
export interface StunCounts {
  readonly success: bigint;
  readonly notStun: bigint;
  readonly readError: bigint;
  readonly writeError: bigint;
  readonly ipv4: bigint;
  readonly ipv6: bigint;
}

export interface VarzInput {
  readonly stats: DerpServerStats;
  readonly gauges: DerpServerGauges;
  readonly websocketAccepts?: bigint;
  readonly stun?: StunCounts;
  readonly uptimeSeconds: number;
}

/** derper counter name (after `derp_`) → field of the core's stats. */
const VARZ_COUNTERS: readonly [string, keyof DerpServerStats][] = [
  ['accepts', 'accepts'],
  ['bytes_received', 'bytesReceived'],
  ['bytes_sent', 'bytesSent'],
  ['packets_received', 'packetsReceived'],
  ['packets_sent', 'packetsSent'],
  ['packets_forwarded_in', 'packetsForwardedIn'],
  ['packets_forwarded_out', 'packetsForwardedOut'],
  ['got_ping', 'gotPing'],
  ['sent_pong', 'sentPong'],
  ['peer_gone_disconnected_frames', 'peerGoneDisconnectedFrames'],
  ['peer_gone_not_here_frames', 'peerGoneNotHereFrames'],
  ['home_moves_in', 'homeMovesIn'],
  ['home_moves_out', 'homeMovesOut'],
  ['unknown_frames', 'unknownFrames'],
  ['total_dup_client_conns', 'totalDupClientConns'],
  ['sclient_write_timeouts', 'writeTimeouts'],
  ['bytes_dropped', 'bytesDropped'],
];

/** derper gauge name (after `derp_`) → field of the core's gauges. */
const VARZ_GAUGES: readonly [string, keyof DerpServerGauges][] = [
  ['current_connections', 'currentConnections'],
  ['current_home_connections', 'currentHomeConnections'],
  ['current_notideal_connections', 'currentNotIdealConnections'],
  ['clients_total', 'clientsTotal'],
  ['clients_local', 'clientsLocal'],
  ['clients_remote', 'clientsRemote'],
  ['current_dup_client_keys', 'currentDupClientKeys'],
  ['current_dup_client_conns', 'currentDupClientConns'],
  ['watchers', 'watchers'],
];

/** Prometheus text exposition of derper's metric names. */
export function formatVarz(v: VarzInput): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', value: bigint | number): void => {
    out.push(`# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  for (const [name, field] of VARZ_COUNTERS) metric(`derp_${name}`, 'counter', v.stats[field] as bigint);
  out.push('# TYPE derp_packets_received_kind counter');
  out.push(`derp_packets_received_kind{kind="disco"} ${v.stats.packetsReceivedDisco}`);
  out.push(`derp_packets_received_kind{kind="other"} ${v.stats.packetsReceived - v.stats.packetsReceivedDisco}`);
  // The 2023 name (by reason) and the current one (by reason and kind).
  out.push('# TYPE derp_packets_dropped_reason counter');
  for (const reason of DROP_REASONS) out.push(`derp_packets_dropped_reason{reason="${reason}"} ${v.stats.dropped(reason)}`);
  out.push('# TYPE derp_packets_dropped counter');
  for (const reason of DROP_REASONS) {
    const r = v.stats.packetsDropped[reason];
    out.push(`derp_packets_dropped{reason="${reason}",kind="disco"} ${r.disco}`, `derp_packets_dropped{reason="${reason}",kind="other"} ${r.other}`);
  }
  for (const [name, field] of VARZ_GAUGES) metric(`derp_${name}`, 'gauge', v.gauges[field]);
  if (v.websocketAccepts !== undefined) metric('derp_websocket_accepts', 'counter', v.websocketAccepts);
  if (v.stun) {
    out.push('# TYPE stun_requests counter');
    out.push(`stun_requests{disposition="success"} ${v.stun.success}`, `stun_requests{disposition="not_stun"} ${v.stun.notStun}`);
    out.push(`stun_requests{disposition="read_error"} ${v.stun.readError}`, `stun_requests{disposition="write_error"} ${v.stun.writeError}`);
    out.push('# TYPE stun_addrfamily counter');
    out.push(`stun_addrfamily{family="ipv4"} ${v.stun.ipv4}`, `stun_addrfamily{family="ipv6"} ${v.stun.ipv6}`);
  }
  metric('process_uptime_seconds', 'gauge', Math.floor(v.uptimeSeconds));
  return `${out.join('\n')}\n`;
}

/** The same values as expvar-style JSON: `{ "derp": { "accepts": N, … }, "stun": { … } }`. */
export function formatVars(v: VarzInput): string {
  const derp: Record<string, number | Record<string, number>> = {};
  for (const [name, field] of VARZ_COUNTERS) derp[name] = Number(v.stats[field] as bigint);
  derp['packets_dropped_reason'] = Object.fromEntries(DROP_REASONS.map((r) => [r, Number(v.stats.dropped(r))]));
  for (const [name, field] of VARZ_GAUGES) derp[`gauge_${name}`] = v.gauges[field];
  const vars: Record<string, unknown> = { derp, uptime_seconds: Math.floor(v.uptimeSeconds) };
  if (v.stun) {
    vars['stun'] = { success: Number(v.stun.success), not_stun: Number(v.stun.notStun), read_error: Number(v.stun.readError), write_error: Number(v.stun.writeError) };
  }
  return `${JSON.stringify(vars, null, 2)}\n`;
}

/**
 * derper's debug access rule: the caller's address is loopback or a Tailscale address, and the
 * request did not come through a proxy. `remote` is the socket's peer address text.
 */
export function allowDebugAccess(remote: string | undefined, forwardedFor: string | undefined): boolean {
  if (forwardedFor !== undefined || remote === undefined) return false;
  const ip = parseIp(remote);
  if (ip === undefined) return false;
  if (ip.length === 4) {
    return ip[0] === 127 || (ip[0] === 100 && (ip[1]! & 0xc0) === 64); // 127/8, 100.64.0.0/10
  }
  const loopback = ip.every((b, i) => b === (i === 15 ? 1 : 0)); // ::1
  const tailscaleUla = ip[0] === 0xfd && ip[1] === 0x7a && ip[2] === 0x11 && ip[3] === 0x5c && ip[4] === 0xa1 && ip[5] === 0xe0; // fd7a:115c:a1e0::/48
  return loopback || tailscaleUla;
}
