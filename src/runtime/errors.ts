/**
 * Coded errors for programmer and configuration mistakes. Untrusted input never throws;
 * it produces a typed drop. Match errors on `code`, never on `message`.
 */

export type ErrorCode =
  | `WG_ERR_${string}`
  | `DERP_ERR_${string}`
  | `DNS_ERR_${string}`
  | `CONFIG_ERR_${string}`
  | `RUNTIME_ERR_${string}`;

export class TsplaneError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'TsplaneError';
  }
}

/** A configuration error that names the file, line and key at fault. */
export class ConfigError extends TsplaneError {
  readonly file: string;
  readonly line: number | undefined;
  readonly key: string;
  constructor(file: string, line: number | undefined, key: string, problem: string) {
    super('CONFIG_ERR_INVALID', `${file}${line === undefined ? '' : `:${line}`}: ${key}: ${problem}`);
    this.file = file;
    this.line = line;
    this.key = key;
    this.name = 'ConfigError';
  }
}
