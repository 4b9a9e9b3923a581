/**
 * One node of a parsed config file (config-file.ts does the parsing): typed accessors that
 * either return a value or throw a `ConfigError` naming file, line and key path, and the
 * secrets convention (`NAME` / `NAME_file` / `NAME_env`, see config-file.ts).
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node as YamlNode } from 'yaml';
import { ConfigError } from './errors.js';
import { Secret } from './secret.js';
import { parseIpAddress, parseIpPrefix, type IpAddress, type IpPrefix } from './ip-address.js';
import { closest, formatByteSize, formatDuration, parseByteSize, parseDurationMs, parseHostPort, type HostPort } from './config-values.js';

/** Secret files larger than this are refused (keys and tokens are tiny). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** Values quoted in error messages are cut to this many characters. */
const MAX_QUOTED_VALUE_CHARS = 60;

/** Where file and environment reads go; injected so schema tests never touch the disk. */
export interface ConfigSources {
  /** Environment variables (for `NAME_env:` secrets). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads a file (for `NAME_file:` secrets); absent means secret files are unavailable. */
  readonly readFile?: (absolutePath: string) => Uint8Array;
  /** Directory that relative paths are resolved against (the config file's directory). */
  readonly baseDir?: string;
}

/** What every node of one file shares: its name, line table and sources. */
export interface Shared {
  readonly file: string;
  readonly lines: LineCounter;
  readonly sources: ConfigSources;
}

type ScalarValue = string | number | boolean | null | bigint | undefined;

/**
 * One node of a parsed config file. Accessors either return a typed value or throw a
 * `ConfigError` naming this node's file, line and path.
 */
export class ConfigNode {
  /** Key path from the root, e.g. `dns.upstreams[1].address` (empty for the root). */
  readonly path: string;
  /** 1-based line of this value (or of its key, for a missing/empty value). */
  readonly line: number;
  readonly #y: YamlNode | null;
  readonly #s: Shared;
  readonly #sensitive: boolean;

  /** @internal use `parseConfigText` or `loadConfigFile`. */
  constructor(y: YamlNode | null, path: string, line: number, shared: Shared, sensitive = false) {
    this.#y = y;
    this.path = path;
    this.line = line;
    this.#s = shared;
    this.#sensitive = sensitive;
  }

  /** Name of the file this node came from. */
  get file(): string {
    return this.#s.file;
  }

  /** Throws a ConfigError at this node. `problem` must not contain secret values. */
  fail(problem: string): never {
    throw new ConfigError(this.#s.file, this.line, this.path || '(top level)', problem);
  }

  /** What kind of YAML value this is; for error messages and schema branching. */
  get kind(): 'map' | 'list' | 'string' | 'number' | 'boolean' | 'null' {
    const y = this.#y;
    if (y === null) return 'null';
    if (isMap(y)) return 'map';
    if (isSeq(y)) return 'list';
    const v = isScalar(y) ? (y.value as ScalarValue) : undefined;
    if (typeof v === 'string') return 'string';
    if (typeof v === 'number' || typeof v === 'bigint') return 'number';
    if (typeof v === 'boolean') return 'boolean';
    return 'null';
  }

  #describe(): string {
    const k = this.kind;
    const article = k === 'map' || k === 'list' || k === 'string' || k === 'number' || k === 'boolean' ? 'a ' : '';
    if (this.#sensitive || (k !== 'string' && k !== 'number' && k !== 'boolean')) return `${article}${k === 'null' ? 'nothing (null)' : k}`;
    return `${article}${k} ${quote(String(this.#scalar()))}`;
  }

  #scalar(): ScalarValue {
    return this.#y !== null && isScalar(this.#y) ? (this.#y.value as ScalarValue) : undefined;
  }

