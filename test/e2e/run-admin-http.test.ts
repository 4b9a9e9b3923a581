/** The admin listener alone, on loopback: /healthz status follows the services, /metrics concatenates registries. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminHttp, type AdminHttp, type ServiceHealth } from '../../src/runtime/http-admin.js';
import { createLogger } from '../../src/runtime/log.js';
import { Counter, createRegistry } from '../../src/runtime/metrics.js';

describe('admin http', () => {
  let admin: AdminHttp;
  let services: Record<string, ServiceHealth> = {};
  const a = createRegistry();
  const b = createRegistry();
  new Counter({ name: 'tsplane_test_a_total', help: 'a', registers: [a] }).inc(3);
  new Counter({ name: 'tsplane_test_b_total', help: 'b', registers: [b] }).inc(5);
  const url = (p: string) => `http://127.0.0.1:${admin.address.port}${p}`;

  beforeAll(async () => {
    admin = await startAdminHttp({ listen: { host: '127.0.0.1', port: 0 }, registries: () => [a, b], health: () => services, logger: createLogger({ level: 'silent', pretty: false }) });
  });
  afterAll(() => admin.close());

  it('/metrics serves every registry', async () => {
    const text = await (await fetch(url('/metrics'))).text();
    expect(text).toMatch(/^tsplane_test_a_total 3$/m);
    expect(text).toMatch(/^tsplane_test_b_total 5$/m);
  });
  it('/healthz is 200 only when every service is healthy', async () => {
    services = { derp: { healthy: true }, dns: { healthy: true } };
    expect((await fetch(url('/healthz'))).status).toBe(200);
    services = { derp: { healthy: true }, dns: { healthy: false, detail: { reason: 'forwarder not running' } } };
    const res = await fetch(url('/healthz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ healthy: false, services });
  });
  it('answers 404 for other paths and 405 for other methods', async () => {
    expect((await fetch(url('/nope'))).status).toBe(404);
    expect((await fetch(url('/metrics'), { method: 'POST' })).status).toBe(405);
  });
});
