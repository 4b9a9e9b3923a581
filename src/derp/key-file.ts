/**
 * derper-compatible server key file (derp.md §4): JSON `{"PrivateKey":"privkey:<64 hex>"}`.
 * Parsing only; reading and creating the file (mode 0600) is in io/key-file.ts.
 */
import { formatNodePrivateKey, parseNodePrivateKey, type NodePrivateKey } from './keys.js';

export type KeyFileResult = { ok: true; privateKey: NodePrivateKey } | { ok: false; problem: string };

/** Parses the key file text. Other JSON fields are ignored, as Go's decoder does. */
export function parseKeyFile(text: string): KeyFileResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, problem: 'not a JSON object' };
  const entry = Object.entries(v).find(([k]) => k.toLowerCase() === 'privatekey');
  if (!entry || typeof entry[1] !== 'string') return { ok: false, problem: 'no PrivateKey string' };
  const key = parseNodePrivateKey(entry[1]);
  if (!key) return { ok: false, problem: 'PrivateKey is not privkey:<64 hex>' };
  return { ok: true, privateKey: key };
}

/** The key file text derper writes (indented JSON). */
export function formatKeyFile(privateKey: NodePrivateKey): string {
  return `${JSON.stringify({ PrivateKey: formatNodePrivateKey(privateKey) }, null, '\t')}\n`;
}
