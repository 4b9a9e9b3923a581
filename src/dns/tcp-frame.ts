/**
 * DNS over a byte stream (TCP RFC 7766 §8, DoT RFC 7858 §3.3): each message is preceded by a
 * two-octet length field. `TcpFrameDecoder` is pushed chunks of any size and returns complete
 * messages; the declared length is checked before anything is buffered, so a peer can make us
 * hold at most one message (≤ 65535 bytes) plus a partial header. Sans-IO.
 */
import { HEADER_BYTES } from './message.js';

/** Length prefix: LENGTH(2, big-endian) then LENGTH bytes of message. */
export const TCP_LENGTH_BYTES = 2;

export type FrameResult =
  | { readonly ok: true; readonly messages: Uint8Array[] }
  /** A frame shorter than a DNS header: the stream is garbage; close it. */
  | { readonly ok: false; readonly reason: 'short-frame' };

export class TcpFrameDecoder {
  #buf: Uint8Array | undefined;
  #have = 0;
  #need = 0;
  #lenHi = -1;

  /** Feeds one chunk; returned messages are fresh copies the caller owns. */
  push(chunk: Uint8Array): FrameResult {
    const messages: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#buf === undefined) {
        if (this.#lenHi < 0) {
          this.#lenHi = chunk[i++]!;
          continue;
        }
        const len = (this.#lenHi << 8) | chunk[i++]!;
        this.#lenHi = -1;
        if (len < HEADER_BYTES) return { ok: false, reason: 'short-frame' };
        // Fast path: the whole message is already in this chunk.
        if (chunk.length - i >= len) {
          // A copy (never `chunk.slice`: on a Buffer that is a view of the socket's chunk).
          const m = new Uint8Array(len);
          m.set(chunk.subarray(i, i + len));
          messages.push(m);
          i += len;
          continue;
        }
        this.#buf = new Uint8Array(len);
        this.#have = 0;
        this.#need = len;
        continue;
      }
      const take = Math.min(this.#need - this.#have, chunk.length - i);
      this.#buf.set(chunk.subarray(i, i + take), this.#have);
      this.#have += take;
      i += take;
      if (this.#have === this.#need) {
        messages.push(this.#buf);
        this.#buf = undefined;
      }
    }
    return { ok: true, messages };
  }

  /** True when a message has started but not finished (a clean close happens between messages). */
  get midMessage(): boolean {
    return this.#buf !== undefined || this.#lenHi >= 0;
  }
}

/** Prefixes `msg` with its two-octet length. */
export function frameMessage(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(TCP_LENGTH_BYTES + msg.length);
  out[0] = (msg.length >>> 8) & 0xff;
  out[1] = msg.length & 0xff;
  out.set(msg, TCP_LENGTH_BYTES);
  return out;
}
