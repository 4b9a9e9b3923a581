/**
 * DERP node keys (derp.md §4): 32-byte Curve25519 keys, their text forms (`nodekey:`,
 * `privkey:`, untyped hex, the `[XXXXX]` log short form) and the mesh pre-shared key.
 * Facts from tailscale/tailscale `types/key/node.go` and `types/key/derp.go`.
 */
import { x25519 } from './x25519.js';
import { fromHex, toHex } from '../runtime/bytes.js';
import type { Rng } from '../runtime/rng.js';
import { KEY_BYTES } from './frame.js';

/** A node's Curve25519 public key (32 bytes): the DERP address of a client. */
export type NodePublicKey = Uint8Array & { readonly __brand: 'NodePublicKey' };
/** A clamped Curve25519 private key (32 bytes). */
export type NodePrivateKey = Uint8Array & { readonly __brand: 'NodePrivateKey' };

/** Exactly 64 hex digits. */
export const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Parses `nodekey:<64 hex>` (the JSON/String() form). */
export function parseNodePublicKey(text: string): NodePublicKey | undefined {
  const t = text.trim();
  if (!t.startsWith('nodekey:')) return undefined;
  const hex = t.slice('nodekey:'.length);
  return HEX64.test(hex) ? (fromHex(hex) as NodePublicKey) : undefined;
}

/** `nodekey:` + 64 lowercase hex. */
export function formatNodePublicKey(key: Uint8Array): string {
  return `nodekey:${toHex(key)}`;
}

/** Parses `privkey:<64 hex>` (derper's key file). Clamps, as Tailscale does at generation. */
export function parseNodePrivateKey(text: string): NodePrivateKey | undefined {
  const t = text.trim();
  if (!t.startsWith('privkey:')) return undefined;
  const hex = t.slice('privkey:'.length);
  return HEX64.test(hex) ? clampPrivateKey(fromHex(hex)) : undefined;
}

/** `privkey:` + 64 lowercase hex. Secret: never log it. */
export function formatNodePrivateKey(key: NodePrivateKey): string {
  return `privkey:${toHex(key)}`;
}

/** RFC 7748 §5 clamping, in place: clear bits 0–2 and 255, set bit 254. */
export function clampPrivateKey(bytes: Uint8Array): NodePrivateKey {
  bytes[0]! &= 248;
  bytes[31]! &= 127;
  bytes[31]! |= 64;
  return bytes as NodePrivateKey;
}

/** A new random, clamped private key. */
export function generateNodePrivateKey(rng: Rng): NodePrivateKey {
  return clampPrivateKey(rng.fill(new Uint8Array(KEY_BYTES)));
}

/** X25519 public key of a private key. */
export function publicKeyOf(priv: NodePrivateKey): NodePublicKey {
  return x25519.publicKey(priv) as NodePublicKey;
}

/** Log short form `[XXXXX]`: the first 5 base64 characters of the key (derp.md §4). */
export function shortKey(key: Uint8Array): string {
  return `[${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64').slice(0, 5)}]`;
}

/** Untyped 64 lowercase hex, as in the `Derp-Public-Key` header and a map key. */
export function keyHex(key: Uint8Array): string {
  return toHex(key);
}

/** Parses a mesh key: exactly 64 hex digits after trimming whitespace (derp.md §4). */
export function parseMeshKey(text: string): Uint8Array | undefined {
  const t = text.trim();
  return HEX64.test(t) ? fromHex(t) : undefined;
}

