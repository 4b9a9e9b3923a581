/**
 * Both commands answer `--version` (as `wireguard-go --version` does) with the package's
 * version and exit 0; `tsplane` without a command prints its usage and exits 2.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const cli = (file: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli', file), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });

describe('--version', () => {
  it('tsplane --version and tsplane version print the package version', () => {
    for (const arg of ['--version', 'version']) {
      const r = cli('tsplane.ts', [arg]);
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`tsplane v${pkg.version}`);
    }
  }, 60_000);
  it('tsplane-wg --version prints the version and does not start a daemon', () => {
    const r = cli('tsplane-wg.ts', ['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^tsplane-wg v${pkg.version.replace(/\./g, '\\.')}\\n\\nUserspace WireGuard daemon for `));
  }, 30_000);
  it('tsplane without a command prints its usage and exits 2', () => {
    const r = cli('tsplane.ts', []);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('usage: tsplane <command>');
  }, 30_000);
});
