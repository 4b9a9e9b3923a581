/**
 * WireGuard message framing (whitepaper §5.4.2–§5.4.6; docs/wireguard.md §1.1): classify an
 * untrusted datagram by type and exact length, and read the routing fields (indices, counter).
 * Nothing here decrypts or authenticates; noise.ts and cookie.ts do that on the bytes returned.
 *
 * Rules (wg-go receive.go / boringtun parse_incoming_packet): byte 0 is the type and bytes 1..3
 * must be zero; handshake messages have an exact size (148 / 92 / 64); transport messages are at
 * least 32 bytes. Anything else is a typed drop, never an exception.
 */
import type { DropReason } from './device-api.js';
import {
  COOKIE_REPLY_RECEIVER_OFFSET,
  INITIATION_SENDER_OFFSET,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TYPE_COOKIE_REPLY,
  MESSAGE_TYPE_INITIATION,
  MESSAGE_TYPE_RESPONSE,
  MESSAGE_TYPE_TRANSPORT,
  RESPONSE_RECEIVER_OFFSET,
  RESPONSE_SENDER_OFFSET,
  TRANSPORT_COUNTER_OFFSET,
  TRANSPORT_RECEIVER_OFFSET,
} from './constants.js';

/** A classified datagram. `bytes` is always the whole datagram (a view, not a copy). */
export type Message =
  | { type: 'initiation'; senderIndex: number; bytes: Uint8Array }
  | { type: 'response'; senderIndex: number; receiverIndex: number; bytes: Uint8Array }
  | { type: 'cookieReply'; receiverIndex: number; bytes: Uint8Array }
  | { type: 'transport'; receiverIndex: number; counter: bigint; bytes: Uint8Array };

/** The result of {@link parseMessage}: a message, or a drop with its reason. */
export type ParsedMessage = Message | { type: 'drop'; reason: DropReason };

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Classifies a received datagram by its 4-byte type field and length.
 * @param datagram the UDP payload as received (not modified, not copied)
 * @returns the message with its indices, or `{ type: 'drop' }` with `short-packet`,
 *   `unknown-type` or `bad-length`
 * @example
 * const m = parseMessage(datagram);
 * if (m.type === 'transport') lookupKeypair(m.receiverIndex);
 */
export function parseMessage(datagram: Uint8Array): ParsedMessage {
  if (datagram.length < 4) return { type: 'drop', reason: 'short-packet' };
  const v = view(datagram);
  // The type is a little-endian u32 whose upper three bytes are reserved zeros (whitepaper §5.4.2).
  const type = v.getUint32(0, true);
  switch (type) {
    case MESSAGE_TYPE_INITIATION:
      if (datagram.length !== MESSAGE_INITIATION_SIZE) return { type: 'drop', reason: 'bad-length' };
      return { type: 'initiation', senderIndex: v.getUint32(INITIATION_SENDER_OFFSET, true), bytes: datagram };
    case MESSAGE_TYPE_RESPONSE:
      if (datagram.length !== MESSAGE_RESPONSE_SIZE) return { type: 'drop', reason: 'bad-length' };
      return {
        type: 'response',
        senderIndex: v.getUint32(RESPONSE_SENDER_OFFSET, true),
        receiverIndex: v.getUint32(RESPONSE_RECEIVER_OFFSET, true),
        bytes: datagram,
      };
    case MESSAGE_TYPE_COOKIE_REPLY:
      if (datagram.length !== MESSAGE_COOKIE_REPLY_SIZE) return { type: 'drop', reason: 'bad-length' };
      return { type: 'cookieReply', receiverIndex: v.getUint32(COOKIE_REPLY_RECEIVER_OFFSET, true), bytes: datagram };
    case MESSAGE_TYPE_TRANSPORT:
      if (datagram.length < MESSAGE_TRANSPORT_MIN_SIZE) return { type: 'drop', reason: 'short-packet' };
      return {
        type: 'transport',
        receiverIndex: v.getUint32(TRANSPORT_RECEIVER_OFFSET, true),
        counter: v.getBigUint64(TRANSPORT_COUNTER_OFFSET, true),
        bytes: datagram,
      };
    default:
      return { type: 'drop', reason: 'unknown-type' };
  }
}

/**
 * Writes the 16-byte transport header `type=4 ‖ 0 0 0 ‖ receiver (u32 LE) ‖ counter (u64 LE)`
 * into the start of `out`.
 * @param out at least MESSAGE_TRANSPORT_HEADER_SIZE bytes
 * @param receiverIndex the *peer's* index of the keypair (u32)
 * @param counter the nonce counter, 0 ≤ counter < 2^64
 */
export function writeTransportHeader(out: Uint8Array, receiverIndex: number, counter: bigint): void {
  if (out.length < MESSAGE_TRANSPORT_HEADER_SIZE) throw new RangeError(`writeTransportHeader: out has ${out.length} bytes, need 16`);
  const v = view(out);
  v.setUint32(0, MESSAGE_TYPE_TRANSPORT, true);
  v.setUint32(TRANSPORT_RECEIVER_OFFSET, receiverIndex >>> 0, true);
  v.setBigUint64(TRANSPORT_COUNTER_OFFSET, counter, true);
}

/** Writes the 4-byte header `type ‖ 0 0 0` of any message. */
export function writeMessageType(out: Uint8Array, type: number): void {
  out[0] = type;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
}

/** Reads a little-endian u32 at `offset`; the caller has checked the length. */
export function readU32le(bytes: Uint8Array, offset: number): number {
  return view(bytes).getUint32(offset, true);
}

/** Writes a little-endian u32 at `offset`. */
export function writeU32le(out: Uint8Array, offset: number, value: number): void {
  view(out).setUint32(offset, value >>> 0, true);
}
