/**
 * Query-log writers: JSON lines appended to a file, or entries handed to the process logger.
 * Writing never blocks the event loop and never throws into the forwarder: when the file
 * stream is behind by more than MAX_PENDING_BYTES, entries are dropped and counted.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../../runtime/log.js';
import type { QueryLogConfig } from '../config.js';
import type { QueryLogEntry, QueryLogSink } from '../metrics.js';

/** Pending bytes allowed in the file stream before entries are dropped. */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024;

export interface QueryLog {
  readonly sink: QueryLogSink | undefined;
  /** Entries dropped because the file could not keep up (or failed). */
  dropped(): bigint;
  close(): Promise<void>;
}

/** Opens the query log described by `config` (`off` gives no sink). */
export function openQueryLog(config: QueryLogConfig, logger: Logger): QueryLog {
  let dropped = 0n;
  if (config.kind === 'off') return { sink: undefined, dropped: () => 0n, close: async () => {} };
  if (config.kind === 'log') {
    const child = logger.child({ component: 'dns-query-log' });
    return { sink: (e: QueryLogEntry) => child.info({ query: e }, 'dns query'), dropped: () => 0n, close: async () => {} };
  }
  let stream: WriteStream | undefined = createWriteStream(config.path, { flags: 'a', mode: 0o640 });
  stream.on('error', (err) => {
    logger.error({ err, path: config.path }, 'query log write failed; query logging stopped');
    stream?.destroy();
    stream = undefined;
  });
  return {
    sink(e: QueryLogEntry) {
      if (stream === undefined || stream.writableLength > MAX_PENDING_BYTES) {
        dropped++;
        return;
      }
      stream.write(`${JSON.stringify(e)}\n`);
    },
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        const s = stream;
        stream = undefined;
        if (s === undefined) resolve();
        else s.end(() => resolve());
      }),
  };
}
