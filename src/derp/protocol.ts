/**
 * DERP payloads: a codec for the payload of every frame type, including the sealed JSON of
 * ClientInfo and ServerInfo. Decoders are bounded, never throw, and return a typed error; where
 * the spec is extensible they ignore trailing bytes.
 *
 * Facts: /work/shared/docs/derp.md §3.2–§3.7; tailscale/tailscale `derp/derp.go`,
 * `derp_client.go`. Keys live in keys.ts and the NaCl box in naclbox.ts; both are re-exported
 * here so callers can import the whole wire vocabulary from one module.
 */
import { ByteReader } from '../runtime/bytes.js';
import {
  BOX_OVERHEAD_BYTES, KEY_BYTES, MAGIC, MAGIC_BYTES, MAX_CLIENT_INFO_FRAME_BYTES, MAX_PACKET_BYTES,
  MAX_PING_FRAME_BYTES, MIN_CLIENT_INFO_FRAME_BYTES, NONCE_BYTES, PING_DATA_BYTES, PROTOCOL_VERSION,
} from './frame.js';
import { ipFrom16, ipTo16 } from './ip-address.js';
import { HEX64, publicKeyOf, type NodePrivateKey, type NodePublicKey } from './keys.js';
import { boxBeforeNm, openBox, openBoxWithKey, sealBox, sealBoxWithKey } from './naclbox.js';

/** PeerPresent's 16-byte address codec lives with the other IP text helpers. */
export { ipFrom16, ipTo16 } from './ip-address.js';

export * from './keys.js';
export * from './naclbox.js';

// ---- Typed decode results ----

export type PayloadErrorCode =
  | 'short' // too few bytes for the type
  | 'bad-length' // a fixed-size frame of the wrong size
  | 'too-large' // over a protocol maximum (e.g. a packet over 64 KiB)
  | 'bad-magic' // ServerKey without "DERP🔑"
  | 'box-open-failed' // NaCl box did not authenticate
  | 'bad-json' // ClientInfo/ServerInfo JSON did not parse or has wrong types
  | 'bad-mesh-key'; // meshKey present but not 64 hex digits

export interface PayloadError {
  readonly ok: false;
  readonly code: PayloadErrorCode;
  readonly message: string;
}

export type Decoded<T> = ({ readonly ok: true } & T) | PayloadError;

function fail(code: PayloadErrorCode, message: string): PayloadError {
  return { ok: false, code, message };
}

// ---- ServerKey (0x01) ----

/** ServerKey payload: magic ‖ server public key. */
export function encodeServerKey(serverKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAGIC_BYTES + KEY_BYTES);
  out.set(MAGIC, 0);
  out.set(serverKey, MAGIC_BYTES);
  return out;
}

/** Decodes ServerKey; trailing bytes are reserved for future use and ignored. */
export function decodeServerKey(payload: Uint8Array): Decoded<{ serverKey: NodePublicKey }> {
  if (payload.length < MAGIC_BYTES + KEY_BYTES) return fail('short', `ServerKey of ${payload.length} bytes`);
  for (let i = 0; i < MAGIC_BYTES; i++) if (payload[i] !== MAGIC[i]) return fail('bad-magic', 'ServerKey without DERP magic');
  return { ok: true, serverKey: payload.slice(MAGIC_BYTES, MAGIC_BYTES + KEY_BYTES) as NodePublicKey };
}

// ---- ClientInfo (0x02) and ServerInfo (0x03) ----

/** The JSON inside ClientInfo (derp.md §3.3); field names on the wire in comments. */
export interface ClientInfo {
  /** `version`, omitted when 0. */
  version: number;
  /** `meshKey`: 64 lowercase hex, omitted when unset. Secret. */
  meshKey?: string;
  /** `CanAckPings`, always present. */
  canAckPings: boolean;
  /** `IsProber`, omitted when false. */
  isProber: boolean;
  /** `AppName`, omitted when empty. */
  appName?: string;
}

