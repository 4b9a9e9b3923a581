/**
 * Structured logging (pino). Human-readable output when stderr is a TTY, JSON lines otherwise.
 * Secrets are never logged: keys are redacted by path and callers log public keys only.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export function createLogger(opts: { level?: LevelWithSilent; name?: string; pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  return pino({
    name: opts.name ?? 'tsplane',
    level: opts.level ?? 'info',
    redact: { paths: ['*.privateKey', '*.presharedKey', '*.private_key', '*.preshared_key', '*.meshKey', '*.psk'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } } : {}),
  }, pretty ? undefined : pino.destination(2));
}
