/** `tsplane check CONFIG` as a command: exit codes and messages (spawns the CLI through tsx). */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfigPath } from '../../src/cli/run.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), `tsp-run-check-${process.pid}-`));

function tsplane(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/tsplane.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tsplane check', () => {
  it('exits 0 for the embedded default and says what it would run', async () => {
    const r = await tsplane(['check', defaultConfigPath()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok: .*derp 127\.0\.0\.1:3340 \+ stun 127\.0\.0\.1:3478; dns 127\.0\.0\.1:5353; metrics 127\.0\.0\.1:9090/);
  }, 30_000);

  it('exits 1 naming file, line and key; a secret value never appears', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'derp:\n  listen: 127.0.0.1:0\n  mesh_key_env: MESH\n');
    const r = await tsplane(['check', file], { MESH: 'topsecret-mesh-value' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:3: derp.mesh_key_env:`);
    expect(r.stderr + r.stdout).not.toContain('topsecret-mesh-value');
  }, 30_000);

  it('exits 1 for a missing file and 2 for usage errors', async () => {
    expect((await tsplane(['check', join(dir, 'nope.yaml')])).code).toBe(1);
    expect((await tsplane(['check'])).code).toBe(2);
  }, 30_000);

  it('tsplane run refuses an invalid file before starting anything (exit 1)', async () => {
    const file = join(dir, 'bad-run.yaml');
    writeFileSync(file, 'dns:\n  listen: 127.0.0.1:0\n  upstreams: {}\n');
    const r = await tsplane(['run', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:3: dns.upstreams:`);
  }, 30_000);
});
