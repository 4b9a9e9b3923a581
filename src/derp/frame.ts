/**
 * DERP wire framing, and nothing else: frame types with their byte layouts, the 5-byte frame
 * header, size limits, a push-based stream decoder and frame writers.
 *
 * Facts from /work/shared/docs/derp.md §3.1–§3.2, checked against tailscale/tailscale
 * `derp/derp.go` (frame type constants, `readFrame`, `writeFrame`). Payload meaning lives in
 * protocol.ts; this module only knows types, lengths and bytes.
 *
 * Frame layout (derp.md §3.1):
 *   type (1 byte) ‖ length (uint32 big-endian, payload bytes only) ‖ payload (length bytes)
 */

/**
 * Frame types. Protocol flow: the server sends ServerKey, the client answers ClientInfo, the
 * server answers ServerInfo; then SendPacket/RecvPacket, KeepAlive and Ping/Pong (derp.go).
 */
export const FrameType = {
  /** S→C. 8B magic "DERP🔑" ‖ 32B server public key ‖ 0+ bytes for future use (ignored). */
  ServerKey: 0x01,
  /** C→S. 32B client public key ‖ 24B nonce ‖ naclbox(JSON ClientInfo) (16B MAC ‖ ciphertext). */
  ClientInfo: 0x02,
  /** S→C. 24B nonce ‖ naclbox(JSON ServerInfo). */
  ServerInfo: 0x03,
  /** C→S. 32B destination public key ‖ packet (0–65536 bytes). */
  SendPacket: 0x04,
  /** S→C. Protocol v2: 32B source public key ‖ packet. */
  RecvPacket: 0x05,
  /** S→C. Empty payload; a no-op that keeps middleboxes and the client's read timeout happy. */
  KeepAlive: 0x06,
  /** C→S. Exactly 1 byte: 0x01 "this server is my home", 0x00 "it is not". */
  NotePreferred: 0x07,
  /** S→C. 32B public key of the peer that left ‖ optional 1B reason (0 Disconnected, 1 NotHere). */
  PeerGone: 0x08,
  /** S→C (watchers). 32B key [‖ 16B IP (IPv4-mapped) ‖ 2B port BE [‖ 1B flags]]. */
  PeerPresent: 0x09,
  /** Mesh→S. 32B source public key ‖ 32B destination public key ‖ packet. */
  ForwardPacket: 0x0a,
  /** C→S. Empty, and must be; mesh key required. Subscribes to PeerPresent/PeerGone. */
  WatchConns: 0x10,
  /** C→S. Exactly 32B public key of the peer to disconnect; mesh key required. */
  ClosePeer: 0x11,
  /** Either direction. 8B opaque data (a server accepts 8–1000 and uses the first 8). */
  Ping: 0x12,
  /** Either direction. The 8B data of the Ping being answered. */
  Pong: 0x13,
  /** S→C. UTF-8 problem text; an empty payload means healthy again. */
  Health: 0x14,
  /** S→C. 4B reconnect-in ms (uint32 BE) ‖ 4B try-for ms (uint32 BE). */
  Restarting: 0x15,
} as const;

/** A known frame type value. Decoders still pass unknown values through as plain numbers. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES: ReadonlySet<number> = new Set<number>(Object.values(FrameType));

/** True when `t` is one of the frame types above. Unknown types are skipped by length. */
export function isKnownFrameType(t: number): t is FrameType {
  return KNOWN_TYPES.has(t);
}

/** Name of a frame type for logs and metrics labels ("unknown_0x2a" for others). */
export function frameTypeName(t: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === t) return name;
  return `unknown_0x${t.toString(16).padStart(2, '0')}`;
}

// ---- Specification constants (derp.md §3.1) ----