/** The JSON inside ServerInfo. derper sends `{"version":2}`. */
export interface ServerInfo {
  version: number;
  /** `TokenBucketBytesPerSecond`, omitted when 0. */
  tokenBucketBytesPerSecond: number;
  /** `TokenBucketBytesBurst`, omitted when 0. */
  tokenBucketBytesBurst: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** ClientInfo JSON in Go's field order and omission rules. */
export function encodeClientInfoJson(info: ClientInfo): Uint8Array {
  const o: Record<string, unknown> = {};
  if (info.version !== 0) o.version = info.version;
  if (info.meshKey) o.meshKey = info.meshKey;
  o.CanAckPings = info.canAckPings;
  if (info.isProber) o.IsProber = true;
  if (info.appName) o.AppName = info.appName;
  return textEncoder.encode(JSON.stringify(o));
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(textDecoder.decode(bytes));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function optionalNumber(o: Record<string, unknown>, name: string): number | undefined | null {
  const v = o[name];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}

/**
 * Parses ClientInfo JSON. Go's encoding/json matches field names case-insensitively, so this
 * does too. A meshKey that is not 64 hex digits fails, as at Tailscale HEAD.
 */
export function decodeClientInfoJson(bytes: Uint8Array): Decoded<{ info: ClientInfo }> {
  const raw = parseJsonObject(bytes);
  if (!raw) return fail('bad-json', 'ClientInfo is not a JSON object');
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) o[k.toLowerCase()] = v;
  const version = optionalNumber(o, 'version');
  if (version === null) return fail('bad-json', 'ClientInfo.version is not an integer');
  const meshKey = o.meshkey;
  if (meshKey !== undefined && meshKey !== null && meshKey !== '') {
    if (typeof meshKey !== 'string' || !HEX64.test(meshKey)) return fail('bad-mesh-key', 'ClientInfo.meshKey is not 64 hex digits');
  }
  for (const b of ['canackpings', 'isprober']) {
    if (o[b] !== undefined && o[b] !== null && typeof o[b] !== 'boolean') return fail('bad-json', `ClientInfo.${b} is not a boolean`);
  }
  if (o.appname !== undefined && o.appname !== null && typeof o.appname !== 'string') return fail('bad-json', 'ClientInfo.AppName is not a string');
  const info: ClientInfo = {
    version: version ?? 0,
    canAckPings: o.canackpings === true,
    isProber: o.isprober === true,
  };
  if (typeof meshKey === 'string' && meshKey !== '') info.meshKey = meshKey.toLowerCase();
  if (typeof o.appname === 'string' && o.appname !== '') info.appName = o.appname;
  return { ok: true, info };
}

/** ServerInfo JSON with Go's omission rules. */
export function encodeServerInfoJson(info: ServerInfo): Uint8Array {
  const o: Record<string, unknown> = {};
  if (info.version !== 0) o.version = info.version;
  if (info.tokenBucketBytesPerSecond !== 0) o.TokenBucketBytesPerSecond = info.tokenBucketBytesPerSecond;
  if (info.tokenBucketBytesBurst !== 0) o.TokenBucketBytesBurst = info.tokenBucketBytesBurst;
  return textEncoder.encode(JSON.stringify(o));
}

export function decodeServerInfoJson(bytes: Uint8Array): Decoded<{ info: ServerInfo }> {
  const raw = parseJsonObject(bytes);
  if (!raw) return fail('bad-json', 'ServerInfo is not a JSON object');
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) o[k.toLowerCase()] = v;
  const version = optionalNumber(o, 'version');
  const rate = optionalNumber(o, 'tokenbucketbytespersecond');
  const burst = optionalNumber(o, 'tokenbucketbytesburst');
  if (version === null || rate === null || burst === null) return fail('bad-json', 'ServerInfo field is not an integer');
  return { ok: true, info: { version: version ?? 0, tokenBucketBytesPerSecond: rate ?? 0, tokenBucketBytesBurst: burst ?? 0 } };
}

/** ClientInfo payload: client public key ‖ nonce ‖ box(JSON), sealed to the server key. */
export function sealClientInfo(clientPriv: NodePrivateKey, serverKey: Uint8Array, nonce: Uint8Array, info: ClientInfo): Uint8Array | undefined {
  const sealed = sealBox(clientPriv, serverKey, nonce, encodeClientInfoJson(info));
  if (!sealed) return undefined;
  const out = new Uint8Array(KEY_BYTES + sealed.length);
  out.set(publicKeyOf(clientPriv), 0);
  out.set(sealed, KEY_BYTES);
  return out;
}

