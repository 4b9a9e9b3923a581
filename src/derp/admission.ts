/**
 * Who may use the relay (derp.md §3.6): mesh-key clients are trusted; everyone else passes an
 * optional admission check (the `--verify-clients` allow-list, a `--verify-client-url`
 * controller), which may answer synchronously or later.
 */
import { constantTimeEqual } from '../runtime/bytes.js';
import { KEY_BYTES } from './frame.js';
import type { NodePublicKey } from './keys.js';
import type { ClientInfo, Endpoint } from './protocol.js';

/** Result of an admission check for a non-mesh client. */
export type VerifyResult = { allow: true } | { allow: false; reason: string };

/**
 * Admission check for non-mesh clients. It may answer later (a verify-client URL): the client
 * then waits, under the handshake deadline, and its early frames are held (bounded).
 */
export type VerifyClient = (key: NodePublicKey, info: ClientInfo, remote: Endpoint | undefined) => VerifyResult | PromiseLike<VerifyResult>;

export function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/**
 * True when ClientInfo's `meshKey` (64 hex, already validated) equals the server's mesh key:
 * constant time over the 32 decoded bytes; no configured key, or an empty one, never matches.
 */
export function isMeshKey(serverMeshKey: Uint8Array | undefined, given: string | undefined): boolean {
  if (!serverMeshKey || serverMeshKey.length !== KEY_BYTES || !given) return false;
  const bytes = Buffer.from(given, 'hex');
  return bytes.length === KEY_BYTES && constantTimeEqual(new Uint8Array(bytes), serverMeshKey);
}
