/**
 * A client's bounded send queue (server → client), derp.md §3.4: 32 packets, and when full the
 * oldest is dropped (head drop) so that fresh packets win — stale WireGuard packets are worth
 * less than new ones. Each entry is a whole encoded RecvPacket frame, so flushing is a write.
 */

/** Per-client queue depth, derper's default (`TS_DEBUG_DERP_PER_CLIENT_SEND_QUEUE_DEPTH`). */
export const PER_CLIENT_SEND_QUEUE_DEPTH = 32;

/** A fixed-capacity FIFO of encoded frames that drops its head when full. */
export class SendQueue {
  readonly capacity: number;
  readonly #ring: (Uint8Array | undefined)[];
  #head = 0;
  #count = 0;
  #bytes = 0;

  constructor(capacity = PER_CLIENT_SEND_QUEUE_DEPTH) {
    if (!(capacity >= 1)) throw new RangeError(`SendQueue: capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
    this.#ring = new Array<Uint8Array | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.#count;
  }

  /** Bytes held by queued frames. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends a frame; returns the frame dropped from the head to make room, if any. */
  push(frame: Uint8Array): Uint8Array | undefined {
    let dropped: Uint8Array | undefined;
    if (this.#count === this.capacity) dropped = this.shift();
    this.#ring[(this.#head + this.#count) % this.capacity] = frame;
    this.#count++;
    this.#bytes += frame.length;
    return dropped;
  }

  /** Removes and returns the oldest frame. */
  shift(): Uint8Array | undefined {
    if (this.#count === 0) return undefined;
    const f = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#count--;
    this.#bytes -= f!.length;
    return f;
  }

  /** Empties the queue and returns what was in it, oldest first. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let f = this.shift(); f; f = this.shift()) out.push(f);
    return out;
  }
}