/** Splits a ClientInfo payload (56 bytes to 256 KiB) into the client key and the sealed box. */
export function decodeClientInfoFrame(payload: Uint8Array): Decoded<{ clientKey: NodePublicKey; sealed: Uint8Array }> {
  if (payload.length < MIN_CLIENT_INFO_FRAME_BYTES) return fail('short', `ClientInfo of ${payload.length} bytes`);
  if (payload.length > MAX_CLIENT_INFO_FRAME_BYTES) return fail('too-large', `ClientInfo of ${payload.length} bytes`);
  return { ok: true, clientKey: payload.slice(0, KEY_BYTES) as NodePublicKey, sealed: payload.subarray(KEY_BYTES) };
}

/** Server side: splits, opens and parses a ClientInfo payload. */
export function openClientInfo(serverPriv: NodePrivateKey, payload: Uint8Array): Decoded<{ clientKey: NodePublicKey; info: ClientInfo }> {
  const frame = decodeClientInfoFrame(payload);
  if (!frame.ok) return frame;
  const plain = openBox(serverPriv, frame.clientKey, frame.sealed);
  if (!plain) return fail('box-open-failed', 'msgbox: cannot open ClientInfo');
  const parsed = decodeClientInfoJson(plain);
  if (!parsed.ok) return parsed;
  return { ok: true, clientKey: frame.clientKey, info: parsed.info };
}

/**
 * Server side, one X25519 per handshake: opens ClientInfo and also returns the box key, so that
 * ServerInfo can be sealed with `sealServerInfoWithBoxKey`. The caller wipes `boxKey`.
 */
export function acceptClientInfo(serverPriv: NodePrivateKey, payload: Uint8Array): Decoded<{ clientKey: NodePublicKey; info: ClientInfo; boxKey: Uint8Array }> {
  const frame = decodeClientInfoFrame(payload);
  if (!frame.ok) return frame;
  const boxKey = boxBeforeNm(serverPriv, frame.clientKey);
  if (!boxKey) return fail('box-open-failed', 'msgbox: low-order client key');
  const plain = openBoxWithKey(boxKey, frame.sealed);
  if (!plain) {
    boxKey.fill(0);
    return fail('box-open-failed', 'msgbox: cannot open ClientInfo');
  }
  const parsed = decodeClientInfoJson(plain);
  if (!parsed.ok) {
    boxKey.fill(0);
    return parsed;
  }
  return { ok: true, clientKey: frame.clientKey, info: parsed.info, boxKey };
}

/** ServerInfo payload sealed with the box key from `acceptClientInfo`. */
export function sealServerInfoWithBoxKey(boxKey: Uint8Array, nonce: Uint8Array, info: ServerInfo = { version: PROTOCOL_VERSION, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 }): Uint8Array | undefined {
  return sealBoxWithKey(boxKey, nonce, encodeServerInfoJson(info));
}

/** ServerInfo payload: nonce ‖ box(JSON), sealed to the client key. */
export function sealServerInfo(serverPriv: NodePrivateKey, clientKey: Uint8Array, nonce: Uint8Array, info: ServerInfo = { version: PROTOCOL_VERSION, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 }): Uint8Array | undefined {
  return sealBox(serverPriv, clientKey, nonce, encodeServerInfoJson(info));
}

/** Client side: opens and parses a ServerInfo payload. */
export function openServerInfo(clientPriv: NodePrivateKey, serverKey: Uint8Array, payload: Uint8Array): Decoded<{ info: ServerInfo }> {
  if (payload.length < NONCE_BYTES + BOX_OVERHEAD_BYTES) return fail('short', `ServerInfo of ${payload.length} bytes`);
  const plain = openBox(clientPriv, serverKey, payload);
  if (!plain) return fail('box-open-failed', 'msgbox: cannot open ServerInfo');
  return decodeServerInfoJson(plain);
}

// ---- Packets: SendPacket (0x04), RecvPacket (0x05), ForwardPacket (0x0a) ----

