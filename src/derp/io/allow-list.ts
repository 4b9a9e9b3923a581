/**
 * Reads the `--verify-clients` allow-list file and reloads it when it changes (polled with
 * fs.watchFile, which survives editors that replace the file) or on SIGHUP.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../../runtime/log.js';
import { TsplaneError } from '../../runtime/errors.js';
import { parseAllowList, type AllowList } from '../allow-list.js';

/** How often the file's mtime is polled. */
export const ALLOW_LIST_POLL_MS = 2_000;

export function readAllowList(path: string): AllowList {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TsplaneError('DERP_ERR_VERIFY_CLIENTS', `${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseAllowList(text);
}

/**
 * Calls `onChange` with the parsed list now (throwing DERP_ERR_VERIFY_CLIENTS if the file cannot
 * be read) and after every change or SIGHUP; a later read failure keeps the previous list
 * (logged). Returns a function that stops watching.
 */
export function watchAllowList(path: string, logger: Logger, onChange: (list: AllowList) => void): () => void {
  const first = readAllowList(path);
  if (first.badLines.length > 0) logger.warn({ path, badLines: first.badLines }, 'verify-clients: ignoring lines that are not nodekey:<hex>');
  logger.info({ path, keys: first.keys.size }, 'verify-clients: allow-list loaded');
  onChange(first);
  const load = (why: string): void => {
    try {
      const list = readAllowList(path);
      if (list.badLines.length > 0) logger.warn({ path, badLines: list.badLines }, 'verify-clients: ignoring lines that are not nodekey:<hex>');
      logger.info({ path, keys: list.keys.size, why }, 'verify-clients: allow-list loaded');
      onChange(list);
    } catch (err) {
      logger.error({ path, err: (err as Error).message }, 'verify-clients: cannot read allow-list; keeping the previous one');
    }
  };
  const listener = (): void => load('changed');
  watchFile(path, { interval: ALLOW_LIST_POLL_MS, persistent: false }, listener);
  const onHup = (): void => load('SIGHUP');
  process.on('SIGHUP', onHup);
  return () => {
    unwatchFile(path, listener);
    process.off('SIGHUP', onHup);
  };
}
