/**
 * A wrapper for secret config values (keys, tokens) that cannot leak by accident: its string,
 * JSON and inspect forms are `[redacted]`. JS strings cannot be wiped; callers decode the
 * secret into bytes they own and wipe those (runtime/bytes.ts) when done.
 */

/** A secret value. Its string, JSON and inspect forms are `[redacted]`; call `reveal()` to use it. */
export class Secret {
  readonly #value: string;
  /** Where it came from (`inline`, `file /etc/x`, `env NAME`), safe to log. */
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  /** The secret text. Do not log or store it; decode it and wipe the bytes when done. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret([redacted] from ${this.source})`;
  }
}
