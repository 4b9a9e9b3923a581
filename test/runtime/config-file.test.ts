import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, ConfigNode, closest, loadConfigFile, parseConfigText, parseHostPort, Secret } from '../../src/runtime/config-file.js';
import { formatDuration, parseByteSize, parseDurationMs } from '../../src/runtime/config-values.js';

/** Runs `fn` and returns the ConfigError it throws (fails the test if it throws anything else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const FILE = 'test.yaml';
const parse = (text: string, sources = {}): ConfigNode => parseConfigText(text, FILE, sources);

describe('parseConfigText: structure and positions', () => {
  const doc = parse(['dns:', '  upstreams:', '    - address: 127.0.0.1:53', '    - address: "[::1]:5353"', '      timeout: 2s', 'name: x'].join('\n'));

  it('gives key paths and 1-based lines for nested values', () => {
    const ups = doc.require('dns').require('upstreams').list();
    expect(ups).toHaveLength(2);
    const addr = ups[1]!.require('address');
    expect(addr.path).toBe('dns.upstreams[1].address');
    expect(addr.line).toBe(4);
    expect(ups[1]!.require('timeout').duration()).toBe(2000);
    expect(doc.require('name').line).toBe(6);
  });

  it('quotes keys that are not identifiers in paths', () => {
    const d = parse('routes:\n  home.lan: internal\n');
    const [[key, node]] = d.require('routes').entries() as [[string, ConfigNode]];
    expect(key).toBe('home.lan');
    expect(node.path).toBe('routes["home.lan"]');
    expect(node.line).toBe(2);
  });

  it('treats an empty file as an empty mapping', () => {
    expect(parse('').entries()).toEqual([]);
    expect(parse('# just a comment\n').get('x')).toBeUndefined();
  });
});

describe('ConfigError for every kind of mistake names file, line and key', () => {
  const cases: Array<{ name: string; text: string; run: (root: ConfigNode) => unknown; line: number | undefined; key: string; problem: RegExp }> = [
    { name: 'missing required key', text: 'dns:\n  cache: {}\n', run: (r) => r.require('dns').require('upstreams'), line: 2, key: 'dns.upstreams', problem: /missing required key/ },
    { name: 'wrong type (list for string)', text: 'a:\n  name: [1, 2]\n', run: (r) => r.require('a').require('name').string(), line: 2, key: 'a.name', problem: /expected a string, got a list/ },
    { name: 'wrong type (quoted number)', text: 'port: "53"\n', run: (r) => r.require('port').port(), line: 1, key: 'port', problem: /remove the quotes/ },
    { name: 'wrong type (yes for bool)', text: 'x: 1\nenabled: yes\n', run: (r) => r.require('enabled').bool(), line: 2, key: 'enabled', problem: /write true or false/ },
    { name: 'unknown key with a suggestion', text: 'upstream:\n  adress: 1.2.3.4\n', run: (r) => r.require('upstream').expectKeys(['address', 'timeout']), line: 2, key: 'upstream.adress', problem: /unknown key 'adress' \(did you mean 'address'\?\)/ },
    { name: 'unknown key, no close match', text: 'a: 1\nzzzzzz: 2\n', run: (r) => r.expectKeys(['a', 'b']), line: 2, key: 'zzzzzz', problem: /allowed: a, b/ },
    { name: 'duplicate key', text: 'a: 1\nb: 2\na: 3\n', run: (r) => r.entries(), line: 3, key: 'a', problem: /duplicate key \(first given on line 1\)/ },
    { name: 'port out of range', text: 'p: 70000\n', run: (r) => r.require('p').port(), line: 1, key: 'p', problem: /at most 65535/ },
    { name: 'bad host:port', text: '\n\nlisten: "127.0.0.1:99999"\n', run: (r) => r.require('listen').hostPort(), line: 3, key: 'listen', problem: /not host:port/ },
    { name: 'host:port without port', text: 'listen: 127.0.0.1\n', run: (r) => r.require('listen').hostPort(), line: 1, key: 'listen', problem: /not host:port/ },
    { name: 'host name where an IP is required', text: 'u: dns.example:53\n', run: (r) => r.require('u').hostPort({ requireIp: true }), line: 1, key: 'u', problem: /must be an IP address/ },
    { name: 'bad duration', text: 'timeout: 5x\n', run: (r) => r.require('timeout').duration(), line: 1, key: 'timeout', problem: /not a duration/ },
    { name: 'duration without unit', text: 'timeout: 5\n', run: (r) => r.require('timeout').duration(), line: 1, key: 'timeout', problem: /has no unit/ },
    { name: 'bad size', text: 'max: 10XB\n', run: (r) => r.require('max').size(), line: 1, key: 'max', problem: /not a size/ },
    { name: 'size too big', text: 'max: 2GB\n', run: (r) => r.require('max').size({ maxBytes: 1024 ** 3 }), line: 1, key: 'max', problem: /at most 1 GiB/ },
    { name: 'bad CIDR', text: 'net: 10.0.0.0/33\n', run: (r) => r.require('net').cidr(), line: 1, key: 'net', problem: /not a CIDR/ },
    { name: 'CIDR with host bits', text: 'net: 10.1.0.0/8\n', run: (r) => r.require('net').cidr(), line: 1, key: 'net', problem: /host bits/ },
    { name: 'bad URL', text: 'u: "not a url"\n', run: (r) => r.require('u').url(['https']), line: 1, key: 'u', problem: /not a URL/ },
    { name: 'URL with wrong scheme', text: 'u: ftp://x.example/list\n', run: (r) => r.require('u').url(['http', 'https']), line: 1, key: 'u', problem: /scheme 'ftp' is not allowed/ },
    { name: 'enum typo', text: 'mode: nxdomian\n', run: (r) => r.require('mode').oneOf(['null_ip', 'nxdomain', 'refused'] as const), line: 1, key: 'mode', problem: /did you mean 'nxdomain'/ },
    { name: 'non-string key', text: '53: x\n', run: (r) => r.entries(), line: 1, key: '(top level)', problem: /keys must be plain strings/ },
    { name: 'YAML syntax error (indentation)', text: 'a:\n  b: 1\n c: 2\n', run: () => undefined, line: 3, key: '(yaml)', problem: /YAML syntax: All mapping items/ },
    { name: 'YAML syntax error (compact mapping)', text: 'a: 1\nb: x: y\nc: 2\n', run: () => undefined, line: 2, key: '(yaml)', problem: /YAML syntax/ },
    { name: 'YAML syntax error (tab indentation)', text: 'a: 1\n\tb: 2\n', run: () => undefined, line: 2, key: '(yaml)', problem: /Tabs/ },
    { name: 'alias', text: 'a: &x [1]\nb: *x\n', run: () => undefined, line: 1, key: '(yaml)', problem: /anchors and aliases/ },
    { name: 'multiple documents', text: 'a: 1\n---\nb: 2\n', run: () => undefined, line: 2, key: '(yaml)', problem: /multiple documents/ },
    { name: 'unresolved tag', text: 'a: !secret x\n', run: () => undefined, line: 1, key: '(yaml)', problem: /Unresolved tag/ },
    { name: 'int below minimum', text: 'n: -1\n', run: (r) => r.require('n').int({ min: 0 }), line: 1, key: 'n', problem: /at least 0/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const err = configError(() => c.run(parse(c.text)));
      expect(err.code).toBe('CONFIG_ERR_INVALID');
      expect(err.file).toBe(FILE);
      expect(err.line).toBe(c.line);
      expect(err.key).toBe(c.key);
      expect(err.message).toMatch(c.problem);
      expect(err.message.startsWith(`${FILE}:${c.line}: ${c.key}: `)).toBe(true);
    });
  }
});

describe('typed accessors', () => {
  it('parses durations and sizes with units', () => {
    expect(parseDurationMs('300ms')).toBe(300);
    expect(parseDurationMs('2m')).toBe(120_000);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('1d')).toBe(86_400_000);
    for (const bad of ['', '5', 's', '5 s', '-5s', '5sec', '1h 30m']) expect(parseDurationMs(bad), bad).toBeUndefined();
    expect(parseByteSize('10MB')).toBe(10_000_000);
    expect(parseByteSize('512KiB')).toBe(524_288);
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('1M')).toBe(1_048_576);
    expect(parseByteSize('10XB')).toBeUndefined();
    for (const ms of [0, 1, 250, 1000, 60_000, 5_400_000, 90_061_001]) expect(parseDurationMs(formatDuration(ms))).toBe(ms);
  });

  it('parses host:port forms', () => {
    expect(parseHostPort('127.0.0.1:53')).toMatchObject({ host: '127.0.0.1', port: 53, ip: { family: 4 } });
    expect(parseHostPort('[::1]:5353')).toMatchObject({ host: '::1', port: 5353, ip: { family: 6 } });
    expect(parseHostPort('::1', 53)).toMatchObject({ host: '::1', port: 53 });
    expect(parseHostPort('Dns.Example:853')).toMatchObject({ host: 'dns.example', port: 853, ip: undefined });
    expect(parseHostPort('127.0.0.1', 53)?.port).toBe(53);
    for (const bad of ['', ':53', '1.2.3.4:', '[1.2.3.4]:53', 'a b:53', '[::1]x', '1.2.3.4:053', 'x_y:1']) expect(parseHostPort(bad, 53), bad).toBeUndefined();
  });

  it('accepts a single value where a list is allowed', () => {
    const r = parse('a: 127.0.0.1:53\nb: [1, 2]\n');
    expect(r.require('a').listOrOne().map((n) => n.string())).toEqual(['127.0.0.1:53']);
    expect(r.require('b').listOrOne().map((n) => n.int())).toEqual([1, 2]);
  });

  it('suggests only near misses', () => {
    expect(closest('upstrems', ['upstreams', 'routes'])).toBe('upstreams');
    expect(closest('zzz', ['upstreams', 'routes'])).toBeUndefined();
  });
});

describe('secrets: NAME, NAME_file or NAME_env, exactly one', () => {
  const files: Record<string, string> = { '/etc/tsplane/key': 'c2VjcmV0LWtleQ==\n' };
  const sources = { env: { WG_KEY: 'from-env' }, readFile: (p: string) => { const t = files[p]; if (t === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' }); return new TextEncoder().encode(t); }, baseDir: '/etc/tsplane' };

  it('reads a secret from a file (relative to the config directory) and trims the newline', () => {
    const s = parse('private_key_file: key\n', sources).secret('private_key');
    expect(s?.reveal()).toBe('c2VjcmV0LWtleQ==');
    expect(s?.source).toBe('file /etc/tsplane/key');
  });

  it('reads a secret from the environment and inline', () => {
    expect(parse('private_key_env: WG_KEY\n', sources).secret('private_key')?.reveal()).toBe('from-env');
    expect(parse('private_key: inline-value\n', sources).secret('private_key')?.reveal()).toBe('inline-value');
    expect(parse('a: 1\n', sources).secret('private_key')).toBeUndefined();
  });

  it('never shows the value in string, JSON or inspect forms', () => {
    const s = new Secret('hunter2', 'inline');
    expect(String(s)).toBe('[redacted]');
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(inspect(s)).not.toContain('hunter2');
  });

  it('rejects two sources at once, naming the second key', () => {
    const err = configError(() => parse('private_key: a\nprivate_key_env: WG_KEY\n', sources).secret('private_key'));
    expect(err).toMatchObject({ line: 2, key: 'private_key_env' });
    expect(err.message).not.toContain('from-env');
  });

  it('names the file, line and key when a secret file or variable is missing', () => {
    expect(configError(() => parse('x: 1\nprivate_key_file: nothere\n', sources).secret('private_key'))).toMatchObject({ line: 2, key: 'private_key_file' });
    const e = configError(() => parse('private_key_env: NOPE\n', sources).secret('private_key'));
    expect(e.message).toMatch(/NOPE is not set/);
  });

  it('does not quote secret values in type errors', () => {
    const err = configError(() => parse('psk: 12345678\n', sources).require('psk').string());
    expect(err.message).not.toContain('12345678');
  });

  it('allows NAME_file and NAME_env through expectKeys when NAME is declared secret', () => {
    expect(() => parse('private_key_file: key\nlisten: 1\n').expectKeys(['listen'], { secrets: ['private_key'] })).not.toThrow();
  });
});

describe('loadConfigFile', () => {
  it('reads a file, resolves secret files next to it and reports the path in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsp-dnsf-cfg-'));
    try {
      writeFileSync(join(dir, 'psk'), 'abc\n');
      writeFileSync(join(dir, 'c.yaml'), 'psk_file: psk\nport: nope\n');
      const root = loadConfigFile(join(dir, 'c.yaml'));
      expect(root.secret('psk')?.reveal()).toBe('abc');
      const err = configError(() => root.require('port').port());
      expect(err).toMatchObject({ file: join(dir, 'c.yaml'), line: 2, key: 'port' });
      expect(() => loadConfigFile(join(dir, 'missing.yaml'))).toThrow(expect.objectContaining({ code: 'CONFIG_ERR_INVALID', key: '(file)' }));
      expect([...root.map().keys()]).toEqual(['psk_file', 'port']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('robustness', () => {
  it('never throws anything but ConfigError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          const r = parseConfigText(text, FILE);
          if (r.kind === 'map') for (const [, n] of r.entries()) void n.kind;
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