/** SendPacket payload: destination key ‖ packet. */
export function decodeSendPacket(payload: Uint8Array): Decoded<{ dst: NodePublicKey; packet: Uint8Array }> {
  if (payload.length < KEY_BYTES) return fail('short', 'short send packet frame');
  if (payload.length - KEY_BYTES > MAX_PACKET_BYTES) return fail('too-large', `packet of ${payload.length - KEY_BYTES} bytes`);
  return { ok: true, dst: payload.subarray(0, KEY_BYTES) as NodePublicKey, packet: payload.subarray(KEY_BYTES) };
}

/** RecvPacket payload (v2): source key ‖ packet. */
export function decodeRecvPacket(payload: Uint8Array): Decoded<{ src: NodePublicKey; packet: Uint8Array }> {
  if (payload.length < KEY_BYTES) return fail('short', 'short recv packet frame');
  if (payload.length - KEY_BYTES > MAX_PACKET_BYTES) return fail('too-large', `packet of ${payload.length - KEY_BYTES} bytes`);
  return { ok: true, src: payload.subarray(0, KEY_BYTES) as NodePublicKey, packet: payload.subarray(KEY_BYTES) };
}

/** ForwardPacket payload: source key ‖ destination key ‖ packet. */
export function decodeForwardPacket(payload: Uint8Array): Decoded<{ src: NodePublicKey; dst: NodePublicKey; packet: Uint8Array }> {
  if (payload.length < 2 * KEY_BYTES) return fail('short', 'short forward packet frame');
  if (payload.length - 2 * KEY_BYTES > MAX_PACKET_BYTES) return fail('too-large', `packet of ${payload.length - 2 * KEY_BYTES} bytes`);
  return {
    ok: true,
    src: payload.subarray(0, KEY_BYTES) as NodePublicKey,
    dst: payload.subarray(KEY_BYTES, 2 * KEY_BYTES) as NodePublicKey,
    packet: payload.subarray(2 * KEY_BYTES),
  };
}

// ---- Small control frames ----

/** NotePreferred: exactly one byte; non-zero means "this is my home server". */
export function decodeNotePreferred(payload: Uint8Array): Decoded<{ preferred: boolean }> {
  if (payload.length !== 1) return fail('bad-length', `NotePreferred of ${payload.length} bytes`);
  return { ok: true, preferred: payload[0] !== 0 };
}

/** PeerGone reason byte (derp.md §3.5). MeshConnBroke (0xf0) is client-internal, never on the wire. */
export const PeerGoneReason = { Disconnected: 0x00, NotHere: 0x01, MeshConnBroke: 0xf0 } as const;
export type PeerGoneReason = (typeof PeerGoneReason)[keyof typeof PeerGoneReason];

/** PeerGone payload: key ‖ reason. */
export function encodePeerGone(key: Uint8Array, reason: number): Uint8Array {
  const out = new Uint8Array(KEY_BYTES + 1);
  out.set(key, 0);
  out[KEY_BYTES] = reason & 0xff;
  return out;
}

/** PeerGone: the bare 32-byte form means reason 0; trailing bytes are ignored. */
export function decodePeerGone(payload: Uint8Array): Decoded<{ key: NodePublicKey; reason: number }> {
  if (payload.length < KEY_BYTES) return fail('short', 'short peer gone frame');
  return { ok: true, key: payload.slice(0, KEY_BYTES) as NodePublicKey, reason: payload.length > KEY_BYTES ? payload[KEY_BYTES]! : 0 };
}

/** PeerPresent flags byte (derp.md §3.5). Zero means the server is too old to send flags. */
export const PeerPresentFlags = { IsRegular: 0x01, IsMeshPeer: 0x02, IsProber: 0x04, NotIdeal: 0x08 } as const;

/** A remote endpoint: IPv4 dotted quad or IPv6 text, and a port. */
export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

/** PeerPresent payload; the current server form is 51 bytes: key ‖ IP(16) ‖ port(2 BE) ‖ flags. */
export function encodePeerPresent(key: Uint8Array, endpoint: Endpoint | undefined, flags: number): Uint8Array {
  const out = new Uint8Array(KEY_BYTES + 16 + 2 + 1);
  out.set(key, 0);
  if (endpoint) {
    out.set(ipTo16(endpoint.ip), KEY_BYTES);
    out[KEY_BYTES + 16] = (endpoint.port >>> 8) & 0xff;
    out[KEY_BYTES + 17] = endpoint.port & 0xff;
  }
  out[KEY_BYTES + 18] = flags & 0xff;
  return out;
}

