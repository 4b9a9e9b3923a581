/**
 * `tsplane derp check` as a separate process (the real CLI entry) against a running relay
 * (and a dead URL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../src/runtime/bytes.js';
import { makeSelfSignedCert, startRelay, type TestRelay } from './support/relay.js';
import { parseCheckArgs } from '../../src/cli/derp-check.js';
import { missing } from '../support/prereq.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const MESH_KEY = new Uint8Array(32).fill(0x3c);

/** Runs the check in a child process (bounded to 30 s); returns its exit code and stdout. */
function runCheck(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/tsplane.ts', 'derp', 'check', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`derp check did not finish in 30 s\n${out}\n${err}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out: out + err });
    });
  });
}

let relay: TestRelay;
let tlsRelay: TestRelay | undefined;
let dir: string;
let certFile: string;
const haveOpenssl = missing({ command: 'openssl' }).length === 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsp-derpc-check-'));
  writeFileSync(join(dir, 'mesh.key'), `${toHex(MESH_KEY)}\n`);
  relay = await startRelay({ meshKey: MESH_KEY });
  if (haveOpenssl) {
    const cert = makeSelfSignedCert();
    certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, cert.cert);
    tlsRelay = await startRelay({ tls: cert });
  }
});
afterAll(async () => {
  await relay?.close();
  await tlsRelay?.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectAllPass(out: string, n: number): void {
  const lines = out.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('PASS'))).toHaveLength(n);
  expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
  expect(lines.at(-1)).toBe(`${n} passed, 0 failed`);
}

describe('tsplane derp check', () => {
  it('passes every check against a running relay, including watch conns with the mesh key', async () => {
    const r = await runCheck([relay.url, '--ws', '--mesh-key-file', join(dir, 'mesh.key'), '--count', '5']);
    expect(r.code, r.out).toBe(0);
    expectAllPass(r.out, 9);
    expect(r.out).toMatch(/PASS packet round trip A -> B -> A: 5 round trips, p50 [0-9.]+ ms/);
  });

  it('passes every check over Upgrade: DERP with the mesh key, so "peer gone" arrives promptly on client FIN', async () => {
    const r = await runCheck([relay.url, '--mesh-key-file', join(dir, 'mesh.key'), '--count', '3', '--timeout-ms', '5000']);
    expect(r.code, r.out).toBe(0);
    expectAllPass(r.out, 9);
  });

  it('passes over Upgrade: DERP without a mesh key', async () => {
    const r = await runCheck([relay.url, '--count', '3']);
    expect(r.code, r.out).toBe(0);
    expectAllPass(r.out, 6);
  });

  it.skipIf(!haveOpenssl)('passes over TLS with --ca-file', async () => {
    const r = await runCheck([tlsRelay!.url, '--ca-file', certFile, '--count', '3']);
    expect(r.code, r.out).toBe(0);
    expectAllPass(r.out, 6);
  });

  it('fails (exit 1) against a dead URL and says so on every line', async () => {
    const dead = await startRelay();
    const url = dead.url;
    await dead.close();
    const r = await runCheck([url, '--timeout-ms', '2000']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FAIL connect client A: /m);
    expect(r.out.trim().split('\n').at(-1)).toBe('0 passed, 6 failed');
  });

  it('exits 2 on bad usage', async () => {
    const r = await runCheck(['--bogus']);
    expect(r.code).toBe(2);
  });
});

describe('derp check arguments', () => {
  it('parses URL and options, and rejects bad usage with a reason', () => {
    expect(parseCheckArgs(['http://127.0.0.1:1/derp', '--ws', '--count', '7', '--timeout-ms', '900', '--insecure'])).toEqual({
      url: 'http://127.0.0.1:1/derp', ws: true, tls: { insecureSkipVerify: true }, count: 7, timeoutMs: 900,
    });
    expect(parseCheckArgs([])).toBe('missing URL');
    expect(parseCheckArgs(['a', 'b'])).toBe('unexpected argument b');
    expect(parseCheckArgs(['a', '--count', '0'])).toBe('--count needs a positive integer');
    expect(parseCheckArgs(['a', '--mesh-key-file'])).toBe('--mesh-key-file needs a file');
    expect(parseCheckArgs(['a', '--mesh-key-file', '/nonexistent/tsp-derpc'])).toMatch(/^--mesh-key-file: /);
    expect(parseCheckArgs(['--help'])).toBe('');
  });

  it('rejects a mesh key file that is not 64 hex digits', () => {
    const f = join(dir, 'bad.key');
    writeFileSync(f, 'abcd\n');
    expect(parseCheckArgs(['a', '--mesh-key-file', f])).toMatch(/not 64 hex digits/);
    expect(parseCheckArgs(['a', '--mesh-key-file', join(dir, 'mesh.key')])).toMatchObject({ meshKey: MESH_KEY });
  });
});
