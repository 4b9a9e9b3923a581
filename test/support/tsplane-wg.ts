/**
 * Helpers for e2e tests that run the `tsplane-wg` daemon: a wrapper script named `tsplane-wg`
 * in a temp dir (so `wg-quick` finds it on PATH via WG_QUICK_USERSPACE_IMPLEMENTATION), key
 * generation with the stock `wg`, and finding a daemon's PID inside a namespace.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Netns } from './netns.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Writes `DIR/tsplane-wg` running the TypeScript sources through tsx (always the current
 * code, no build step) or the build in dist/. Returns the directory; it is removed by the harness cleanup.
 */
export function installWrapper(h: Netns, opts: { dist?: boolean } = {}): string {
  const dir = mkdtempSync('/tmp/tsp-wgio-bin-');
  h.removeLater(dir);
  chmodSync(dir, 0o755); // an unprivileged user must be able to run it too
  const script = join(dir, 'tsplane-wg');
  // --import tsx resolves from the working directory, hence the cd. `dist` runs the build output
  // (what `npm install -g` would put on PATH), for benchmarks.
  const run = opts.dist ? `'${join(ROOT, 'dist/src/cli/tsplane-wg.js')}'` : '--import tsx src/cli/tsplane-wg.ts';
  writeFileSync(script, `#!/bin/sh\ncd '${ROOT}' && exec '${process.execPath}' ${run} "$@"\n`);
  chmodSync(script, 0o755);
  return dir;
}

export interface KeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** A fresh key pair in base64, from the stock `wg`. */
export function genKeyPair(): KeyPair {
  const privateKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  const publicKey = execFileSync('wg', ['pubkey'], { input: privateKey, encoding: 'utf8' }).trim();
  return { privateKey, publicKey };
}

export function genPsk(): string {
  return execFileSync('wg', ['genpsk'], { encoding: 'utf8' }).trim();
}

/** The PID of the process in `ns` whose command line names `needle` and `ifname`, if any. */
export function daemonPid(h: Netns, ns: string, needle: string, ifname: string): number | undefined {
  for (const pid of h.pids(ns)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.includes(needle)) && argv.includes(ifname)) return pid;
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}
