/**
 * Loads the server's private key from a derper-compatible key file, creating it with mode 0600
 * (and a fresh key) when it does not exist.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TsplaneError } from '../../runtime/errors.js';
import type { Rng } from '../../runtime/rng.js';
import { generateNodePrivateKey, type NodePrivateKey } from '../keys.js';
import { formatKeyFile, parseKeyFile } from '../key-file.js';

/** Reads `path`, or creates it (0600) with a new key. Throws DERP_ERR_KEY_FILE on a bad file. */
export function loadOrCreateKeyFile(path: string, rng: Rng): { privateKey: NodePrivateKey; created: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TsplaneError('DERP_ERR_KEY_FILE', `${path}: ${(err as Error).message}`, { cause: err });
    const privateKey = generateNodePrivateKey(rng);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // 'wx' fails if someone created the file meanwhile, rather than overwriting their key.
    writeFileSync(path, formatKeyFile(privateKey), { mode: 0o600, flag: 'wx' });
    return { privateKey, created: true };
  }
  const parsed = parseKeyFile(text);
  if (!parsed.ok) throw new TsplaneError('DERP_ERR_KEY_FILE', `${path}: ${parsed.problem}`);
  return { privateKey: parsed.privateKey, created: false };
}