/** PeerPresent: 32, 50 or 51+ bytes ("old servers send fewer, newer servers might send more"). */
export function decodePeerPresent(payload: Uint8Array): Decoded<{ key: NodePublicKey; endpoint?: Endpoint; flags: number }> {
  if (payload.length < KEY_BYTES) return fail('short', 'short peer present frame');
  const key = payload.slice(0, KEY_BYTES) as NodePublicKey;
  if (payload.length < KEY_BYTES + 18) return { ok: true, key, flags: 0 };
  const r = new ByteReader(payload, KEY_BYTES);
  const ip = ipFrom16(r.take(16)!);
  const port = r.u16be()!;
  const flags = r.u8() ?? 0;
  return { ok: true, key, endpoint: { ip, port }, flags };
}

/** ClosePeer: exactly one 32-byte key. */
export function decodeClosePeer(payload: Uint8Array): Decoded<{ key: NodePublicKey }> {
  if (payload.length !== KEY_BYTES) return fail('bad-length', `ClosePeer of ${payload.length} bytes`);
  return { ok: true, key: payload.slice() as NodePublicKey };
}

/** WatchConns must be empty. */
export function decodeWatchConns(payload: Uint8Array): Decoded<object> {
  return payload.length === 0 ? { ok: true } : fail('bad-length', `WatchConns of ${payload.length} bytes`);
}

/** Ping (server side): 8–1000 bytes, of which the first 8 are the data to echo. */
export function decodePing(payload: Uint8Array, maxBytes = MAX_PING_FRAME_BYTES): Decoded<{ data: Uint8Array }> {
  if (payload.length < PING_DATA_BYTES) return fail('short', 'short ping frame');
  if (payload.length > maxBytes) return fail('too-large', `ping of ${payload.length} bytes`);
  return { ok: true, data: payload.slice(0, PING_DATA_BYTES) };
}

/** Pong: at least 8 bytes; the first 8 are the echoed data. */
export function decodePong(payload: Uint8Array): Decoded<{ data: Uint8Array }> {
  if (payload.length < PING_DATA_BYTES) return fail('short', 'short pong frame');
  return { ok: true, data: payload.slice(0, PING_DATA_BYTES) };
}

/** Health: UTF-8 problem text, empty when healthy (invalid UTF-8 is replaced, not fatal). */
export function encodeHealth(problem: string): Uint8Array {
  return textEncoder.encode(problem);
}

export function decodeHealth(payload: Uint8Array): Decoded<{ problem: string }> {
  return { ok: true, problem: textDecoder.decode(payload) };
}

/** Restarting payload: reconnect-in ms ‖ try-for ms, both uint32 BE. */
export function encodeRestarting(reconnectInMs: number, tryForMs: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, Math.max(0, Math.min(0xffffffff, Math.floor(reconnectInMs))), false);
  v.setUint32(4, Math.max(0, Math.min(0xffffffff, Math.floor(tryForMs))), false);
  return out;
}

export function decodeRestarting(payload: Uint8Array): Decoded<{ reconnectInMs: number; tryForMs: number }> {
  const r = new ByteReader(payload);
  const reconnectInMs = r.u32be();
  const tryForMs = r.u32be();
  if (reconnectInMs === undefined || tryForMs === undefined) return fail('short', 'short restarting frame');
  return { ok: true, reconnectInMs, tryForMs };
}

// ---- Disco (derp.md §3.7) ----

/** "TS💬": 54 53 f0 9f 92 ac, the start of a disco message. */
export const DISCO_MAGIC = Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac);
/** magic (6) + sender disco key (32) + nonce (24). */
export const MIN_DISCO_PACKET_BYTES = 6 + 32 + 24;

/** True when a packet looks like a disco message (only used to pick a queue and a metric label). */
export function looksLikeDisco(packet: Uint8Array): boolean {
  if (packet.length < MIN_DISCO_PACKET_BYTES) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (packet[i] !== DISCO_MAGIC[i]) return false;
  return true;
}
