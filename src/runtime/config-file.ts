/**
 * The shared YAML config loader. A file is parsed once (the `yaml` package, YAML 1.2 core
 * schema) into a tree of `ConfigNode`s that remember their file, line and key path
 * (`dns.upstreams[1].address`). Service schemas walk that tree with typed accessors; every
 * mistake throws a `ConfigError` naming file, line and key, so nothing stringly typed escapes
 * the schema.
 *
 * Secrets convention (one way, documented in README): a secret-bearing key `NAME` may be given
 * as exactly one of
 *   - `NAME_file: PATH`  the file's contents (trailing whitespace trimmed; PATH relative to the
 *                         config file's directory) — preferred;
 *   - `NAME_env: VAR`    the environment variable VAR;
 *   - `NAME: value`      inline (allowed for tests and throwaway configs).
 * Schemas read it with `node.secret('NAME')`, which returns a `Secret` whose string forms are
 * `[redacted]`. Errors about secret keys never quote the value.
 *
 * Also rejected, deliberately: duplicate keys (YAML allows "last one wins", which hides typos),
 * anchors/aliases/merge keys (a config is small; aliases are how "billion laughs" files blow up),
 * multiple documents, unresolved tags.
 */
import { LineCounter, isAlias, isMap, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { formatByteSize } from './config-values.js';
import { ConfigNode, type ConfigSources, type Shared } from './config-node.js';

export { ConfigError } from './errors.js';
export { Secret } from './secret.js';
export { closest, formatByteSize, formatDuration, isHostName, parseByteSize, parseDurationMs, parseHostPort } from './config-values.js';
export type { HostPort } from './config-values.js';
export { ConfigNode, MAX_SECRET_FILE_BYTES, type ConfigSources } from './config-node.js';

/** Config files larger than this are refused before parsing. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/** Parses config text. `name` is what errors call the file (its path, usually). */
export function parseConfigText(text: string, name: string, sources: ConfigSources = {}): ConfigNode {
  if (text.length > MAX_CONFIG_FILE_BYTES) throw new ConfigError(name, undefined, '(file)', `larger than ${formatByteSize(MAX_CONFIG_FILE_BYTES)}`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false, merge: false, version: '1.2' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const line = problem.pos[0] >= 0 ? lines.linePos(problem.pos[0]).line : undefined;
    throw new ConfigError(name, line, '(yaml)', `YAML syntax: ${problem.message.split('\n')[0]}`);
  }
  const shared: Shared = { file: name, lines, sources };
  const root = (doc.contents as YamlNode | null) ?? null;
  rejectAliases(root, shared);
  return new ConfigNode(root, '', 1, shared);
}

/**
 * Reads and parses a config file (synchronously: it runs once at startup, before any socket).
 * `NAME_file` secrets resolve relative to the file's directory; `NAME_env` reads `opts.env`
 * (default: the process environment).
 */
export function loadConfigFile(path: string, opts: { env?: ConfigSources['env'] } = {}): ConfigNode {
  const abs = resolve(path);
  let text: string;
  try {
    const size = statSync(abs).size;
    if (size > MAX_CONFIG_FILE_BYTES) throw new ConfigError(path, undefined, '(file)', `larger than ${formatByteSize(MAX_CONFIG_FILE_BYTES)}`);
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as { code?: unknown }).code;
    throw new ConfigError(path, undefined, '(file)', `cannot read config file${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  return parseConfigText(text, path, { env: opts.env ?? process.env, readFile: (p) => readFileSync(p), baseDir: dirname(abs) });
}

function rejectAliases(n: YamlNode | null, s: Shared): void {
  if (n === null) return;
  if (isAlias(n) || n.anchor !== undefined) {
    const line = n.range ? s.lines.linePos(n.range[0]).line : undefined;
    throw new ConfigError(s.file, line, '(yaml)', 'anchors and aliases (&x / *x) are not supported; repeat the value');
  }
  if (isMap(n)) {
    for (const p of n.items) {
      rejectAliases((p.key as YamlNode | null) ?? null, s);
      rejectAliases((p.value as YamlNode | null) ?? null, s);
    }
  } else if (isSeq(n)) {
    for (const i of n.items) rejectAliases((i as YamlNode | null) ?? null, s);
  }
}
