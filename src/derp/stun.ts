/**
 * STUN (RFC 5389) Binding, sans-IO: the responder a DERP server runs on UDP 3478 and the
 * request/response codec a client uses to learn its public address.
 *
 * What Tailscale does (derp.md §2.5, tailscale `net/stun`): its Binding Request is 40 bytes —
 * the 20-byte header, SOFTWARE "tailnode" (12 bytes, no padding) and FINGERPRINT (8 bytes) —
 * and derper answers only requests carrying exactly that SOFTWARE value and ending in a valid
 * FINGERPRINT. The answer is a Binding Success Response holding one XOR-MAPPED-ADDRESS.
 * The responder here does the same by default (`requireTailnodeSoftware`), which also keeps
 * reflection amplification off for generic scanners; with the option off it answers any
 * well-formed Binding Request (and still checks a FINGERPRINT when one is present).
 *
 * Untrusted input never throws: every parse returns a typed drop.
 */

/** RFC 5389 §6: the fixed magic cookie, bytes 4..7 of every message: `21 12 A4 42`. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** RFC 5389 §6 header: type (2) + length (2, attributes only) + cookie (4) + transaction ID (12). */
export const STUN_HEADER_BYTES = 20;
/** RFC 5389 §6: transaction ID length. */
export const STUN_TRANSACTION_ID_BYTES = 12;
/**
 * Implementation bound: we never parse a datagram larger than this. RFC 5389 §7.1 keeps
 * requests under the path MTU; Tailscale's request is 40 bytes.
 */
export const STUN_MAX_MESSAGE_BYTES = 1280;

/** Message type `00 01`: Binding Request (RFC 5389 §18.1 method 0x001, class request). */
export const STUN_BINDING_REQUEST = 0x0001;
/** Message type `01 01`: Binding Success Response. */
export const STUN_BINDING_SUCCESS = 0x0101;

/** Attribute `00 01`: MAPPED-ADDRESS (RFC 5389 §15.1): 0, family, port (2), address (4|16). */
export const ATTR_MAPPED_ADDRESS = 0x0001;
/** Attribute `00 20`: XOR-MAPPED-ADDRESS (§15.2): 0, family, port^0x2112, address^cookie[^txid]. */
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** Attribute `80 20`: the same in the comprehension-optional range; some servers send it. */
export const ATTR_XOR_MAPPED_ADDRESS_ALT = 0x8020;
/** Attribute `80 22`: SOFTWARE (§15.10), UTF-8 text. */
export const ATTR_SOFTWARE = 0x8022;
/** Attribute `80 28`: FINGERPRINT (§15.5): CRC-32 of the message before it, XOR 0x5354554E. */
export const ATTR_FINGERPRINT = 0x8028;
/** FINGERPRINT attribute size on the wire: type (2) + length (2) + CRC (4). */
const FINGERPRINT_ATTR_BYTES = 8;
/** §15.5 XOR constant, "STUN" in ASCII. */
const FINGERPRINT_XOR = 0x5354554e;

/** The SOFTWARE value Tailscale sends and derper insists on: 8 bytes, so no padding. */
export const TAILSCALE_SOFTWARE = 'tailnode';
const TAILSCALE_SOFTWARE_BYTES = new TextEncoder().encode(TAILSCALE_SOFTWARE);

/** Address families in (XOR-)MAPPED-ADDRESS. */
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

/** Why a datagram was not answered (derper counts all of these as `not_stun`). */
export type StunDropReason =
  | 'notStun' // shorter than a header, or the top two bits of the type are not zero
  | 'wrongMagicCookie' // RFC 3489 classic STUN or something else entirely
  | 'badLength' // declared length not a multiple of 4, or not the datagram's remainder, or too long
  | 'notBindingRequest' // another method or class
  | 'malformedAttributes' // an attribute runs past the end
  | 'wrongSoftware' // SOFTWARE is not "tailnode" (strict mode)
  | 'noFingerprint' // last attribute is not FINGERPRINT (strict mode)
  | 'wrongFingerprint' // FINGERPRINT present but wrong
  | 'notSuccessResponse' // (client side) not a Binding Success Response
  | 'noMappedAddress'; // (client side) response without a usable address

/** A transport address as STUN reports it. `ip` is 4 (IPv4) or 16 (IPv6) bytes. */
export interface StunAddress {
  readonly ip: Uint8Array;
  readonly port: number;
}

export type BindingRequestResult =
  | { readonly type: 'bindingRequest'; readonly transactionId: Uint8Array }
  | { readonly type: 'drop'; readonly reason: StunDropReason };

export type BindingResponseResult =
  | { readonly type: 'bindingResponse'; readonly transactionId: Uint8Array; readonly address: StunAddress }
  | { readonly type: 'drop'; readonly reason: StunDropReason };

