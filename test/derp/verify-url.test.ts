/**
 * `--verify-client-url` against a local admission controller on 127.0.0.1 (port 0): the request
 * body derper sends, allow/deny, fail-open and fail-closed when the controller is unreachable,
 * and oversized answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatNodePublicKey, generateNodePrivateKey, publicKeyOf } from '../../src/derp/protocol.js';
import { startDerpServer, type RunningDerpServer } from '../../src/derp/io/service.js';
import { createUrlVerifier } from '../../src/derp/io/verify-url.js';
import { SystemClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/log.js';
import { SystemRng } from '../../src/runtime/rng.js';
import { StreamDerpClient } from './support/stream-client.js';

const rng = new SystemRng();
const allowed = generateNodePrivateKey(rng);
const allowedPub = publicKeyOf(allowed);
const seen: unknown[] = [];
let controller: Server;
let controllerUrl: string;
let mode: 'normal' | 'big' | 'error' = 'normal';

beforeAll(async () => {
  controller = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { NodePublic: string; Source: string };
      seen.push(parsed);
      if (mode === 'error') {
        res.writeHead(500).end();
        return;
      }
      if (mode === 'big') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Allow: true, pad: 'x'.repeat(5000) }));
        return;
      }
      const allow = parsed.NodePublic === formatNodePublicKey(allowedPub);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Allow: allow }));
    });
  });
  await new Promise<void>((resolve) => controller.listen(0, '127.0.0.1', () => resolve()));
  controllerUrl = `http://127.0.0.1:${(controller.address() as AddressInfo).port}/verify`;
});
afterAll(async () => {
  for (const r of running) await r.close();
  await new Promise<void>((resolve) => controller.close(() => resolve()));
});

const running: RunningDerpServer[] = [];
async function start(failOpen?: boolean, url = controllerUrl): Promise<RunningDerpServer> {
  const srv = await startDerpServer({
    listen: { host: '127.0.0.1', port: 0 }, privateKey: generateNodePrivateKey(rng), verifyClientUrl: url,
    ...(failOpen !== undefined ? { verifyClientUrlFailOpen: failOpen } : {}),
  }, { clock: new SystemClock(), rng, logger: createLogger({ level: 'silent', pretty: false }) });
  running.push(srv);
  return srv;
}

describe('verify-client URL', () => {
  it('admits what the controller allows and refuses the rest, posting NodePublic and Source', async () => {
    mode = 'normal';
    const srv = await start();
    const ok = await StreamDerpClient.connect(srv.url, { priv: allowed });
    await expect(StreamDerpClient.connect(srv.url)).rejects.toThrow();
    expect(seen).toContainEqual({ NodePublic: formatNodePublicKey(allowedPub), Source: '127.0.0.1' });
    ok.close();
    expect(srv.core.stats.rejectedClients).toBe(1n);
  });

  it('fails open by default and closed when asked, when the controller errors or is unreachable', async () => {
    mode = 'error';
    const open = await start();
    (await StreamDerpClient.connect(open.url)).close();
    const closed = await start(false);
    await expect(StreamDerpClient.connect(closed.url)).rejects.toThrow();
    const unreachable = await start(false, 'http://127.0.0.1:1/verify');
    await expect(StreamDerpClient.connect(unreachable.url)).rejects.toThrow();
  });

  it('treats an answer over 4 KiB as a failure', async () => {
    mode = 'big';
    const verify = createUrlVerifier({ url: controllerUrl, failOpen: false });
    const r = await verify(allowedPub, { ip: '127.0.0.1', port: 1 });
    expect(r.allow).toBe(false);
  });
});
