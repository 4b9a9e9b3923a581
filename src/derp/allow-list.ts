/**
 * The `--verify-clients FILE` allow-list: one `nodekey:<64 hex>` per line; blank lines and
 * `#` comments are ignored. A JSON array of such strings is accepted too. Parsing only; the
 * file is read and watched in io/allow-list.ts.
 */
import { keyHex, parseNodePublicKey } from './keys.js';

export interface AllowList {
  /** Key hex (no prefix) of every allowed node. */
  readonly keys: ReadonlySet<string>;
  /** 1-based line numbers (or array indexes) that did not parse. */
  readonly badLines: readonly number[];
}

export function parseAllowList(text: string): AllowList {
  const keys = new Set<string>();
  const badLines: number[] = [];
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch {
      return { keys, badLines: [1] };
    }
    if (!Array.isArray(arr)) return { keys, badLines: [1] };
    arr.forEach((item, i) => {
      const k = typeof item === 'string' ? parseNodePublicKey(item) : undefined;
      if (k) keys.add(keyHex(k));
      else badLines.push(i + 1);
    });
    return { keys, badLines };
  }
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const k = parseNodePublicKey(line);
    if (k) keys.add(keyHex(k));
    else badLines.push(i + 1);
  });
  return { keys, badLines };
}
