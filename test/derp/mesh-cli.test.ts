/**
 * Two `tsplane derp` processes meshed with the same --mesh-psk-file and --mesh-with each other
 * (and themselves, which must be detected), on loopback: a client on relay 1 and a client on
 * relay 2 exchange packets both ways, `tsplane derp check` passes against each, and relay 1's
 * STUN responder answers. Bounded in time; processes are killed by PID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemRng } from '../../src/runtime/rng.js';
import { toHex } from '../../src/runtime/bytes.js';
import { generateNodePrivateKey } from '../../src/derp/protocol.js';
import { DerpClient } from '../../src/derp/io/client.js';
import { createBindingRequest, parseBindingResponse } from '../../src/derp/stun.js';
import { formatIp } from '../../src/derp/ip-address.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const rng = new SystemRng();

/** A currently free loopback TCP port (bind 0, read, release). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Relay {
  readonly proc: ChildProcess;
  readonly url: string;
  log: string;
  stunPort?: number;
}

function startRelay(port: number, meshWith: string[], meshKeyFile: string): Promise<Relay> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/tsplane.ts', 'derp', '--listen', `127.0.0.1:${port}`, '--stun-listen', '127.0.0.1:0',
      '--mesh-psk-file', meshKeyFile, '--mesh-with', meshWith.join(','), '--log-level', 'info'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const relay: Relay = { proc, url: `http://127.0.0.1:${port}/derp`, log: '' };
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`relay on ${port} did not start:\n${relay.log}`)), 20_000);
    const onData = (d: Buffer): void => {
      relay.log += d.toString();
      const stun = /STUN server listening on [0-9.]+:(\d+)/.exec(relay.log);
      if (stun) relay.stunPort = Number(stun[1]);
      if (relay.log.includes('serving on') && relay.stunPort !== undefined) {
        clearTimeout(t);
        resolve(relay);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`relay exited with ${code}:\n${relay.log}`)));
  });
}

function runCheck(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/tsplane.ts', 'derp', 'check', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`derp check timed out\n${out}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

let dir: string;
let r1: Relay | undefined;
let r2: Relay | undefined;
const clients: DerpClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsp-derpc-meshcli-'));
  const keyFile = join(dir, 'mesh.key');
  writeFileSync(keyFile, `${toHex(rng.fill(new Uint8Array(32)))}\n`);
  const [p1, p2] = [await freePort(), await freePort()];
  const urls = [`http://127.0.0.1:${p1}/derp`, `http://127.0.0.1:${p2}/derp`];
  [r1, r2] = await Promise.all([startRelay(p1, urls, keyFile), startRelay(p2, urls, keyFile)]);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const r of [r1, r2]) {
    if (r?.proc.pid !== undefined && r.proc.exitCode === null) {
      const exited = new Promise((res) => r.proc.once('exit', res));
      process.kill(r.proc.pid, 'SIGKILL');
      await exited;
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('tsplane derp, two meshed relays (processes)', () => {
  it('relays packets between a client of relay 1 and a client of relay 2, both ways', async () => {
    const a = new DerpClient({ url: r1!.url, privateKey: generateNodePrivateKey(rng) });
    const b = new DerpClient({ url: r2!.url, privateKey: generateNodePrivateKey(rng) });
    clients.push(a, b);
    await Promise.all([a.connect(), b.connect()]);
    const exchange = async (from: DerpClient, to: DerpClient, byte: number): Promise<string> => {
      const got = new Promise<string>((resolve) => {
        const off = to.onPacket((src, data) => {
          if (data[0] !== byte) return;
          off();
          resolve(toHex(src));
        });
      });
      // The route appears once the relays' mesh watchers have seen the other client.
      for (let i = 0; i < 100; i++) {
        from.sendPacket(to.publicKey, Uint8Array.of(byte, i));
        const r = await Promise.race([got, new Promise<undefined>((res) => setTimeout(() => res(undefined), 100))]);
        if (r !== undefined) return r;
      }
      throw new Error(`no packet crossed the mesh\nrelay1:\n${r1!.log}\nrelay2:\n${r2!.log}`);
    };
    expect(await exchange(a, b, 0xab)).toBe(toHex(a.publicKey));
    expect(await exchange(b, a, 0xba)).toBe(toHex(b.publicKey));
    expect(r1!.log).toMatch(/self-connect/);
  });

  it('passes derp check against both relays', async () => {
    for (const r of [r1!, r2!]) {
      const res = await runCheck([r.url, '--ws', '--mesh-key-file', join(dir, 'mesh.key'), '--count', '3']);
      expect(res.code, res.out).toBe(0);
      expect(res.out).toMatch(/^9 passed, 0 failed$/m);
    }
  });

  it('answers a STUN binding request on the relay STUN port', async () => {
    const sock = createSocket('udp4');
    try {
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const got = new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no STUN reply')), 3000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
      sock.send(createBindingRequest(rng.fill(new Uint8Array(12))), r1!.stunPort!, '127.0.0.1');
      const resp = parseBindingResponse(new Uint8Array(await got));
      expect(resp.type).toBe('bindingResponse');
      if (resp.type === 'bindingResponse') {
        expect(formatIp(resp.address.ip)).toBe('127.0.0.1');
        expect(resp.address.port).toBe(sock.address().port);
      }
    } finally {
      sock.close();
    }
  });
});
