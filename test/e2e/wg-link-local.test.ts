/**
 * A peer reached at an IPv6 link-local address names the interface in its endpoint
 * (`[fe80::…%veth]:51820`), as wireguard-go accepts through `wg set`. tsplane-wg must take it over
 * UAPI, show it back, send with the right sin6_scope_id, and keep the zone when the endpoint is
 * refreshed from received packets (roaming). Peer: the real wireguard-go, over a veth pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missing } from '../support/prereq.js';
import { Netns, waitFor } from '../support/netns.js';
import { installWrapper } from '../support/tsplane-wg.js';
import { WG_PORT, WgPair } from '../support/wg-pair.js';

describe.skipIf(missing('root', 'netns', 'tun', { command: 'wg' }, { command: 'wireguard-go' }, { command: 'ping' }).length > 0)('link-local endpoints with a zone', () => {
  const h = new Netns('wgll');
  let p: WgPair;
  let endpoint = '';

  beforeAll(async () => {
    const binDir = installWrapper(h);
    p = await WgPair.create(h, binDir, 40, 'l', 'tsplane-wg', 'wireguard-go', { bKnowsA: false });
    // B's link-local address on its veth, once duplicate address detection has finished.
    let ll = '';
    await waitFor(async () => {
      const out = await h.run(p.b.ns, 'ip', ['-6', '-o', 'addr', 'show', 'dev', p.b.veth, 'scope', 'link']);
      const m = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(out);
      ll = m && !/tentative/.test(out) ? m[1]! : '';
      return ll !== '';
    }, 10_000, 100);
    if (ll === '') throw new Error('no link-local address on the veth');
    endpoint = `[${ll}%${p.a.veth}]:${WG_PORT}`;
  }, 60_000);

  afterAll(() => h.cleanup(), 30_000);

  it('accepts the zone over UAPI and shows it back', async () => {
    await p.wg(p.a, 'set', p.a.ifname, 'peer', p.b.key.publicKey, 'endpoint', endpoint);
    expect((await p.dump(p.a))[0]!.endpoint).toBe(endpoint);
  });

  it('reaches the peer through it, and keeps the zone after traffic from the peer', async () => {
    expect(await p.pingUntilUp(p.a, p.b.inner4)).toBe(true);
    expect(await p.ping(p.b, p.a.inner4, 3)).toBe(3);
    expect((await p.dump(p.a))[0]!.endpoint).toBe(endpoint);
    // wireguard-go learned A's link-local endpoint from the handshake (this version prints no zone)
    expect((await p.dump(p.b))[0]!.endpoint).toMatch(/^\[fe80::[0-9a-f:]+(%[^\]]+)?\]:51820$/);
    expect(await p.ping(p.a, p.b.inner6, 3)).toBe(3);
  }, 60_000);
});
