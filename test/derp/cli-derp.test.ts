/**
 * `tsplane derp` as a process: starts on loopback port 0, creates its key file 0600, relays,
 * answers /derp/probe, and exits 0 on SIGTERM after telling clients it is restarting.
 * `tsplane derp map` prints a DERP map; bad usage exits 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameType } from '../../src/derp/frame.js';
import { decodeRestarting } from '../../src/derp/protocol.js';
import { parseKeyFile } from '../../src/derp/key-file.js';
import { publicKeyOf } from '../../src/derp/keys.js';
import { toHex } from '../../src/runtime/bytes.js';
import { StreamDerpClient } from './support/stream-client.js';

const CLI = ['--import', 'tsx', 'src/cli/tsplane.ts'];
const dir = mkdtempSync(join(tmpdir(), 'tsp-derps-'));
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('tsplane derp (process)', () => {
  it('serves, relays, and shuts down cleanly on SIGTERM', async () => {
    const keyFile = join(dir, 'derper.key');
    child = spawn(process.execPath, [...CLI, 'derp', '--listen', '127.0.0.1:0', '--stun-listen', '127.0.0.1:0', '--key-file', keyFile, '--bootstrap-dns-names', 'localhost', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no serving line; log: ${log}`)), 20_000);
      child!.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        const m = /derper: serving on 127\.0\.0\.1:(\d+)/.exec(log);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code}: ${log}`)));
    });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = parseKeyFile(readFileSync(keyFile, 'utf8'));
    expect(key.ok).toBe(true);
    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/derp/probe`)).status).toBe(200);
    let bootstrap: Record<string, string[]> = {};
    for (let i = 0; i < 50 && bootstrap['localhost'] === undefined; i++) {
      bootstrap = await (await fetch(`${url}/bootstrap-dns`)).json() as Record<string, string[]>;
      if (bootstrap['localhost'] === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(bootstrap['localhost']).toContain('127.0.0.1');
    const a = await StreamDerpClient.connect(url);
    const b = await StreamDerpClient.connect(url);
    expect(key.ok && toHex(a.serverKey!)).toBe(key.ok && toHex(publicKeyOf(key.privateKey)));
    a.sendPacket(b.pub, Uint8Array.of(1, 2));
    expect((await b.nextOfType(FrameType.RecvPacket)).payload.length).toBe(34);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    process.kill(child.pid!, 'SIGTERM');
    const restarting = decodeRestarting((await a.nextOfType(FrameType.Restarting)).payload);
    expect(restarting.ok).toBe(true);
    expect(await exited).toBe(0);
    a.close();
    b.close();
  }, 40_000);

  it('prints a DERP map, and exits 2 on bad usage', () => {
    const ok = spawnSync(process.execPath, [...CLI, 'derp', 'map', '--region-id', '999', '--region-code', 'home', '--hostname', 'derp.example.com', '--derp-port', '8443'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const map = JSON.parse(ok.stdout) as { Regions: Record<string, { Nodes: { HostName: string; DERPPort: number }[] }> };
    expect(map.Regions['999']!.Nodes[0]).toMatchObject({ HostName: 'derp.example.com', DERPPort: 8443 });
    const bad = spawnSync(process.execPath, [...CLI, 'derp', '--listen', 'nonsense'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--listen');
    const badName = spawnSync(process.execPath, [...CLI, 'derp', '--bootstrap-dns-names', 'ok.example,not a name'], { encoding: 'utf8' });
    expect(badName.status).toBe(2);
    expect(badName.stderr).toContain('not a hostname');
  }, 40_000);
});