/** Responder policy. */
export interface StunPolicy {
  /** Answer only Tailscale-style requests (SOFTWARE "tailnode", trailing FINGERPRINT), as derper does. Default true. */
  readonly requireTailnodeSoftware?: boolean;
}

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, the one zlib and Go's `crc32.ChecksumIEEE` compute). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** RFC 5389 §15.5 FINGERPRINT value over `bytes`. */
export function stunFingerprint(bytes: Uint8Array): number {
  return (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Checks the header; on success returns the attribute region. */
function checkHeader(b: Uint8Array): { readonly attrs: Uint8Array } | { readonly drop: StunDropReason } {
  if (b.length < STUN_HEADER_BYTES) return { drop: 'notStun' };
  // RFC 5389 §6: the most significant two bits of every STUN message are zero.
  if ((b[0]! & 0xc0) !== 0) return { drop: 'notStun' };
  if (u32(b, 4) !== STUN_MAGIC_COOKIE) return { drop: 'wrongMagicCookie' };
  const declared = u16(b, 2);
  if (b.length > STUN_MAX_MESSAGE_BYTES || declared % 4 !== 0 || declared !== b.length - STUN_HEADER_BYTES) {
    return { drop: 'badLength' };
  }
  return { attrs: b.subarray(STUN_HEADER_BYTES) };
}

interface Attribute {
  readonly type: number;
  readonly value: Uint8Array;
  /** Offset of the attribute header within the whole message. */
  readonly at: number;
}

/** Splits the attribute region (RFC 5389 §15: TLV, values padded to 4 bytes). */
function readAttributes(msg: Uint8Array): Attribute[] | undefined {
  const out: Attribute[] = [];
  let at = STUN_HEADER_BYTES;
  while (at < msg.length) {
    if (msg.length - at < 4) return undefined;
    const type = u16(msg, at);
    const len = u16(msg, at + 2);
    const padded = (len + 3) & ~3;
    if (padded > msg.length - at - 4) return undefined;
    out.push({ type, value: msg.subarray(at + 4, at + 4 + len), at });
    at += 4 + padded;
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Parses a Binding Request. With the default policy it accepts exactly what derper accepts:
 * SOFTWARE "tailnode" somewhere and FINGERPRINT as the last attribute with the right CRC.
 * The returned transaction ID is a view into `datagram`.
 */
export function parseBindingRequest(datagram: Uint8Array, policy: StunPolicy = {}): BindingRequestResult {
  const h = checkHeader(datagram);
  if ('drop' in h) return { type: 'drop', reason: h.drop };
  if (u16(datagram, 0) !== STUN_BINDING_REQUEST) return { type: 'drop', reason: 'notBindingRequest' };
  const attrs = readAttributes(datagram);
  if (!attrs) return { type: 'drop', reason: 'malformedAttributes' };
  const strict = policy.requireTailnodeSoftware ?? true;
  const last = attrs[attrs.length - 1];
  const fp = attrs.find((a) => a.type === ATTR_FINGERPRINT);
  if (strict) {
    if (!attrs.some((a) => a.type === ATTR_SOFTWARE && bytesEqual(a.value, TAILSCALE_SOFTWARE_BYTES))) {
      return { type: 'drop', reason: 'wrongSoftware' };
    }
    if (!last || last.type !== ATTR_FINGERPRINT) return { type: 'drop', reason: 'noFingerprint' };
  }
  if (fp) {
    // §15.5: FINGERPRINT must be last; its CRC covers everything before it.
    if (fp !== last || fp.value.length !== 4) return { type: 'drop', reason: 'wrongFingerprint' };
    if (u32(fp.value, 0) !== stunFingerprint(datagram.subarray(0, fp.at))) return { type: 'drop', reason: 'wrongFingerprint' };
  }
  return { type: 'bindingRequest', transactionId: datagram.subarray(8, 8 + STUN_TRANSACTION_ID_BYTES) };
}

/**
 * Builds a Binding Success Response carrying one XOR-MAPPED-ADDRESS (RFC 5389 §15.2) for
 * `address`, echoing `transactionId`. Layout (IPv4, 32 bytes):
 * `01 01 | 00 0c | 21 12 a4 42 | txid(12) | 00 20 | 00 08 | 00 01 | port^2112 | ip^2112a442`.
 * IPv6 is 44 bytes; its address is XORed with the cookie followed by the transaction ID.
 */
export function createBindingResponse(transactionId: Uint8Array, address: StunAddress): Uint8Array {
  if (transactionId.length !== STUN_TRANSACTION_ID_BYTES) throw new RangeError('createBindingResponse: transactionId must be 12 bytes');
  if (address.ip.length !== 4 && address.ip.length !== 16) throw new RangeError('createBindingResponse: ip must be 4 or 16 bytes');
  if (!(Number.isInteger(address.port) && address.port >= 0 && address.port <= 0xffff)) {
    throw new RangeError('createBindingResponse: port out of range');
  }
  const ipLen = address.ip.length;
  const attrLen = 4 + ipLen;
  const out = new Uint8Array(STUN_HEADER_BYTES + 4 + attrLen);
  const v = new DataView(out.buffer);
  v.setUint16(0, STUN_BINDING_SUCCESS);
  v.setUint16(2, 4 + attrLen);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  v.setUint16(20, ATTR_XOR_MAPPED_ADDRESS);
  v.setUint16(22, attrLen);
  out[24] = 0;
  out[25] = ipLen === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  v.setUint16(26, address.port ^ (STUN_MAGIC_COOKIE >>> 16));
  // The XOR key is the cookie followed by the transaction ID: bytes 4..19 of the header.
  for (let i = 0; i < ipLen; i++) out[28 + i] = address.ip[i]! ^ out[4 + i]!;
  return out;
}

/**
 * Answers one datagram: the response bytes, or a typed drop. This is the whole responder;
 * `io/stun.ts` only moves datagrams.
 */
export function answerBindingRequest(
  datagram: Uint8Array,
  from: StunAddress,
  policy: StunPolicy = {},
): { readonly type: 'reply'; readonly bytes: Uint8Array } | { readonly type: 'drop'; readonly reason: StunDropReason } {
  const r = parseBindingRequest(datagram, policy);
  if (r.type === 'drop') return r;
  return { type: 'reply', bytes: createBindingResponse(r.transactionId, from) };
}

/**
 * Builds the 40-byte Tailscale-style Binding Request: header, SOFTWARE "tailnode", FINGERPRINT.
 * `00 01 | 00 14 | 21 12 a4 42 | txid(12) | 80 22 00 08 "tailnode" | 80 28 00 04 crc(4)`.
 */
export function createBindingRequest(transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== STUN_TRANSACTION_ID_BYTES) throw new RangeError('createBindingRequest: transactionId must be 12 bytes');
  const out = new Uint8Array(STUN_HEADER_BYTES + 4 + TAILSCALE_SOFTWARE_BYTES.length + FINGERPRINT_ATTR_BYTES);
  const v = new DataView(out.buffer);
  v.setUint16(0, STUN_BINDING_REQUEST);
  v.setUint16(2, out.length - STUN_HEADER_BYTES);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  v.setUint16(20, ATTR_SOFTWARE);
  v.setUint16(22, TAILSCALE_SOFTWARE_BYTES.length);
  out.set(TAILSCALE_SOFTWARE_BYTES, 24);
  const fpAt = 24 + TAILSCALE_SOFTWARE_BYTES.length;
  v.setUint16(fpAt, ATTR_FINGERPRINT);
  v.setUint16(fpAt + 2, 4);
  v.setUint32(fpAt + 4, stunFingerprint(out.subarray(0, fpAt)));
  return out;
}

function decodeMappedAddress(value: Uint8Array, xorKey: Uint8Array | undefined): StunAddress | undefined {
  if (value.length < 4) return undefined;
  const family = value[1];
  const ipLen = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0;
  if (ipLen === 0 || value.length < 4 + ipLen) return undefined;
  let port = u16(value, 2);
  const ip = value.slice(4, 4 + ipLen);
  if (xorKey) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < ipLen; i++) ip[i]! ^= xorKey[i]!;
  }
  return { ip, port };
}

/**
 * Parses a Binding Success Response, preferring XOR-MAPPED-ADDRESS (0x0020 or 0x8020) over
 * MAPPED-ADDRESS, as Tailscale's client does. The caller matches the transaction ID.
 */
export function parseBindingResponse(datagram: Uint8Array): BindingResponseResult {
  const h = checkHeader(datagram);
  if ('drop' in h) return { type: 'drop', reason: h.drop };
  if (u16(datagram, 0) !== STUN_BINDING_SUCCESS) return { type: 'drop', reason: 'notSuccessResponse' };
  const attrs = readAttributes(datagram);
  if (!attrs) return { type: 'drop', reason: 'malformedAttributes' };
  const xorKey = datagram.subarray(4, STUN_HEADER_BYTES);
  let xored: StunAddress | undefined;
  let plain: StunAddress | undefined;
  for (const a of attrs) {
    if (a.type === ATTR_XOR_MAPPED_ADDRESS || a.type === ATTR_XOR_MAPPED_ADDRESS_ALT) {
      xored = decodeMappedAddress(a.value, xorKey) ?? xored;
    } else if (a.type === ATTR_MAPPED_ADDRESS) {
      plain = decodeMappedAddress(a.value, undefined) ?? plain;
    }
  }
  const address = xored ?? plain;
  if (!address) return { type: 'drop', reason: 'noMappedAddress' };
  return { type: 'bindingResponse', transactionId: datagram.slice(8, 8 + STUN_TRANSACTION_ID_BYTES), address };
}
