/**
 * Steady-state frames from an admitted DERP client (derp.md §3.2, §3.4, §3.5): SendPacket into
 * the router, mesh-only ForwardPacket / WatchConns / ClosePeer, NotePreferred, Ping (one Pong
 * pending per client). Unknown types, and known ones a client may not send, are skipped by
 * length; malformed known frames close the connection. The relay core (server.ts) owns the state
 * and hands it in as a `ClientFrameHost`.
 */
import {
  decodeClosePeer, decodeForwardPacket, decodeNotePreferred, decodePing, decodeSendPacket, decodeWatchConns, keyHex,
  type NodePublicKey,
} from './protocol.js';
import { FrameType } from './frame.js';
import type { PacketRouter } from './router.js';
import type { Client, CloseReason } from './server-conn.js';
import type { DerpServerStats } from './server-stats.js';

/** What frame handling may touch in the relay core. */
export interface ClientFrameHost {
  readonly stats: DerpServerStats;
  readonly router: PacketRouter;
  /** Clients with frames to write; the core flushes them after each batch. */
  readonly dirty: Set<Client>;
  /** The relay's own key, hex: a mesh peer watching itself is ignored. */
  readonly serverKeyHex: string;
  /** Forgets the client and closes its transport. */
  close(c: Client, reason: CloseReason, detail: string | undefined): void;
  onEvent(e: { type: 'close-peer'; id: number; target: NodePublicKey }): void;
}

/** One frame from an admitted client: relay, mesh control, ping; anything else skipped by length. */
export function handleClientFrame(host: ClientFrameHost, c: Client, type: number, payload: Uint8Array): void {
  switch (type) {
    case FrameType.SendPacket: {
      const p = decodeSendPacket(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      host.router.registry.noteActivity(c.keyHex, c);
      host.router.sendPacket(c, p.dst, p.packet);
      return;
    }
    case FrameType.ForwardPacket: {
      if (!c.canMesh) return permissionError(host, c, 'ForwardPacket');
      const p = decodeForwardPacket(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      host.router.forwardedIn(p.src, p.dst, p.packet);
      return;
    }
    case FrameType.NotePreferred: {
      const p = decodeNotePreferred(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      if (p.preferred !== c.preferred) {
        if (p.preferred) host.stats.homeMovesIn++;
        else host.stats.homeMovesOut++;
        c.preferred = p.preferred;
      }
      return;
    }
    case FrameType.WatchConns: {
      const p = decodeWatchConns(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      if (!c.canMesh) return permissionError(host, c, 'WatchConns');
      if (c.keyHex === host.serverKeyHex) return; // a self-mesh is ignored
      host.router.watch(c);
      return;
    }
    case FrameType.ClosePeer: {
      const p = decodeClosePeer(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      if (!c.canMesh) return permissionError(host, c, 'ClosePeer');
      const set = host.router.registry.get(keyHex(p.key));
      host.onEvent({ type: 'close-peer', id: c.id, target: p.key });
      if (set) for (const t of [...set.conns]) host.close(t, 'closed-by-peer', undefined);
      return;
    }
    case FrameType.Ping: {
      const p = decodePing(payload);
      if (!p.ok) return protocolError(host, c, p.message);
      host.stats.gotPing++;
      // One pending Pong per client, as derper's size-1 channel: faster pings are ignored.
      if (!c.pendingPong) {
        c.pendingPong = p.data;
        host.dirty.add(c);
      }
      return;
    }
    case FrameType.Pong:
      return; // answers to pings the server did not send; nothing to do
    default:
      // Unknown types, and known ones a client has no business sending, are skipped by length.
      host.stats.unknownFrames++;
  }
}

/** Closes a client that sent a malformed frame. */
export function protocolError(host: ClientFrameHost, c: Client, detail: string): void {
  host.stats.protocolErrors++;
  host.close(c, 'protocol-error', detail);
}

/** Closes a client that sent a mesh-only frame without the mesh key. */
function permissionError(host: ClientFrameHost, c: Client, what: string): void {
  host.close(c, 'insufficient-permissions', `${what} without the mesh key`);
}