/** "DERP🔑": 44 45 52 50 f0 9f 94 91, the first 8 payload bytes of ServerKey. */
export const MAGIC = Uint8Array.of(0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91);
export const MAGIC_BYTES = 8;
/** type (1) ‖ uint32 BE payload length (4). */
export const FRAME_HEADER_BYTES = 5;
/** A raw Curve25519 public key on the wire. */
export const KEY_BYTES = 32;
/** NaCl box nonce. */
export const NONCE_BYTES = 24;
/** NaCl box (Poly1305) authenticator. */
export const BOX_OVERHEAD_BYTES = 16;
/** Version 2 added the 32-byte source key in front of RecvPacket payloads. */
export const PROTOCOL_VERSION = 2;
/** Largest user packet (the bytes magicsock sees), 64 KiB. */
export const MAX_PACKET_BYTES = 64 * 1024;
/** 32B destination key + packet. */
export const MAX_SEND_PACKET_FRAME_BYTES = KEY_BYTES + MAX_PACKET_BYTES;
/** 32B source key + 32B destination key + packet. */
export const MAX_FORWARD_PACKET_FRAME_BYTES = 2 * KEY_BYTES + MAX_PACKET_BYTES;
/** ClientInfo before authentication: "we don't trust the client at all yet" (256 KiB). */
export const MAX_CLIENT_INFO_FRAME_BYTES = 256 * 1024;
/** ClientInfo must hold at least the client key and a nonce (32 + 24). */
export const MIN_CLIENT_INFO_FRAME_BYTES = KEY_BYTES + NONCE_BYTES;
/** Clients refuse received frames longer than 1 MiB (fatal). */
export const MAX_CLIENT_RECV_FRAME_BYTES = 1024 * 1024;
/** ServerInfo cap on the client side: nonce + 1 MiB. */
export const MAX_SERVER_INFO_FRAME_BYTES = NONCE_BYTES + 1024 * 1024;
/** Clients read the ServerKey frame with a 1 KiB cap. */
export const MAX_SERVER_KEY_FRAME_BYTES = 1024;
/** Writers refuse frames longer than 10 MiB ("unreasonably large frame write"). */
export const MAX_WRITE_FRAME_BYTES = 10 * 1024 * 1024;
/** A Ping payload the server accepts: 8–1000 bytes, of which it echoes the first 8. */
export const PING_DATA_BYTES = 8;
export const MAX_PING_FRAME_BYTES = 1000;

// ---- Header codec ----

/** Writes the 5-byte header at `offset`; returns the offset just past it. */
export function writeFrameHeader(out: Uint8Array, offset: number, type: number, payloadLength: number): number {
  out[offset] = type & 0xff;
  out[offset + 1] = (payloadLength >>> 24) & 0xff;
  out[offset + 2] = (payloadLength >>> 16) & 0xff;
  out[offset + 3] = (payloadLength >>> 8) & 0xff;
  out[offset + 4] = payloadLength & 0xff;
  return offset + FRAME_HEADER_BYTES;
}

/** Reads a header at `offset`, or undefined when fewer than 5 bytes remain. */
export function readFrameHeader(bytes: Uint8Array, offset = 0): { type: number; length: number } | undefined {
  if (bytes.length - offset < FRAME_HEADER_BYTES) return undefined;
  const length = ((bytes[offset + 1]! << 24) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 8) | bytes[offset + 4]!) >>> 0;
  return { type: bytes[offset]!, length };
}

/** Total encoded length of a frame whose payload parts have these lengths. */
export function frameLength(...parts: Uint8Array[]): number {
  let n = FRAME_HEADER_BYTES;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Writes a whole frame (header, then the payload parts in order) into `out` at `offset`;
 * returns the offset just past it. `out` must have room for `frameLength(...parts)` bytes.
 */
export function writeFrame(out: Uint8Array, offset: number, type: number, ...parts: Uint8Array[]): number {
  let len = 0;
  for (const p of parts) len += p.length;
  if (len > MAX_WRITE_FRAME_BYTES) throw new RangeError(`writeFrame: payload of ${len} bytes exceeds ${MAX_WRITE_FRAME_BYTES}`);
  let off = writeFrameHeader(out, offset, type, len);
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return off;
}

/** A fresh buffer holding one frame: header ‖ parts. */
export function encodeFrame(type: number, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frameLength(...parts));
  writeFrame(out, 0, type, ...parts);
  return out;
}

// ---- Stream decoder ----

/** One decoded frame. `payload` may alias the bytes passed to `push` (no copy when possible). */
export interface Frame {
  readonly type: number;
  readonly payload: Uint8Array;
}

/** Why a decoder stopped. After an error the decoder is dead and keeps returning it. */
export type FrameErrorCode = 'frame-too-large';

export interface FrameError {
  readonly code: FrameErrorCode;
  readonly frameType: number;
  /** The declared payload length that broke the limit. */
  readonly declaredLength: number;
  readonly limit: number;
}

export interface DecodeResult {
  readonly frames: Frame[];
  /** Unknown frames too large to buffer that were (or are being) discarded by length. */
  readonly skipped: number;
  readonly error?: FrameError;
}

export interface FrameDecoderOptions {
  /** Largest payload this decoder will buffer; checked on the declared length before buffering. */
  maxFrameBytes: number;
  /**
   * Frames of an unknown type longer than `maxFrameBytes` are discarded by length (no
   * buffering) instead of being an error, as derper's `handleUnknownFrame` does. Default true.
   */
  skipOversizedUnknown?: boolean;
}

/** First allocation for a frame that spans chunks; it then doubles as bytes arrive. */
const INITIAL_PAYLOAD_BYTES = 4096;

const enum State {
  Header,
  Payload,
  Discard,
}

/**
 * Push-based DERP frame decoder: feed arbitrary chunks, get whole frames back. Bounded: the
 * declared length is compared with the limit before a single payload byte is buffered; memory
 * held is at most one partial frame of at most `maxFrameBytes`, and is allocated as its bytes
 * arrive (doubling from 4 KiB), so a bare header cannot make the decoder reserve the limit.
 */