  #wrongType(expected: string, hint = ''): never {
    this.fail(`expected ${expected}, got ${this.#describe()}${hint}`);
  }

  /** The keys of a mapping, checked against `allowed` (unknown keys fail, with a suggestion). */
  expectKeys(allowed: readonly string[], opts: { secrets?: readonly string[] } = {}): this {
    const ok = new Set(allowed);
    for (const s of opts.secrets ?? []) for (const k of [s, `${s}_file`, `${s}_env`]) ok.add(k);
    for (const [key, child] of this.entries()) {
      if (ok.has(key)) continue;
      const guess = closest(key, [...ok]);
      const hint = guess ? ` (did you mean '${guess}'?)` : ok.size <= 12 ? ` (allowed: ${[...ok].join(', ')})` : '';
      throw new ConfigError(this.#s.file, child.keyLine, child.path, `unknown key '${key}'${hint}`);
    }
    return this;
  }

  /** Line of this node's key (for errors about the key itself). */
  get keyLine(): number {
    return this.#keyLine ?? this.line;
  }
  #keyLine: number | undefined;

  /** True when this mapping has `key`. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The child at `key` of a mapping, or undefined when absent. An explicit `key:` (null) counts as present. */
  get(key: string): ConfigNode | undefined {
    for (const [k, child] of this.entries()) if (k === key) return child;
    return undefined;
  }

  /** The child at `key`; fails with "missing required key" when absent. */
  require(key: string): ConfigNode {
    const child = this.get(key);
    if (child === undefined) throw new ConfigError(this.#s.file, this.line, joinPath(this.path, key), 'missing required key');
    return child;
  }

  /** The entries of a mapping in file order. Fails on non-mappings, non-string keys and duplicates. */
  entries(): Array<[string, ConfigNode]> {
    const y = this.#y;
    if (y === null && this.path === '') return []; // an empty file is an empty mapping
    if (y === null || !isMap(y)) this.#wrongType('a mapping (key: value)');
    const out: Array<[string, ConfigNode]> = [];
    const seen = new Map<string, number>();
    for (const pair of y.items) {
      const keyNode = pair.key as YamlNode | null;
      const keyLine = this.#lineOf(keyNode) ?? this.line;
      const key = keyNode !== null && isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string') {
        throw new ConfigError(this.#s.file, keyLine, this.path || '(top level)', 'keys must be plain strings (quote numeric or boolean keys)');
      }
      const childPath = joinPath(this.path, key);
      const first = seen.get(key);
      if (first !== undefined) throw new ConfigError(this.#s.file, keyLine, childPath, `duplicate key (first given on line ${first})`);
      seen.set(key, keyLine);
      const valueNode = (pair.value as YamlNode | null) ?? null;
      const child = new ConfigNode(valueNode, childPath, this.#lineOf(valueNode) ?? keyLine, this.#s, isSecretKeyName(key) || this.#sensitive);
      child.#keyLine = keyLine;
      out.push([key, child]);
    }
    return out;
  }

  /** The entries of a mapping as a Map (same checks as `entries()`). */
  map(): Map<string, ConfigNode> {
    return new Map(this.entries());
  }

  /** The items of a list. */
  list(): ConfigNode[] {
    const y = this.#y;
    if (y === null || !isSeq(y)) this.#wrongType('a list');
    return y.items.map((item, i) => {
      const n = (item as YamlNode | null) ?? null;
      return new ConfigNode(n, `${this.path}[${i}]`, this.#lineOf(n) ?? this.line, this.#s, this.#sensitive);
    });
  }

  /** A list, or a single value treated as a one-item list (`listen: 127.0.0.1:53`). */
  listOrOne(): ConfigNode[] {
    return this.kind === 'list' ? this.list() : [this];
  }

  /** A string (a non-empty one unless `allowEmpty`). */
  string(opts: { allowEmpty?: boolean; maxLength?: number } = {}): string {
    const v = this.#scalar();
    if (typeof v !== 'string') this.#wrongType('a string', typeof v === 'number' ? ' (quote it to make it a string)' : '');
    if (!opts.allowEmpty && v === '') this.fail('must not be empty');
    if (opts.maxLength !== undefined && v.length > opts.maxLength) this.fail(`longer than ${opts.maxLength} characters`);
    return v;
  }

  /** A safe integer within [min, max]. Quoted numbers are strings and are rejected. */
  int(opts: { min?: number; max?: number } = {}): number {
    const v = this.#scalar();
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.#wrongType('an integer', typeof v === 'string' && /^-?\d+$/.test(v) ? ' (remove the quotes)' : '');
    }
    if (opts.min !== undefined && v < opts.min) this.fail(`must be at least ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) this.fail(`must be at most ${opts.max}, got ${v}`);
    return v;
  }

  /** `true` or `false` (YAML 1.2: `yes`/`no`/`on`/`off` are strings and are rejected with a hint). */
  bool(): boolean {
    const v = this.#scalar();
    if (typeof v !== 'boolean') {
      const hint = typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v) ? ' (write true or false)' : '';
      this.#wrongType('true or false', hint);
    }
    return v;
  }

  /** One of `values` (an `as const` tuple), typed as its union. */
  oneOf<const T extends string>(values: readonly T[]): T {
    const v = this.string();
    if ((values as readonly string[]).includes(v)) return v as T;
    const guess = closest(v, values);
    this.fail(`${quote(v)} is not one of ${values.join(' | ')}${guess ? ` (did you mean '${guess}'?)` : ''}`);
  }

  /** A duration like `300ms`, `5s`, `2m`, `1h`, `1d` or `1m30s`, in milliseconds. `0` is allowed bare. */
  duration(opts: { minMs?: number; maxMs?: number } = {}): number {
    const v = this.#scalar();
    const ms = typeof v === 'number' && v === 0 ? 0 : typeof v === 'string' ? parseDurationMs(v) : undefined;
    if (ms === undefined) {
      if (typeof v === 'number') this.fail(`${v} has no unit; write a duration like 300ms, 5s, 2m, 1h`);
      if (typeof v !== 'string') this.#wrongType('a duration like 5s');
      this.fail(`${quote(v)} is not a duration (use e.g. 300ms, 5s, 2m, 1h, 1d)`);
    }
    if (opts.minMs !== undefined && ms < opts.minMs) this.fail(`must be at least ${formatDuration(opts.minMs)}`);
    if (opts.maxMs !== undefined && ms > opts.maxMs) this.fail(`must be at most ${formatDuration(opts.maxMs)}`);
    return ms;
  }

  /** A byte size like `512KiB`, `10MB` (KB/MB/GB = 1000^n, KiB/MiB/GiB = 1024^n), or a bare integer of bytes. */
  size(opts: { minBytes?: number; maxBytes?: number } = {}): number {
    const v = this.#scalar();
    const n = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : typeof v === 'string' ? parseByteSize(v) : undefined;
    if (n === undefined) {
      if (typeof v !== 'string' && typeof v !== 'number') this.#wrongType('a size like 10MB');
      this.fail(`${quote(String(v))} is not a size (use e.g. 4096, 512KiB, 10MB)`);
    }
    if (opts.minBytes !== undefined && n < opts.minBytes) this.fail(`must be at least ${formatByteSize(opts.minBytes)}`);
    if (opts.maxBytes !== undefined && n > opts.maxBytes) this.fail(`must be at most ${formatByteSize(opts.maxBytes)}`);
    return n;
  }

  /** A TCP/UDP port number, 1–65535 (0 with `allowZero`, meaning "pick one"). */
  port(opts: { allowZero?: boolean } = {}): number {
    return this.int({ min: opts.allowZero ? 0 : 1, max: 65535 });
  }

  /** `host:port`, `[v6]:port`, or (with `defaultPort`) a bare host or bare IPv6 address. */
  hostPort(opts: { defaultPort?: number; requireIp?: boolean; allowZeroPort?: boolean } = {}): HostPort {
    const text = this.string();
    const hp = parseHostPort(text, opts.defaultPort);
    if (hp === undefined) {
      const example = opts.defaultPort === undefined ? '127.0.0.1:53 or [::1]:53' : '127.0.0.1, 127.0.0.1:53 or [::1]:53';
      this.fail(`${quote(text)} is not host:port (e.g. ${example})`);
    }
    if (hp.port === 0 && !opts.allowZeroPort) this.fail(`port 0 is not allowed in ${quote(text)}`);
    if (opts.requireIp && hp.ip === undefined) this.fail(`${quote(text)} must be an IP address, not a host name`);
    return hp;
  }

  /** An IPv4 or IPv6 address. */
  ip(): IpAddress {
    const text = this.string();
    const ip = parseIpAddress(text);
    if (ip === undefined) this.fail(`${quote(text)} is not an IP address`);
    return ip;
  }

  /** A CIDR prefix like `10.0.0.0/8` or `fd00::/8`; host bits must be zero. */
  cidr(): IpPrefix {
    const text = this.string();
    const p = parseIpPrefix(text, { strict: true });
    if (p === undefined) {
      const loose = parseIpPrefix(text);
      this.fail(loose ? `${quote(text)} has host bits set past the prefix length` : `${quote(text)} is not a CIDR prefix (e.g. 10.0.0.0/8)`);
    }
    return p;
  }

  /** An absolute URL whose scheme (without `:`) is one of `schemes`. */
  url(schemes: readonly string[]): URL {
    const text = this.string();
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      this.fail(`${quote(text)} is not a URL`);
    }
    const scheme = u.protocol.replace(/:$/, '');
    if (!schemes.includes(scheme)) this.fail(`URL scheme '${scheme}' is not allowed here (use ${schemes.join(', ')})`);
    if (u.hostname === '') this.fail(`${quote(text)} has no host`);
    return u;
  }

  /** A file path string, resolved against the config file's directory when relative. */
  filePath(): string {
    return resolvePath(this.#s.sources.baseDir, this.string());
  }

  /**
   * Reads secret `name` of this mapping by the secrets convention (`name`, `name_file` or
   * `name_env`, exactly one). Returns undefined when none is given. Never quotes the value.
   */
  secret(name: string): Secret | undefined {
    const given = [name, `${name}_file`, `${name}_env`].map((k) => [k, this.get(k)] as const).filter(([, n]) => n !== undefined);
    if (given.length === 0) return undefined;
    const [key, node] = given[0]!;
    if (given.length > 1) {
      throw new ConfigError(this.#s.file, given[1]![1]!.keyLine, given[1]![1]!.path, `give only one of ${name}, ${name}_file, ${name}_env`);
    }
    const n: ConfigNode = node!;
    if (key === name) return new Secret(n.#secretText(), 'inline');
    if (key === `${name}_env`) {
      const varName = n.string();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(varName)) n.fail(`${quote(varName)} is not an environment variable name`);
      const v = this.#s.sources.env?.[varName];
      if (v === undefined || v.trim() === '') n.fail(`environment variable ${varName} is not set or empty`);
      return new Secret(v.trim(), `env ${varName}`);
    }
    const path = n.filePath();
    const read = this.#s.sources.readFile;
    if (read === undefined) n.fail('secret files are not available here');
    let bytes: Uint8Array;
    try {
      bytes = read(path);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      n.fail(`cannot read secret file ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
    }
    if (bytes.length > MAX_SECRET_FILE_BYTES) n.fail(`secret file ${path} is larger than ${formatByteSize(MAX_SECRET_FILE_BYTES)}`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).trim();
    if (text === '') n.fail(`secret file ${path} is empty`);
    return new Secret(text, `file ${path}`);
  }

  #secretText(): string {
    const v = this.#scalar();
    if (typeof v !== 'string' || v === '') this.fail('expected a non-empty string (value not shown: secret)');
    return v;
  }

  #lineOf(n: YamlNode | null): number | undefined {
    const start = n?.range?.[0];
    return start === undefined ? undefined : this.#s.lines.linePos(start).line;
  }
}

function joinPath(parent: string, key: string): string {
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  if (parent === '') return k.startsWith('"') ? `[${k}]` : k;
  return k.startsWith('"') ? `${parent}[${k}]` : `${parent}.${k}`;
}

function isSecretKeyName(key: string): boolean {
  return /(^|_)(private_key|preshared_key|psk|password|secret|token|mesh_key)$/.test(key);
}

function quote(s: string): string {
  const cut = s.length > MAX_QUOTED_VALUE_CHARS ? `${s.slice(0, MAX_QUOTED_VALUE_CHARS)}…` : s;
  return `'${cut}'`;
}

function resolvePath(baseDir: string | undefined, p: string): string {
  if (p.startsWith('/') || baseDir === undefined) return p;
  return `${baseDir.replace(/\/+$/, '')}/${p}`;
}

