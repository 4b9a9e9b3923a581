/**
 * Byte helpers shared by every core: a bounded reader that never throws (it returns
 * `undefined` when input is short), constant-time comparison, wiping and hex.
 */

/** A cursor over untrusted bytes. Every read checks the bound first and returns `undefined` on short input. */
export class ByteReader {
  readonly bytes: Uint8Array;
  offset: number;
  readonly #view: DataView;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.length - this.offset;
  }
  u8(): number | undefined {
    if (this.remaining < 1) return undefined;
    return this.bytes[this.offset++];
  }
  u16be(): number | undefined {
    if (this.remaining < 2) return undefined;
    const v = this.#view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }
  u32be(): number | undefined {
    if (this.remaining < 4) return undefined;
    const v = this.#view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }
  u32le(): number | undefined {
    if (this.remaining < 4) return undefined;
    const v = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u64le(): bigint | undefined {
    if (this.remaining < 8) return undefined;
    const v = this.#view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  u64be(): bigint | undefined {
    if (this.remaining < 8) return undefined;
    const v = this.#view.getBigUint64(this.offset, false);
    this.offset += 8;
    return v;
  }
  /** A view (not a copy) of the next `n` bytes. */
  take(n: number): Uint8Array | undefined {
    if (n < 0 || this.remaining < n) return undefined;
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** True when every byte is zero, in time that depends only on the length. */
export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]!;
  return acc === 0;
}

/** Overwrites secrets with zeros. Call when a key, keypair or handshake is dropped. */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses hex; throws RangeError on odd length or a non-hex digit (for trusted input: vectors, config). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`fromHex: not hex: ${hex.slice(0, 32)}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