export class FrameDecoder {
  #limit: number;
  readonly #skipOversizedUnknown: boolean;
  #state = State.Header;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #type = 0;
  #payload: Uint8Array = new Uint8Array(0);
  #payloadLength = 0;
  #payloadFill = 0;
  #discardLeft = 0;
  #error: FrameError | undefined;

  constructor(options: FrameDecoderOptions) {
    this.#limit = options.maxFrameBytes;
    this.#skipOversizedUnknown = options.skipOversizedUnknown ?? true;
  }

  /** The current payload limit in bytes. */
  get maxFrameBytes(): number {
    return this.#limit;
  }

  /** Changes the limit for frames whose header has not been read yet (e.g. after the handshake). */
  setMaxFrameBytes(limit: number): void {
    this.#limit = limit;
  }

  /** Bytes currently held for a partial frame (header + payload so far). */
  get bufferedBytes(): number {
    return this.#headerFill + (this.#state === State.Payload ? this.#payloadFill : 0);
  }

  /** Bytes allocated for the partial frame; at most about twice what arrived (plus 4 KiB). */
  get allocatedBytes(): number {
    return this.#state === State.Payload ? this.#payload.length : 0;
  }

  /** Feeds bytes; returns every frame completed by them, or the error that killed the stream. */
  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    let skipped = 0;
    if (this.#error) return { frames, skipped, error: this.#error };
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#state === State.Header) {
        // Fast path: a whole frame inside this chunk is returned as a view, with no copy.
        if (this.#headerFill === 0 && n - i >= FRAME_HEADER_BYTES) {
          const h = readFrameHeader(chunk, i)!;
          const verdict = this.#admit(h.type, h.length);
          if (verdict === 'error') return { frames, skipped, error: this.#error };
          i += FRAME_HEADER_BYTES;
          if (verdict === 'discard') {
            skipped++;
            continue;
          }
          if (n - i >= h.length) {
            frames.push({ type: h.type, payload: chunk.subarray(i, i + h.length) });
            i += h.length;
            continue;
          }
          this.#startPayload(h.type, h.length);
          continue;
        }
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, n - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerFill);
        this.#headerFill += take;
        i += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        this.#headerFill = 0;
        const h = readFrameHeader(this.#header)!;
        const verdict = this.#admit(h.type, h.length);
        if (verdict === 'error') return { frames, skipped, error: this.#error };
        if (verdict === 'discard') {
          skipped++;
          continue;
        }
        if (h.length === 0) {
          frames.push({ type: h.type, payload: new Uint8Array(0) });
          continue;
        }
        this.#startPayload(h.type, h.length);
      } else if (this.#state === State.Payload) {
        const take = Math.min(this.#payloadLength - this.#payloadFill, n - i);
        this.#reserve(this.#payloadFill + take);
        this.#payload.set(chunk.subarray(i, i + take), this.#payloadFill);
        this.#payloadFill += take;
        i += take;
        if (this.#payloadFill === this.#payloadLength) {
          frames.push({ type: this.#type, payload: this.#payload });
          this.#payload = new Uint8Array(0);
          this.#payloadFill = 0;
          this.#state = State.Header;
        }
      } else {
        const take = Math.min(this.#discardLeft, n - i);
        this.#discardLeft -= take;
        i += take;
        if (this.#discardLeft === 0) this.#state = State.Header;
      }
    }
    return { frames, skipped };
  }

  #admit(type: number, length: number): 'buffer' | 'discard' | 'error' {
    if (length <= this.#limit) return 'buffer';
    if (this.#skipOversizedUnknown && !isKnownFrameType(type)) {
      this.#discardLeft = length;
      this.#state = State.Discard;
      return 'discard';
    }
    this.#error = { code: 'frame-too-large', frameType: type, declaredLength: length, limit: this.#limit };
    return 'error';
  }

  #startPayload(type: number, length: number): void {
    this.#type = type;
    this.#payloadLength = length;
    // Memory follows the bytes that actually arrived, not the declared length: a 5-byte header
    // must not make the decoder allocate up to the limit (256 KiB before the handshake).
    this.#payload = new Uint8Array(Math.min(length, INITIAL_PAYLOAD_BYTES));
    this.#payloadFill = 0;
    this.#state = State.Payload;
  }

  /** Grows the payload buffer (doubling, capped at the declared length) to hold `need` bytes. */
  #reserve(need: number): void {
    if (need <= this.#payload.length) return;
    const grown = new Uint8Array(Math.min(this.#payloadLength, Math.max(need, this.#payload.length * 2)));
    grown.set(this.#payload.subarray(0, this.#payloadFill));
    this.#payload = grown;
  }
}
